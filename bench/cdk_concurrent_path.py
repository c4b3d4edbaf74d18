"""What a record costs on the CDK's concurrent path, against ours, with no HTTP in the way.

    .venv/bin/python bench/cdk_concurrent_path.py --rows 200000

The same N emailSend records (the fake's benchmark rows, converted by the stream's transform) go
  1. through the CDK's ``ConcurrentSource`` (one partition, its worker pool and queue, its RECORD
     messages) and the CDK entry point's serialiser, as a connector on ``ConcurrentSourceAdapter`` would;
  2. through our path: the rows as record JSON into a stream's record file (what the spool does while
     downloading), then that file copied out (what the engine does when the window is complete).
Both write to /dev/null. Prints microseconds per record of each; this is the measurement behind the
engine's design (docs/design.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import Type
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.cursor import FinalStateCursor
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.partition_generator import PartitionGenerator
from airbyte_cdk.sources.types import Record
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from integration_tests.fake_iterable.bench import BenchEmailSend
from source_iterable.api.spool import RecordFile
from source_iterable.catalog import STREAMS_BY_NAME

STREAM = "email_send"


class OnePartition(Partition):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def read(self) -> Iterable[Record]:
        for row in self._rows:
            yield Record(data=row, stream_name=STREAM)

    def to_slice(self) -> Mapping[str, Any] | None:
        return None

    def stream_name(self) -> str:
        return STREAM

    def __hash__(self) -> int:
        return 1


class Generator(PartitionGenerator):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def generate(self) -> Iterable[Partition]:
        yield OnePartition(self._rows)


def rows(count: int) -> list[dict[str, Any]]:
    _, batches = BenchEmailSend(count).window(None, None)
    transform = STREAMS_BY_NAME[STREAM].transform
    return [dict(transform(orjson.loads(line))) for batch in batches for line in batch]


def cdk_concurrent(data: list[dict[str, Any]]) -> float:
    logger = logging.getLogger("bench")
    repository = InMemoryMessageRepository()
    stream = DefaultStream(
        Generator(data), STREAM, {}, [], None, logger, FinalStateCursor(STREAM, None, repository)
    )
    source = ConcurrentSource.create(2, 1, logger, DebugSliceLogger(), repository)
    started = time.perf_counter()
    with open("/dev/null", "w") as out:
        for message in source.read([stream]):
            if message.type is Type.RECORD:
                out.write(AirbyteEntrypoint.airbyte_message_to_string(message) + "\n")
    return time.perf_counter() - started


def ours(data: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    records = RecordFile(stream=STREAM)
    block = 2500
    for start in range(0, len(data), block):
        records.write_lines([orjson.dumps(row) for row in data[start : start + block]])
    with open("/dev/null", "wb") as out:
        records.copy_to(out)
    records.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    data = rows(args.rows)
    cdk = cdk_concurrent([dict(row) for row in data])
    mine = ours(data)
    print(f"records                  {len(data):,}")
    print(f"CDK ConcurrentSource     {cdk:.2f} s = {cdk / len(data) * 1e6:.1f} us/record")
    print(f"ours (record file, copy) {mine:.2f} s = {mine / len(data) * 1e6:.1f} us/record")
    print(f"ratio                    {cdk / mine:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
