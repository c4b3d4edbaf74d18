"""Wall time of a whole sync at Iterable's REAL limits: is it the largest budget, or their sum?

    .venv/bin/python bench/sync_wall_time.py --lists 20 --months 3
    .venv/bin/python bench/sync_wall_time.py --lists 20 --months 3 --before /tmp/before   # an older checkout

The fake server enforces the real limits (data.json 4/min, getUsers 5/min, export jobs 1/s); the
connector reads the 16 seed streams (``--streams all`` for every stream) in full. Prints the wall time,
per endpoint the requests made and the least time its budget allows, the sum and the largest of those,
429s, peak RSS and peak temporary disk.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, fake_server, run_read, server_stats
from source_iterable.catalog import STREAMS

SEED_STREAMS = (
    "campaigns channels email_bounce email_click email_complaint email_open email_send email_send_skip "
    "email_subscribe email_unsubscribe list_users lists message_types metadata templates users"
).split()
# Budgets of the endpoints with a low limit: requests per window of seconds (fact sheet section 3).
BUDGETS = {
    "/api/export/data.json": (4, 60.0),
    "/api/lists/getUsers": (5, 60.0),
    "/api/campaigns/metrics": (10, 60.0),
    "/api/export/start+files": (1, 1.0),
}


def minimum_seconds(requests: int, capacity: int, window: float) -> float:
    return 0.0 if requests <= capacity else math.ceil(requests / capacity - 1) * window


def catalog(streams: list[str]) -> dict[str, object]:
    by_name = {spec.name: spec for spec in STREAMS}
    return {
        "streams": [
            {
                "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in streams
            if name in by_name
        ]
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lists", type=int, default=20, help="lists besides the 5 seeded ones")
    parser.add_argument("--months", type=int, default=3, help="months of events up to now")
    parser.add_argument("--streams", choices=("seed", "all"), default="seed")
    parser.add_argument("--export-api", choices=("sync", "async", "auto"), default="sync")
    parser.add_argument("--fixed-windows", action="store_true", help="adaptive_windows false")
    parser.add_argument("--before", type=Path, help="run the connector of this checkout instead")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ITERABLE_")}  # the real limits
    started_at = datetime.now(timezone.utc)
    start_date = (started_at - timedelta(days=30 * args.months)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_args = ["--recent-months", str(args.months), "--extra-lists", str(args.lists)]
    with fake_server(*fake_args, env={"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": "4"}) as base_url:
        config = {
            "api_key": BENCH_KEY,
            "start_date": start_date,
            "base_url": base_url,
            "export_api": args.export_api,
            "adaptive_windows": not args.fixed_windows,
        }
        streams = SEED_STREAMS if args.streams == "seed" else [spec.name for spec in STREAMS]
        prefix: list[str] = []
        if args.before:
            code = f"import sys; sys.path.insert(0, {str(args.before)!r}); from source_iterable.run import run; run()"
            prefix = [sys.executable, "-c", code]
        result = run_read(
            config,
            catalog(streams),
            {**env, "PYTHONPATH": str(args.before or "")},
            prefix,
            replace=bool(prefix),
        )
        stats = server_stats(base_url)

    requests = dict(stats["requests"])
    requests["/api/export/start+files"] = requests.get("/api/export/start", 0) + requests.get(
        "/api/export/{jobId}/files", 0
    )
    minimums = {path: minimum_seconds(requests.get(path, 0), *budget) for path, budget in BUDGETS.items()}
    largest, total = max(minimums.values()), sum(minimums.values())
    disk = re.search(rb"peak temporary disk ([0-9.]+) (MB|kB)", result.tail)
    print(
        f"streams            {len(streams)} ({args.streams}); {args.lists + 5} lists; {args.months} months of events; export_api {args.export_api}"
    )
    print(f"wall time          {result.seconds:.1f} s (exit {result.returncode}, {result.records:,} records)")
    for path, budget in BUDGETS.items():
        print(
            f"  {path:26s} {requests.get(path, 0):4d} requests, budget {budget[0]}/{budget[1]:g}s allows no less than {minimums[path]:.0f} s"
        )
    print(f"largest minimum    {largest:.0f} s")
    print(f"sum of minimums    {total:.0f} s")
    print(
        f"wall / largest     {result.seconds / largest:.2f}"
        if largest
        else "wall / largest     (no budget binds)"
    )
    print(f"429 responses      {stats['statuses'].get('429', 0)}")
    print(f"peak RSS           {result.peak_rss_mb:.1f} MB")
    print(
        f"peak temp disk     {disk.group(1).decode() + ' ' + disk.group(2).decode() if disk else 'not reported'}"
    )
    if result.returncode != 0:
        print(result.tail.decode(errors="replace")[-3000:], file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    subprocess  # noqa: B018 - imported for run_read's subprocesses
    sys.exit(main())
