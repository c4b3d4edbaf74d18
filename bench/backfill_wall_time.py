"""Backfill wall time at Iterable's REAL limits: data.json (4 a minute) against export jobs (1 call a
second, 4 jobs at once), and a 16-stream sync of 90 days against Airbyte's connector 1.0.1.

    .venv/bin/python bench/backfill_wall_time.py backfill --months 12                 # sync vs async
    .venv/bin/python bench/backfill_wall_time.py backfill --months 12 --fixed-windows # 108 windows
    .venv/bin/python bench/backfill_wall_time.py backfill --paths async --file-bytes 4096  # 10 MB and 4 KB files
    .venv/bin/python bench/backfill_wall_time.py peer --days 90                       # ours vs Airbyte's

The fake server enforces the real limits and models a job's latency (a few seconds plus time per
row: ``--job-base-latency``, ``--job-row-seconds``); real jobs' latency is Iterable's and may differ.
Prints wall time, requests per endpoint, jobs, files, bytes, 429s, peak temporary disk, and whether
the runs emitted identical records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_KEY,
    fake_server,
    peak_disk,
    records_by_stream,
    run_peer,
    run_read,
    server_stats,
)

EXPORT_STREAMS = (
    "email_bounce email_click email_complaint email_open email_send email_send_skip email_subscribe "
    "email_unsubscribe users"
).split()
SEED_STREAMS = (
    "campaigns channels email_bounce email_click email_complaint email_open email_send email_send_skip "
    "email_subscribe email_unsubscribe list_users lists message_types metadata templates users"
).split()
CURSORS = {"users": "profileUpdatedAt", "campaigns": "updatedAt", "templates": "updatedAt"}
INCREMENTAL = {*EXPORT_STREAMS, "campaigns", "templates"}


def catalog(streams: list[str], full_refresh: frozenset[str] = frozenset()) -> dict[str, Any]:
    entries = []
    for name in streams:
        incremental = name in INCREMENTAL and name not in full_refresh
        stream: dict[str, Any] = {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
        entry: dict[str, Any] = {
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
        }
        if incremental:
            entry["cursor_field"] = [CURSORS.get(name, "createdAt")]
        entry["destination_sync_mode"] = "append"
        entries.append(entry)
    return {"streams": entries}


def real_limits() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ITERABLE_")}


def summary(label: str, result: Any, stats: dict[str, Any], storage: dict[str, Any]) -> None:
    requests = stats["requests"]
    calls = requests.get("/api/export/start", 0) + requests.get("/api/export/{jobId}/files", 0)
    downloads = storage.get("log", [])
    print(f"{label}: {result.seconds:.1f} s wall, {result.records:,} records, exit {result.returncode}")
    print(
        f"  data.json {requests.get('/api/export/data.json', 0)}, jobs started {requests.get('/api/export/start', 0)}, "
        f"start+files calls {calls}, files {len(downloads)}, "
        f"bytes {sum(e.get('bytes', 0) for e in downloads):,}, 429s {stats['statuses'].get('429', 0)}, "
        f"peak temp disk {peak_disk(result.tail)}, peak RSS {result.peak_rss_mb:.1f} MB"
    )


def reset(base_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{base_url}/_control/reset", method="POST"), timeout=10)


def storage_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_control/storage", timeout=10) as response:
        return dict(json.loads(response.read()))


def job_settings(base_url: str, **settings: float) -> None:
    request = urllib.request.Request(
        f"{base_url}/_control/jobs/settings",
        json.dumps(settings).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


def backfill(args: argparse.Namespace) -> int:
    start = (datetime.now(timezone.utc) - timedelta(days=30 * args.months)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_args = ["--recent-months", str(args.months), "--job-base-latency", str(args.job_base_latency)]
    fake_args += ["--job-row-seconds", str(args.job_row_seconds)]
    results: dict[str, tuple[Any, Path, int]] = {}
    folder = Path(tempfile.mkdtemp())
    # Export files are at most 10 MB, not exactly 10 MB: --file-bytes reads through jobs again with
    # files that small (a project whose exports come back in many small files).
    file_sizes = [10_000_000, *args.file_bytes]
    # One server for every run: its events are laid relative to its start, so every run reads the
    # same rows; a reset between runs empties the rate-limit windows, the stats and the jobs.
    with fake_server(*fake_args, env={"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": "4"}) as base_url:
        for export_api in args.paths:
            for file_bytes in file_sizes if export_api != "sync" else [10_000_000]:
                reset(base_url)
                job_settings(base_url, file_bytes=file_bytes)
                config = {
                    "api_key": BENCH_KEY,
                    "start_date": start,
                    "base_url": base_url,
                    "export_api": export_api,
                    "adaptive_windows": not args.fixed_windows,
                    "export_lag_minutes": 0,
                }
                label = f"export_api {export_api}"
                if export_api != "sync":
                    label += f", files of at most {file_bytes:,} bytes"
                kept = folder / f"{export_api}-{file_bytes}.jsonl"
                result = run_read(config, catalog(EXPORT_STREAMS), real_limits(), keep=kept)
                stats = server_stats(base_url)
                summary(label, result, stats, storage_stats(base_url))
                results[label] = (result, kept, stats["requests"].get("/api/export/start", 0))
    _, first_kept, _ = next(iter(results.values()))
    same = all(records_by_stream(kept) == records_by_stream(first_kept) for _, kept, _ in results.values())
    print(f"identical records in every run: {same}")
    for label, (result, _, jobs) in results.items():
        if "files of at most" in label:
            print(f"  {label}: {jobs} jobs, {result.seconds:.1f} s")
    sync = next((r for label, (r, _, _) in results.items() if label == "export_api sync"), None)
    jobs_run = next((r for label, (r, _, _) in results.items() if label != "export_api sync"), None)
    if sync is not None and jobs_run is not None:
        print(
            f"speed-up of export jobs over data.json: {sync.seconds / jobs_run.seconds:.1f}x (target at least 5x)"
        )
    return 0 if same and all(r.returncode == 0 for r, _, _ in results.values()) else 1


def peer(args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=args.days)
    fake_args = [
        "--recent-months",
        str(max(1, args.days // 30 + 1)),
        "--job-base-latency",
        str(args.job_base_latency),
    ]
    fake_args += ["--job-row-seconds", str(args.job_row_seconds)]
    with fake_server(*fake_args, env={"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": "4"}) as base_url:
        config = {
            "api_key": BENCH_KEY,
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "base_url": base_url,
        }
        # campaigns and templates in full refresh, as the peer reads them: the same records on both sides
        ours = run_read(config, catalog(SEED_STREAMS, frozenset({"campaigns", "templates"})), real_limits())
        summary("ours (export_api auto)", ours, server_stats(base_url), storage_stats(base_url))
        ours_429 = server_stats(base_url)["statuses"].get("429", 0)
        reset(base_url)
        peer_config = {
            "api_key": BENCH_KEY,
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        theirs = run_peer(base_url, peer_config, SEED_STREAMS, real_limits())
        peer_429 = server_stats(base_url)["statuses"].get("429", 0)
        print(
            f"airbyte 1.0.1: {theirs.seconds:.1f} s wall, {theirs.records:,} records, exit {theirs.returncode}, "
            f"{peer_429} 429s, data.json {server_stats(base_url)['requests'].get('/api/export/data.json', 0)}"
        )
    ratio = ours.seconds / theirs.seconds
    print(f"ours / airbyte: {ratio:.2f} (target at most 0.33); 429s ours {ours_429}")
    return 0 if ours.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fill = sub.add_parser("backfill", help="the 9 export streams: data.json against export jobs")
    fill.add_argument("--months", type=int, default=12)
    fill.add_argument("--fixed-windows", action="store_true", help="adaptive_windows false (30-day windows)")
    fill.add_argument("--paths", nargs="+", default=["sync", "async"], choices=["sync", "async", "auto"])
    fill.add_argument(
        "--file-bytes",
        type=int,
        action="append",
        default=[],
        help="also read through export jobs with files of at most this many bytes (repeatable)",
    )
    other = sub.add_parser("peer", help="16 streams over the last N days: ours against Airbyte's 1.0.1")
    other.add_argument("--days", type=int, default=90)
    for command in (fill, other):
        command.add_argument("--job-base-latency", type=float, default=3.0)
        command.add_argument("--job-row-seconds", type=float, default=0.00002)
    args = parser.parse_args()
    return backfill(args) if args.command == "backfill" else peer(args)


if __name__ == "__main__":
    sys.exit(main())
