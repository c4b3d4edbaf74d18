"""Export throughput: one emailSend window of N rows, end to end through the console script, ours and
Airbyte's connector 1.0.1 reading the same fake window in the same run.

    .venv/bin/python bench/export_throughput.py --rows 1000000            # ours, then the peer
    .venv/bin/python bench/export_throughput.py --rows 1000000 --no-peer  # ours only
    .venv/bin/python bench/export_throughput.py --rows 200000 --profile   # where our per-row time goes
    .venv/bin/python bench/export_throughput.py --rows 1000000 --no-peer --before /tmp/before --repeat 5
        # an older checkout (git archive <commit> source_iterable | tar -x -C /tmp/before) and this one,
        # alternately on the same fake window: rows/s of each, median and spread

Prints rows/s of both, the ratio, peak RSS (from wait4), our peak temporary disk, requests and 429s.
"""

from __future__ import annotations

import argparse
import pstats
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_KEY, catalog_for, fake_server, run_peer, run_read, server_stats

PACE = "6000"
TARGET_RATIO = 25.0


def summarise_profile(path: str, rows: int) -> None:
    """Own time per row, grouped by who owns the code: us, the HTTP stack, or the rest."""
    stats = pstats.Stats(path)
    groups: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "source_iterable" in filename:
            group = "source_iterable (our code)"
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


def window_config(base_url: str) -> dict[str, object]:
    """The config both runs read the fake's window with: data.json, one window holding the rows' day."""
    return {
        "api_key": BENCH_KEY,
        "start_date": "2024-01-01",
        "window_in_days": 365,  # the form allows at most 365
        "base_url": base_url,
        "export_lag_minutes": 0,
        "export_api": "sync",
    }


def peak_disk_mb(tail: bytes) -> float | None:
    found = re.search(rb"peak temporary disk ([0-9.]+) (MB|kB)", tail)
    if not found:
        return None
    value = float(found.group(1))
    return value if found.group(2) == b"MB" else value / 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="run the connector under cProfile")
    parser.add_argument("--no-peer", action="store_true", help="skip Airbyte's connector")
    parser.add_argument("--before", type=Path, help="also run the connector of this checkout, alternately")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each connector (with --before)")
    args = parser.parse_args()
    if args.before:
        return before_and_after(args.rows, args.before, args.repeat)

    env = {"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": PACE}
    with fake_server("--bench-rows", str(args.rows), env=env) as base_url:
        # The first window holds the rows' day, then two empty ones to now: data.json path.
        config = window_config(base_url)
        catalog = catalog_for(["email_send"], {"email_send": "createdAt"})
        prefix: list[str] = []
        profile_path = None
        if args.profile:
            profile_path = tempfile.mktemp(suffix=".prof")
            prefix = [sys.executable, "-m", "cProfile", "-o", profile_path]
        ours = run_read(config, catalog, env, prefix)
        stats = server_stats(base_url)
        peer = None
        if not args.no_peer:
            peer_config = {
                "api_key": BENCH_KEY,
                "start_date": "2024-01-01T00:00:00Z",
                "end_date": "2024-01-02T00:00:00Z",  # pins its windows to the rows' day
            }
            peer = run_peer(base_url, peer_config, ["email_send"])

    exports = stats["requests"].get("/api/export/data.json", 0)
    throttled = stats["statuses"].get("429", 0)
    rate = ours.records / ours.seconds
    disk = peak_disk_mb(ours.tail)
    print(f"rows expected        {args.rows:,}")
    print(f"ours: records        {ours.records:,} in {ours.seconds:.2f} s = {rate:,.0f} rows/s")
    print(f"ours: peak RSS       {ours.peak_rss_mb:.1f} MB (connector process)")
    print(f"ours: peak temp disk {'?' if disk is None else f'{disk:.1f} MB'}")
    print(
        f"ours: CPU            {ours.cpu_seconds:.2f} s user+sys ({ours.cpu_seconds / max(1, ours.records) * 1e6:.1f} us/row)"
    )
    print(f"ours: requests       {exports} data.json, {throttled} 429s, exit {ours.returncode}")
    ok = ours.returncode == 0 and ours.records == args.rows
    if peer is not None:
        peer_rate = peer.records / peer.seconds
        ratio = rate / peer_rate if peer_rate else float("inf")
        print(
            f"peer: records        {peer.records:,} in {peer.seconds:.2f} s = {peer_rate:,.0f} rows/s (exit {peer.returncode})"
        )
        print(f"peer: peak RSS       {peer.peak_rss_mb:.1f} MB")
        print(f"ratio                {ratio:.1f}x (target at least {TARGET_RATIO:g}x)")
        ok = ok and peer.records == args.rows
    if profile_path:
        summarise_profile(profile_path, max(1, ours.records))
    if not ok:
        print(ours.tail.decode(errors="replace"), file=sys.stderr)
    return 0 if ok else 1


def before_and_after(rows: int, before: Path, repeat: int) -> int:
    """The same window read by an older checkout and by this one, alternately, ``repeat`` times each."""
    env = {"ITERABLE_EXPORT_REQUESTS_PER_MINUTE": PACE}
    code = f"import sys; sys.path.insert(0, {str(before)!r}); from source_iterable.run import run; run()"
    rates: dict[str, list[float]] = {"before": [], "after": []}
    cpu: dict[str, list[float]] = {"before": [], "after": []}  # us a row: less sensitive to other load
    ok = True
    with fake_server("--bench-rows", str(rows), env=env) as base_url:
        config = window_config(base_url)
        catalog = catalog_for(["email_send"], {"email_send": "createdAt"})
        for _ in range(repeat):
            for name, prefix in (("before", [sys.executable, "-c", code]), ("after", [])):
                result = run_read(
                    config,
                    catalog,
                    {**env, "PYTHONPATH": str(before) if prefix else ""},
                    prefix,
                    replace=bool(prefix),
                )
                ok = ok and result.returncode == 0 and result.records == rows
                rates[name].append(result.records / result.seconds)
                cpu[name].append(result.cpu_seconds / max(1, result.records) * 1e6)
    for name, found in rates.items():
        print(
            f"{name:6s} {statistics.median(found):,.0f} rows/s median (min {min(found):,.0f}, max {max(found):,.0f}, "
            f"n={len(found)}); CPU {statistics.median(cpu[name]):.2f} us/row median "
            f"(min {min(cpu[name]):.2f}, max {max(cpu[name]):.2f}) {'(' + str(before) + ')' if name == 'before' else '(this checkout)'}"
        )
    change = statistics.median(rates["after"]) / statistics.median(rates["before"]) - 1
    cpu_change = statistics.median(cpu["after"]) / statistics.median(cpu["before"]) - 1
    print(f"after / before: rows/s {change:+.1%} (target: within -10%), CPU a row {cpu_change:+.1%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
