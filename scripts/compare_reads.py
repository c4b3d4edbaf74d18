"""Checks for scripts/docker_e2e.sh: Airbyte protocol output of the image against the host's.

Standard library only, so it runs with any Python 3.10+.

    compare_reads.py catalog DISCOVER_OUT [--full-refresh]   configured catalog (JSON) on stdout
    compare_reads.py expect-spec SPEC_OUT                    a SPEC message is there
    compare_reads.py expect-check CHECK_OUT                  CONNECTION_STATUS is SUCCEEDED
    compare_reads.py expect-streams DISCOVER_OUT N           the catalog has N streams
    compare_reads.py compare IMAGE_READ HOST_READ [--catalog CATALOG]
        RECORD data per stream equal (sorted canonical JSON; emitted_at ignored; list_users
        updatedAt and the metrics streams' endDateTime, the sync start time, normalised), no error TRACE in either read; prints a table
        of records per stream.

Each command exits 0 when its check holds and 1 (with the reason on stderr) when it does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Fields that legitimately differ between two syncs of the same data: stream -> top-level keys.
# Fields set from the sync's start time, which differs between the two reads.
VOLATILE_FIELDS: dict[str, tuple[str, ...]] = {
    "list_users": ("updatedAt",),
    "campaigns_metrics": ("endDateTime",),
    "experiment_metrics": ("endDateTime",),
}
VOLATILE_PLACEHOLDER = "<sync start>"

Message = dict[str, Any]


def messages(path: Path) -> Iterator[Message]:
    """The protocol messages in a file of one JSON object a line; other lines are skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict) and "type" in message:
                yield message


def fail(reason: str) -> int:
    print(f"FAIL: {reason}", file=sys.stderr)
    return 1


def discovered_streams(path: Path) -> list[Message]:
    for message in messages(path):
        if message["type"] == "CATALOG":
            streams: list[Message] = message["catalog"]["streams"]
            return streams
    return []


def configured_stream(stream: Message, full_refresh: bool) -> Message:
    primary_key = stream.get("source_defined_primary_key") or []
    cursor = stream.get("default_cursor_field") or []
    if not full_refresh and "incremental" in stream.get("supported_sync_modes", []):
        return {
            "stream": stream,
            "sync_mode": "incremental",
            "cursor_field": cursor,
            "destination_sync_mode": "append_dedup" if primary_key else "append",
            "primary_key": primary_key,
        }
    return {
        "stream": stream,
        "sync_mode": "full_refresh",
        "destination_sync_mode": "overwrite",
        "primary_key": primary_key,
    }


def cmd_catalog(args: argparse.Namespace) -> int:
    streams = discovered_streams(args.discover)
    if not streams:
        return fail(f"no CATALOG message in {args.discover}")
    catalog = {"streams": [configured_stream(stream, args.full_refresh) for stream in streams]}
    json.dump(catalog, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_expect_spec(args: argparse.Namespace) -> int:
    for message in messages(args.output):
        if message["type"] == "SPEC" and "connectionSpecification" in message.get("spec", {}):
            print("spec: SPEC message with a connectionSpecification")
            return 0
    return fail(f"no SPEC message in {args.output}")


def cmd_expect_check(args: argparse.Namespace) -> int:
    for message in messages(args.output):
        if message["type"] == "CONNECTION_STATUS":
            status = message["connectionStatus"]
            if status.get("status") == "SUCCEEDED":
                print("check: SUCCEEDED")
                return 0
            return fail(f"check: {status.get('status')}: {status.get('message')}")
    return fail(f"no CONNECTION_STATUS message in {args.output}")


def cmd_expect_streams(args: argparse.Namespace) -> int:
    names = sorted(stream["name"] for stream in discovered_streams(args.discover))
    if len(names) != args.count:
        return fail(f"discover: {len(names)} streams, expected {args.count}: {names}")
    print(f"discover: {len(names)} streams: {', '.join(names)}")
    return 0


def canonical(stream: str, data: Message) -> str:
    volatile = VOLATILE_FIELDS.get(stream, ())
    if volatile:
        data = {key: (VOLATILE_PLACEHOLDER if key in volatile else value) for key, value in data.items()}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def records_by_stream(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Canonical record data per stream (sorted), and the messages of error TRACEs."""
    records: dict[str, list[str]] = defaultdict(list)
    errors: list[str] = []
    for message in messages(path):
        if message["type"] == "RECORD":
            record = message["record"]
            records[record["stream"]].append(canonical(record["stream"], record["data"]))
        elif message["type"] == "TRACE" and message["trace"].get("type") == "ERROR":
            error = message["trace"].get("error", {})
            errors.append(str(error.get("message") or error.get("internal_message")))
    for rows in records.values():
        rows.sort()
    return records, errors


def first_difference(left: list[str], right: list[str]) -> str:
    only_left = sorted(set(left) - set(right))
    only_right = sorted(set(right) - set(left))
    if only_left:
        return f"only in image: {only_left[0][:300]}"
    if only_right:
        return f"only on host: {only_right[0][:300]}"
    return "same rows, different multiplicity"


def cmd_compare(args: argparse.Namespace) -> int:
    image, image_errors = records_by_stream(args.image_read)
    host, host_errors = records_by_stream(args.host_read)
    names = set(image) | set(host)
    if args.catalog is not None:
        catalog = json.loads(args.catalog.read_text(encoding="utf-8"))
        names |= {entry["stream"]["name"] for entry in catalog["streams"]}
    problems: list[str] = []
    width = max((len(name) for name in names), default=6)
    print(f"{'stream':<{width}}  {'image':>7}  {'host':>7}  result")
    for name in sorted(names):
        left, right = image.get(name, []), host.get(name, [])
        same = left == right
        print(f"{name:<{width}}  {len(left):>7}  {len(right):>7}  {'same' if same else 'DIFFERENT'}")
        if not same:
            problems.append(f"{name}: {first_difference(left, right)}")
    total_image = sum(len(rows) for rows in image.values())
    total_host = sum(len(rows) for rows in host.values())
    print(f"{'total':<{width}}  {total_image:>7}  {total_host:>7}")
    for label, errors in (("image", image_errors), ("host", host_errors)):
        problems.extend(f"error TRACE in the {label} read: {error}" for error in errors)
    if total_image == 0:
        problems.append("the reads emitted no records at all")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)

    catalog = commands.add_parser("catalog", help="configured catalog from discover output")
    catalog.add_argument("discover", type=Path)
    catalog.add_argument("--full-refresh", action="store_true", help="full_refresh for every stream")
    catalog.set_defaults(run=cmd_catalog)

    spec = commands.add_parser("expect-spec", help="the output has a SPEC message")
    spec.add_argument("output", type=Path)
    spec.set_defaults(run=cmd_expect_spec)

    check = commands.add_parser("expect-check", help="the output has CONNECTION_STATUS SUCCEEDED")
    check.add_argument("output", type=Path)
    check.set_defaults(run=cmd_expect_check)

    streams = commands.add_parser("expect-streams", help="discover found N streams")
    streams.add_argument("discover", type=Path)
    streams.add_argument("count", type=int)
    streams.set_defaults(run=cmd_expect_streams)

    compare = commands.add_parser("compare", help="RECORD data per stream of two reads are equal")
    compare.add_argument("image_read", type=Path)
    compare.add_argument("host_read", type=Path)
    compare.add_argument("--catalog", type=Path, default=None, help="list every configured stream")
    compare.set_defaults(run=cmd_compare)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
