"""catalog_items at scale: rows/s, requests, peak memory and disk for catalogs of growing size.

One run reads a catalog of each size through the console script (full refresh, the fake server in its
own process, serving a generated catalog page by page), and prints the figures side by side: memory
must stay flat in the catalog's size (items are spooled to disk as they arrive, never held), and the
wall time must stay near what the catalogs budget (100 calls a second per key) allows.

    .venv/bin/python bench/catalog_items.py --items 100000 1000000
    .venv/bin/python bench/catalog_items.py --before /tmp/before   # and an older checkout, same run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, fake_server, run_read, server_stats
from bench.export_throughput import peak_disk_mb

CATALOGS_PER_SECOND = 100.0  # api/budgets.py, the catalogs row


def catalog() -> dict[str, object]:
    stream = {
        "name": "catalog_items",
        "json_schema": {"type": "object"},
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    return {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--before", type=Path, help="also run the connector of this checkout, same sizes")
    args = parser.parse_args()

    versions: list[tuple[str, Path | None]] = [("ours", None)]
    if args.before:
        versions.insert(0, ("before", args.before))
    rows = []
    ok = True
    for size in args.items:
        for label, checkout in versions:
            prefix: list[str] = []
            if checkout is not None:
                code = f"import sys; sys.path.insert(0, {str(checkout)!r}); from source_iterable.run import run; run()"
                prefix = [sys.executable, "-c", code]
            with fake_server(env={"FAKE_ITERABLE_BENCH_CATALOG_ITEMS": str(size)}) as base_url:
                config = {"api_key": BENCH_KEY, "start_date": "2024-01-01", "base_url": base_url}
                result = run_read(config, catalog(), {}, prefix, replace=bool(prefix))
                stats = server_stats(base_url)
            item_calls = sum(n for path, n in stats["requests"].items() if path.endswith("/items"))
            expected = size + 4358  # the bench catalog and the seeded ones (fake_iterable/objects.py)
            ok = ok and result.returncode == 0 and result.records == expected
            disk = peak_disk_mb(result.tail)
            rows.append((label, size, result, item_calls, disk, stats["statuses"].get("429", 0)))
            if result.returncode != 0 or result.records != expected:
                print(result.tail.decode(errors="replace"), file=sys.stderr)

    print(
        "| version | bench catalog items | records | wall | rows/s | item requests (least time at 100/s) | 429s "
        "| peak RSS | peak temp disk |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, size, result, calls, disk, throttled in rows:
        print(
            f"| {label} | {size:,} | {result.records:,} | {result.seconds:.1f} s | "
            f"{result.records / result.seconds:,.0f} | {calls} ({calls / CATALOGS_PER_SECOND:.1f} s) | {throttled} | "
            f"{result.peak_rss_mb:.1f} MB | {'?' if disk is None else f'{disk:.1f} MB'} |"
        )
    ours = [row for row in rows if row[0] == "ours"]
    if len(ours) > 1:
        first, last = ours[0], ours[-1]
        print(
            f"ours, items x{last[1] / first[1]:.0f}: peak RSS x{last[2].peak_rss_mb / first[2].peak_rss_mb:.2f}, "
            f"wall x{last[2].seconds / first[2].seconds:.1f}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
