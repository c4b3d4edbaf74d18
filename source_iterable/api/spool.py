"""Spool a response body to a temporary file, checking and converting it as it arrives.

Iterable streams an export as chunked NDJSON and may close a long one mid-body. Rows are only
handed on once the whole body is on disk and every line parsed, so a cut body is retried without a
single row having been emitted twice. Each line is parsed once: a block of lines is parsed as one
JSON array (C speed), each row converted by the stream's transform and written back as the exact
JSON of the record, so emitting it later is copying bytes. Memory stays flat however large the export.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson
import requests

from ..protocol import record_block
from ..records import BlockConvert, Row
from .errors import BodyError

CHUNK_BYTES = 1 << 20


@dataclass
class Progress:
    """Bytes and rows of one download so far, read by the progress reporter from another thread."""

    bytes: int = 0
    rows: int = 0
    note: str = ""  # what the unit is doing beyond downloading, e.g. an export job's state
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, size: int, rows: int) -> None:
        with self._lock:
            self.bytes += size
            self.rows += rows


class DiskMeter:
    """Bytes our temporary files hold right now, and the most they ever held (for the benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def add(self, size: int) -> None:
        with self._lock:
            self.current += size
            self.peak = max(self.peak, self.current)

    def release(self, size: int) -> None:
        with self._lock:
            self.current -= size


DISK = DiskMeter()


class RecordFile:
    """Records as JSON lines in an unnamed temporary file: no directory entry ever exists, so
    nothing is left on disk however the process ends (SIGKILL included). Close it when emitted.

    With a ``stream`` the lines are whole RECORD messages of that stream (their ``emitted_at`` the
    moment the block was converted), so printing the file is a copy the kernel does (``copy_to``);
    without one they are the records' JSON alone.
    """

    def __init__(self, directory: str | None = None, stream: str | None = None) -> None:
        self.handle: BinaryIO = tempfile.TemporaryFile(prefix="source-iterable-", dir=directory)
        self.stream = stream
        self.count = 0
        self.size = 0
        # The body this file was converted from, as Iterable sent it (what sizes export windows and what
        # the logs call downloaded); 0 for a file not spooled from a body.
        self.source_bytes = 0

    def write_lines(self, lines: list[bytes]) -> None:
        """Append records, each given as its JSON."""
        if lines:
            data = record_block(self.stream, lines) if self.stream is not None else b"\n".join(lines) + b"\n"
            self.handle.write(data)
            self.count += len(lines)
            self.size += len(data)
            DISK.add(len(data))

    def blocks(self) -> Iterator[list[bytes]]:
        """The file's lines, a block at a time, without line endings."""
        self.handle.flush()
        self.handle.seek(0)
        carry = b""
        while chunk := self.handle.read(CHUNK_BYTES):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            if lines:
                yield lines
        if carry:
            yield [carry]

    def copy_to(self, out: BinaryIO) -> None:
        """Every byte of the file onto ``out`` (already flushed by the caller): ``sendfile`` when
        ``out`` is a real file or pipe, a buffered copy otherwise."""
        self.handle.flush()
        try:
            target = out.fileno()
        except (AttributeError, OSError, ValueError):
            target = -1
        if target >= 0:
            offset = 0
            try:
                while offset < self.size:
                    sent = os.sendfile(target, self.handle.fileno(), offset, self.size - offset)
                    if sent == 0:
                        break
                    offset += sent
                if offset == self.size:
                    return
            except OSError:
                if offset:
                    raise  # part of it is out already: a retry would print records twice
        self.handle.seek(0)
        shutil.copyfileobj(self.handle, out, CHUNK_BYTES)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()
            DISK.release(self.size)


def parse_rows(lines: list[bytes], before: int) -> list[Row]:
    """Every NDJSON line must parse to an object; anything else means the body is damaged.

    A batch is parsed as one JSON array; only when that fails (or the element count differs from the
    line count) are the lines parsed one by one to name the bad one.
    """
    if not lines:
        return []
    try:
        values = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        values = None
    if values is not None and len(values) == len(lines) and all(type(v) is dict for v in values):
        return values  # type: ignore[no-any-return]
    for number, line in enumerate(lines, start=before + 1):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            excerpt = line[:60].decode("utf-8", "replace")
            raise BodyError(f"line {number} is not valid JSON ({exc}): {excerpt!r}") from None
        if not isinstance(value, dict):
            raise BodyError(f"line {number} is JSON but not an object")
    raise BodyError(f"lines {before + 1}-{before + len(lines)} do not hold one JSON object per line")


class NdjsonSpooler:
    """Feeds body chunks in, writes converted record lines out; ``finish`` checks the last line.

    ``convert`` turns a block of parsed rows into record JSON lines (``records.RecordShaper.lines``):
    usually one record a row, none for a row already delivered, several for a profile's list ids.
    """

    def __init__(self, convert: BlockConvert, out: RecordFile, progress: Progress | None = None) -> None:
        self._convert_block = convert
        self._out = out
        self._progress = progress
        self._carry = b""
        self.lines = 0
        self.body_bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        lines = (self._carry + chunk).split(b"\n")
        self._carry = lines.pop()
        self._convert(lines, len(chunk))

    def finish(self) -> None:
        # The API may end the last line without a newline.
        self._convert([self._carry], 0)
        self._carry = b""

    def _convert(self, lines: list[bytes], size: int) -> None:
        batch = [stripped for line in lines if (stripped := line.strip())]
        rows = parse_rows(batch, self.lines)
        self.lines += len(rows)
        self._out.write_lines(self._convert_block(rows))
        if self._progress is not None:
            self._progress.add(size, len(rows))


def spool_records(
    response: requests.Response,
    convert: BlockConvert,
    progress: Progress | None = None,
    directory: str | None = None,
    stream: str | None = None,
) -> RecordFile:
    """Download an NDJSON ``response`` into a new ``RecordFile`` of the records ``convert`` makes.

    Raises ``BodyError`` (a bad line) or a requests error (a cut body); the file is closed then, so a
    failed attempt leaves nothing behind. Converting while downloading lets the parse run while the
    server is still producing the rest of the body.
    """
    out = RecordFile(directory, stream)
    try:
        spooler = NdjsonSpooler(convert, out, progress)
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            spooler.feed(chunk)
        spooler.finish()
        out.source_bytes = spooler.body_bytes
        return out
    except BaseException:
        out.close()
        raise


def spool_lines(response: requests.Response, progress: Progress | None = None) -> RecordFile:
    """A plain-text body (getUsers: one identifier per line) on disk, blank lines dropped."""
    out = RecordFile()
    try:
        carry = b""
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            out.write_lines([s for line in lines if (s := line.strip())])
            if progress is not None:
                progress.add(len(chunk), 0)
        if carry.strip():
            out.write_lines([carry.strip()])
        return out
    except BaseException:
        out.close()
        raise
