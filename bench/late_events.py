"""What reading the lookback again costs, at 1,000,000 rows a day on one stream (email_send), through the
console script against the fake server (its own process), data.json path.

    .venv/bin/python bench/late_events.py                                  # 1,000,000 rows a day, 60 minutes
    .venv/bin/python bench/late_events.py --rows-per-day 200000 --lookback 30 --runs 5

Rows are spread evenly over the two hours before now. Sync 1 starts from a bookmark two hours back (a
state without digests) and ends an hour before now (``export_lag_minutes`` 60): its last STATE holds
the digests of the rows in the lookback before its bookmark. Then ``--late`` rows become visible behind
that bookmark, and sync 2 reads the next hour from sync 1's state, once with the lookback and once
without (``lookback_minutes`` 0), ``--runs`` times each, alternately. Printed: the state's size, the rows
read again and left out per sync, the late rows delivered, and the seconds the lookback adds.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, ReadResult, catalog_for, fake_server, run_read

PACE = "6000"
BATCH = 20_000


def export_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +00:00")


def row(n: int, moment: datetime, tag: str = "r") -> dict[str, Any]:
    return {
        "email": f"{tag}{n}@example.com",
        "userId": f"u-{n}",
        "messageTypeId": 52001,
        "templateId": 9102233,
        "campaignId": 7012345,
        "channelId": 41001,
        "contentId": 15002233,
        "messageId": f"{tag}{n:031d}"[-32:],
        "messageBusId": f"0100018e{n:016x}-000000",
        "catalogCollectionCount": 0,
        "catalogLookupCount": 0,
        "productRecommendationCount": 0,
        "createdAt": export_text(moment),
    }


def add_rows(base_url: str, rows: Iterator[dict[str, Any]]) -> None:
    """Rows into the fake, a batch at a time (a day of rows need not be in memory at once)."""
    while batch := list(islice(rows, BATCH)):
        body = json.dumps({"dataTypeName": "emailSend", "rows": batch}).encode()
        request = urllib.request.Request(
            base_url + "/_control/events", body, {"Content-Type": "application/json"}, method="POST"
        )
        urllib.request.urlopen(request, timeout=120).read()


def last_state(path: Path) -> tuple[dict[str, Any], int]:
    """The last STATE message of the run, and its length in bytes (one line of stdout)."""
    found, size = None, 0
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"STATE"'):
                found, size = json.loads(line), len(line)
    assert found is not None, "the run printed no STATE"
    return found["state"], size


def reread_line(path: Path) -> tuple[int, int]:
    """(rows left out as delivered before, late rows delivered) from the run's log; (0, 0) without one."""
    text = path.read_bytes()
    found = re.search(
        rb"(\d+) rows delivered by an earlier sync left out, (\d+) rows that were not visible", text
    )
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--lookback", type=int, default=60, help="lookback_minutes of the measured syncs")
    parser.add_argument("--late", type=int, default=100, help="rows made visible behind sync 1's bookmark")
    parser.add_argument("--runs", type=int, default=3, help="runs of sync 2 with and without the lookback")
    args = parser.parse_args()

    env = {"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": PACE}
    folder = Path(tempfile.mkdtemp(prefix="late-events-"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    step = timedelta(days=1) / args.rows_per_day
    first_row = now - timedelta(hours=2)
    count = int(timedelta(hours=2) / step)
    with fake_server(env=env) as base_url:
        add_rows(base_url, (row(n, first_row + n * step) for n in range(count)))
        catalog = catalog_for(["email_send"], {"email_send": "createdAt"})
        config = {
            "api_key": BENCH_KEY,
            "start_date": "2024-01-01",
            "base_url": base_url,
            "export_api": "sync",
            "window_in_days": 1,
            "lookback_minutes": args.lookback,
        }
        # Sync 1: from a state two hours back without digests, to an hour before now.
        start_state = [
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "email_send"},
                    "stream_state": {"createdAt": f"{first_row:%Y-%m-%dT%H:%M:%SZ}"},
                },
            }
        ]
        first = run_read(
            {**config, "export_lag_minutes": 60}, catalog, env, keep=folder / "sync1.jsonl", state=start_state
        )
        state, state_bytes = last_state(folder / "sync1.jsonl")
        lookback_part = state["stream"]["stream_state"].get("lookback", {})
        digests = sum(len(base64.b64decode(v)) for v in lookback_part.get("digests", {}).values()) // 8
        part_bytes = len(json.dumps(lookback_part, separators=(",", ":")))
        bookmark = datetime.fromisoformat(state["stream"]["stream_state"]["createdAt"].replace("Z", "+00:00"))
        # Rows Iterable makes visible behind the bookmark after sync 1, within the lookback.
        span = timedelta(minutes=args.lookback) - timedelta(minutes=1)
        behind = (row(n, bookmark - span + n * (span / args.late), "late") for n in range(args.late))
        add_rows(base_url, behind)
        # Sync 2, from sync 1's state, with and without the lookback, alternately.
        results: dict[int, list[tuple[ReadResult, tuple[int, int]]]] = {args.lookback: [], 0: []}
        for run in range(args.runs):
            for lookback in (args.lookback, 0):
                kept = folder / f"sync2-{lookback}-{run}.jsonl"
                result = run_read(
                    {**config, "export_lag_minutes": 0, "lookback_minutes": lookback},
                    catalog,
                    env,
                    keep=kept,
                    state=[{"type": "STREAM", "stream": state["stream"]}],
                )
                results[lookback].append((result, reread_line(kept)))

    ok = first.returncode == 0 and all(r.returncode == 0 for runs in results.values() for r, _ in runs)
    with_lookback, without = results[args.lookback], results[0]
    print(
        f"rows                  {args.rows_per_day:,} a day on email_send ({count:,} over the two hours before now)"
    )
    print(
        f"sync 1                {first.records:,} records in {first.seconds:.2f} s; bookmark {bookmark:%H:%M:%S}"
    )
    print(
        f"state after sync 1    {state_bytes:,} bytes (STATE line); lookback part {part_bytes:,} bytes for {digests:,} digests"
    )
    if digests:
        print(f"  per 10,000 rows     {part_bytes * 10_000 / digests:,.0f} bytes")
    print(f"late rows             {args.late} made visible behind the bookmark, within the lookback")
    for lookback, runs in ((args.lookback, with_lookback), (0, without)):
        records = {r.records for r, _ in runs}
        left_out = {line[0] for _, line in runs}
        late = {line[1] for _, line in runs}
        print(
            f"sync 2, lookback {lookback:>4} {spread([r.seconds for r, _ in runs])}; records {sorted(records)}; "
            f"read again and left out {sorted(left_out)}; late rows delivered {sorted(late)}; "
            f"CPU median {statistics.median(r.cpu_seconds for r, _ in runs):.2f} s"
        )
    added = [a.seconds - b.seconds for (a, _), (b, _) in zip(with_lookback, without, strict=True)]
    reread = statistics.median(line[0] for _, line in with_lookback)
    print(f"seconds added         {spread(added)} per sync")
    if reread:
        print(f"  per row read again  {statistics.median(added) / reread * 1e6:.1f} us")
    if not ok:
        print("a run failed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
