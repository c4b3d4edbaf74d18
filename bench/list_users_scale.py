"""list_users at scale, at Iterable's REAL limits: one users export against one getUsers call per list.

    .venv/bin/python bench/list_users_scale.py --lists 5000 --users 200000 --dynamic 3
    .venv/bin/python bench/list_users_scale.py --lists 5000 --users 1000000 --dynamic 3 --only auto   # memory

The fake server (its own process) generates USERS profiles on LISTS lists, DYNAMIC of them dynamic, one
Suppression and one Internal (``fake_iterable/scaled_lists.py``: list sizes on a long tail, profiles in a
scrambled order, getUsers bodies in a new order each call), and enforces the real limits: getUsers 5 a
minute, data.json 4 a minute, export jobs 1 call a second, 4 jobs at once, a few seconds of job latency
plus 20 us a row, files of at most ``--file-mb``. The connector reads list_users twice:

- ``auto``: the static lists from one users export (an export job), the dynamic ones from getUsers;
- ``get_users``: every list through getUsers, stopped with SIGTERM after ``--cutoff`` seconds; its total
  is projected from the rate it reached.

The records are compared for every list the get_users run finished. Prints wall time, getUsers calls,
export jobs and their files and bytes, records, peak RSS, and the ratio of the two wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, console_script, fake_server, server_stats

CATALOG = {
    "streams": [
        {
            "stream": {
                "name": "list_users",
                "json_schema": {"type": "object"},
                "supported_sync_modes": ["full_refresh"],
            },
            "sync_mode": "full_refresh",
            "destination_sync_mode": "overwrite",
        }
    ]
}
GET_USERS_PER_MINUTE = 5


@dataclass
class Outcome:
    source: str
    seconds: float
    stopped: bool  # cut off by the benchmark
    returncode: int
    peak_rss_mb: float
    get_users_calls: int
    stats: dict[str, Any]
    jobs: list[dict[str, Any]]  # the fake's record of each export job (rows, files, bytes)
    output: Path  # what the connector printed


@dataclass
class Printed:
    members: dict[int, set[str]]  # list id -> its members as printed (only the lists asked for)
    lists: int
    records: int
    jobs_line: str  # the connector's own "export jobs: ..." summary


def control(base_url: str, path: str) -> None:
    request = urllib.request.Request(f"{base_url}{path}", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def export_jobs(base_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base_url}/_control/jobs", timeout=30) as response:
        jobs: list[dict[str, Any]] = json.loads(response.read())["jobs"]
        return jobs


def run(base_url: str, source: str, cutoff: float | None, env: dict[str, str], folder: Path) -> Outcome:
    """One read of list_users; its output is parsed only after both runs, so that this process stays
    small when it starts the next one (a child's peak RSS counts the parent's pages it forked from)."""
    control(base_url, "/_control/reset")  # fresh budgets and counters for each run
    config = {"api_key": BENCH_KEY, "start_date": "2024-01-01T00:00:00Z", "base_url": base_url}
    config |= {"export_api": "auto", "list_users_source": source}
    paths = {name: folder / f"{source}-{name}.json" for name in ("config", "catalog")}
    paths["config"].write_text(json.dumps(config))
    paths["catalog"].write_text(json.dumps(CATALOG))
    out = folder / f"{source}.jsonl"
    command = [console_script(), "read", "--config", str(paths["config"]), "--catalog", str(paths["catalog"])]
    started = time.perf_counter()
    with out.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, env=env)
        stopped = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if cutoff is not None and not stopped and time.perf_counter() - started > cutoff:
                process.send_signal(signal.SIGTERM)  # how the platform cancels: prints what is whole
                stopped = True
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    stats = server_stats(base_url)
    return Outcome(
        source,
        seconds,
        stopped,
        os.waitstatus_to_exitcode(status),
        usage.ru_maxrss / 1024,
        stats["requests"].get("/api/lists/getUsers", 0),
        stats,
        export_jobs(base_url),
        out,
    )


def printed(outcome: Outcome, keep: set[int] | None = None) -> Printed:
    """The records a run printed, per list; the members of the lists ``keep`` names (all when None)."""
    members: dict[int, set[str]] = defaultdict(set)
    lists: set[int] = set()
    records = 0
    jobs_line = ""
    with outcome.output.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                data = json.loads(line)["record"]["data"]
                list_id = int(data["listId"])
                lists.add(list_id)
                records += 1
                if keep is None or list_id in keep:
                    members[list_id].add(str(data["email"]))
            elif b"export jobs: " in line:
                jobs_line = str(json.loads(line)["log"]["message"])
    return Printed(dict(members), len(lists), records, jobs_line)


def project(outcome: Outcome, lists: int) -> float:
    """Seconds the get_users run would take for every list, at the rate of lists it reached."""
    done = outcome.get_users_calls
    return outcome.seconds * lists / done if done else float("inf")


def report(outcome: Outcome, found: Printed) -> None:
    requests = outcome.stats["requests"]
    print(f"[{outcome.source}]")
    state = "stopped by the benchmark" if outcome.stopped else f"exit {outcome.returncode}"
    print(f"  wall time          {outcome.seconds:.1f} s ({state})")
    print(f"  records            {found.records:,} of {found.lists:,} lists")
    print(f"  getUsers calls     {outcome.get_users_calls}")
    print(
        f"  export calls       {requests.get('/api/export/start', 0)} start, "
        f"{requests.get('/api/export/{jobId}/files', 0)} files, {requests.get('/api/export/data.json', 0)} data.json"
    )
    jobs = outcome.jobs
    exported = (
        f"{len(jobs)} jobs: {sum(j['rows'] for j in jobs):,} rows in {sum(len(j['files']) for j in jobs)} files, "
        f"{sum(j['bytes'] for j in jobs) / 1e6:.1f} MB"
        if jobs
        else "none"
    )
    print(f"  export jobs        {exported} (the connector: {found.jobs_line or 'no job'})")
    print(f"  429 responses      {outcome.stats['statuses'].get('429', 0)}")
    print(f"  peak RSS           {outcome.peak_rss_mb:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lists", type=int, default=5000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--dynamic", type=int, default=3)
    parser.add_argument("--cutoff", type=float, default=300.0, help="seconds the get_users run may take")
    parser.add_argument("--file-mb", type=float, default=4.0, help="export job files of at most this size")
    parser.add_argument("--only", choices=("both", "auto", "get_users"), default="both")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    # The real limits: no ITERABLE_* pacing override reaches the connector or the fake.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITERABLE_")}
    fake_args = [
        "--scaled-lists",
        str(args.users),
        str(args.lists),
        str(args.dynamic),
        "--seed",
        str(args.seed),
    ]
    fake_args += ["--job-file-bytes", str(int(args.file_mb * 1_000_000))]
    print(
        f"list_users: {args.lists:,} lists ({args.dynamic} dynamic), {args.users:,} users; Iterable's real limits; "
        f"export job files of at most {args.file_mb:g} MB"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        began = time.perf_counter()
        with fake_server(*fake_args, env=env) as base_url:
            print(f"fake server ready in {time.perf_counter() - began:.1f} s")
            auto = run(base_url, "auto", None, env, folder) if args.only in ("both", "auto") else None
            slow = run(base_url, "get_users", args.cutoff, env, folder) if args.only != "auto" else None
        slow_found = printed(slow) if slow is not None else None
        keep = set(slow_found.members) if slow_found is not None else set()
        auto_found = printed(auto, keep) if auto is not None else None
    if auto is not None and auto_found is not None:
        report(auto, auto_found)
    if slow is not None and slow_found is not None:
        report(slow, slow_found)
        projected = project(slow, args.lists)
        least = max(0, -(-args.lists // GET_USERS_PER_MINUTE) - 1) * 60.0
        print(f"  projected total    {projected / 3600:.1f} h ({args.lists:,} lists at its rate)")
        print(
            f"  least possible     {least / 3600:.1f} h ({args.lists:,} calls at {GET_USERS_PER_MINUTE} a minute)"
        )
        if auto is not None and auto_found is not None:
            same = [
                i for i in slow_found.members if slow_found.members[i] == auto_found.members.get(i, set())
            ]
            differ = sorted(set(slow_found.members) - set(same))
            print("[comparison]")
            print(
                f"  lists get_users finished: {len(slow_found.members)}; identical members in auto: {len(same)}"
                + (f"; DIFFERENT: {differ[:10]}" if differ else "")
            )
            print(f"  auto is {projected / auto.seconds:,.0f}x faster than get_users (projected)")
            if differ:
                return 1
    if auto is not None and auto.returncode != 0:
        return auto.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
