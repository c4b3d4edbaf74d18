"""Export throughput: one emailSend window of N rows, end to end through the console script.

    .venv/bin/python bench/export_throughput.py --rows 1000000
    .venv/bin/python bench/export_throughput.py --rows 100000 --profile   # where the per-row time goes

Prints rows/s, the connector process's peak RSS (from wait4), requests made and 429s seen.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, catalog_for, fake_server, run_read, server_stats

PACE = "6000"


def summarise_profile(path: str, rows: int) -> None:
    """Own time per row, grouped by who owns the code: us, the CDK, or the rest."""
    stats = pstats.Stats(path)
    groups: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "source_iterable" in filename:
            group = "source_iterable (our code)"
        elif "airbyte_cdk" in filename or "airbyte_protocol" in filename or "serpyco" in filename:
            group = "airbyte_cdk message path"
        elif "orjson" in filename or filename == "~":
            group = "builtins/C (orjson, I/O, str)"
        elif "requests" in filename or "urllib3" in filename or "http" in filename or "socket" in filename:
            group = "HTTP download"
        else:
            group = "other python"
        groups[group] = groups.get(group, 0.0) + own
    total = sum(groups.values())
    print(f"profile (own time, {rows:,} rows, total {total:.2f}s):")
    for group, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:34s} {seconds:7.2f}s  {seconds / rows * 1e6:6.2f} us/row  {seconds / total:5.1%}")
    print("top functions by own time:")
    stats.sort_stats("tottime").print_stats(15)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="run the connector under cProfile")
    args = parser.parse_args()

    env = {"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": PACE}
    with fake_server("--bench-rows", str(args.rows), env=env) as base_url:
        # One window covering everything since the rows' day: a single export request.
        config = {
            "api_key": BENCH_KEY,
            "start_date": "2024-01-01",
            "window_in_days": 36500,
            "base_url": base_url,
            "export_lag_minutes": 0,
        }
        catalog = catalog_for(["email_send"], {"email_send": "createdAt"})
        prefix: list[str] = []
        profile_path = None
        if args.profile:
            profile_path = tempfile.mktemp(suffix=".prof")
            prefix = [sys.executable, "-m", "cProfile", "-o", profile_path]
        result = run_read(config, catalog, env, prefix)
        stats = server_stats(base_url)

    exports = stats["requests"].get("/api/export/data.json", 0)
    throttled = stats["statuses"].get("429", 0)
    print(f"rows expected     {args.rows:,}")
    print(f"records emitted   {result.records:,}")
    print(f"state messages    {result.states}")
    print(f"elapsed           {result.seconds:.2f} s")
    print(f"throughput        {result.records / result.seconds:,.0f} rows/s")
    print(f"peak RSS          {result.peak_rss_mb:.1f} MB (connector process)")
    print(
        f"connector CPU     {result.cpu_seconds:.2f} s user+sys ({result.cpu_seconds / max(1, result.records) * 1e6:.1f} us/row)"
    )
    print(f"export requests   {exports}")
    print(f"429 responses     {throttled}")
    print(f"exit status       {result.returncode}")
    if profile_path:
        summarise_profile(profile_path, max(1, result.records))
    ok = result.returncode == 0 and result.records == args.rows
    if not ok:
        print(result.tail.decode(errors="replace"), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
