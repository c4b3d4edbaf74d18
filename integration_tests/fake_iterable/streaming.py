"""Chunked NDJSON bodies for ``/api/export/data.json``, with the row-level faults (cut, stall, ...).

Transfer-Encoding is written by hand so a fault can stop *inside* the chunked framing: closing the socket
before the terminating zero-length chunk is exactly what a client sees when Iterable drops a long export
(``ChunkedEncodingError`` / ``IncompleteRead`` in Python requests).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

from .api import Stream
from .faults import Fault


class Chunker:
    """Groups NDJSON lines into chunks of roughly 16-64 KB, like a streaming server flushing its buffer."""

    def __init__(self, write: Callable[[bytes], Any], rng: random.Random) -> None:
        self._write, self._rng = write, rng
        self._buf: list[bytes] = []
        self._size = 0
        self._target = rng.randint(16_384, 65_536)

    def add(self, lines: list[bytes]) -> None:
        self._buf.extend(lines)
        self._size += sum(map(len, lines))
        if self._size >= self._target:
            self.flush()

    def flush(self) -> None:
        if self._size:
            data = b"".join(self._buf)
            self._write(b"%x\r\n%s\r\n" % (len(data), data))  # one write (one syscall) per chunk
            self._buf, self._size = [], 0
            self._target = self._rng.randint(16_384, 65_536)

    def finish(self) -> None:
        self.flush()
        self._write(b"0\r\n\r\n")


def write_stream(
    write: Callable[[bytes], Any], stream: Stream, fault: Fault | None, wait: Callable[[float], Any]
) -> bool:
    """Write the chunked body (headers already sent). True when the connection must be dropped now."""
    chunker = Chunker(write, random.Random(stream.total))
    if fault is None:
        for batch in stream.batches:  # fast path: whole batches, no per-row Python work
            chunker.add(batch)
        chunker.finish()
        return False
    at = stream.total // 2 if fault.after_rows is None else fault.after_rows
    rows: Iterator[bytes] = itertools.chain.from_iterable(stream.batches)
    if fault.kind == "cut":
        at = min(at, max(stream.total - 1, 0))  # always stop inside a line when there is one
        for index, line in enumerate(rows):
            chunker.add([line[: max(1, len(line) // 2)] if index == at else line])
            if index == at:
                break
        chunker.flush()
        return True  # no terminating zero-length chunk: the client sees a broken body
    if fault.kind == "stall":
        for line in itertools.islice(rows, at):
            chunker.add([line])
        chunker.flush()
        wait(fault.seconds)  # the client's read timeout should fire here
        return True
    if fault.kind == "malformed":
        bad = fault.line.encode() + b"\n"
        sent = 0
        for index, line in enumerate(rows):
            chunker.add([bad, line] if index == at else [line])
            sent += 1
        if at >= sent:
            chunker.add([bad])
        chunker.finish()
        return False
    # no_trailing_newline: the last line ends without "\n" (the API does not promise one).
    previous: bytes | None = None
    for line in rows:
        if previous is not None:
            chunker.add([previous])
        previous = line
    if previous is not None:
        chunker.add([previous.rstrip(b"\n")])
    chunker.finish()
    return False
