"""Spool a response body to a temporary file, check it is whole, then hand out its lines.

Iterable streams an export as chunked NDJSON and may close a long one mid-body. Rows are only
handed on once the whole body is on disk and every line parsed, so a cut body is retried without
a single row having been emitted twice. Memory stays flat however large the export: the body
lives on disk, and lines are read back one at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson
import requests
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

from .errors import BodyError

CHUNK_BYTES = 1 << 20


class SpooledBody:
    """A complete body in an unnamed temporary file: no directory entry ever exists, so nothing is
    left on disk however the process ends (SIGKILL included). Close it (or use ``with``)."""

    def __init__(self, handle: BinaryIO, lines: int = 0, size: int = 0) -> None:
        self.handle = handle
        self.lines = lines
        self.size = size

    def fileno(self) -> int:
        return self.handle.fileno()

    def raw_lines(self) -> Iterator[bytes]:
        """Non-blank lines, without their line ending."""
        self.handle.seek(0)
        for line in self.handle:
            line = line.strip()
            if line:
                yield line

    def json_blocks(self) -> Iterator[list[dict[str, Any]]]:
        """The parsed rows, one block of lines at a time: one array parse per block is much
        cheaper than one parse call per row. Only used on a body whose every line was checked."""
        self.handle.seek(0)
        carry = b""
        while block := self.handle.read(CHUNK_BYTES):
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            yield _parse_lines(lines)
        yield _parse_lines([carry])

    def json_rows(self) -> Iterator[dict[str, Any]]:
        for block in self.json_blocks():
            yield from block

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> SpooledBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_lines(lines: list[bytes]) -> list[dict[str, Any]]:
    batch = [stripped for line in lines if (stripped := line.strip())]
    if not batch:
        return []
    rows: list[dict[str, Any]] = orjson.loads(b"[" + b",".join(batch) + b"]")
    return rows


LinesCheck = Callable[[list[bytes], int], None]


def check_json_objects(lines: list[bytes], before: int) -> None:
    """Every NDJSON line must parse to an object; anything else means the body is damaged.

    A batch is parsed as one JSON array, at C speed; only when that fails (or the element count
    differs from the line count) are the lines parsed one by one to name the bad one.
    """
    if not lines:
        return
    try:
        values = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        values = None
    if values is not None and len(values) == len(lines) and all(type(v) is dict for v in values):
        return
    for number, line in enumerate(lines, start=before + 1):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            excerpt = filter_secrets(line[:2000].decode("utf-8", "replace"))[:60]
            raise BodyError(f"line {number} is not valid JSON ({exc}): {excerpt!r}") from None
        if not isinstance(value, dict):
            raise BodyError(f"line {number} is JSON but not an object")
    raise BodyError(f"lines {before + 1}-{before + len(lines)} do not hold one JSON object per line")


def spool(
    response: requests.Response, check: LinesCheck | None = None, directory: str | None = None
) -> SpooledBody:
    """Download ``response`` to a temporary file, checking each line as it arrives.

    Raises ``BodyError`` (a bad line) or a requests error (a cut body); the file is closed
    then, so a failed attempt leaves nothing behind. Checking while downloading lets the parse run
    while the server is still producing the rest of the body.
    """
    body = SpooledBody(tempfile.TemporaryFile(prefix="source-iterable-", dir=directory))
    try:
        carry = b""
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            body.handle.write(chunk)
            body.size += len(chunk)
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            body.lines = _check(lines, body.lines, check)
        # The API may end the last line without a newline.
        body.lines = _check([carry], body.lines, check)
        body.handle.flush()
        return body
    except BaseException:
        body.close()
        raise


def _check(lines: list[bytes], seen: int, check: LinesCheck | None) -> int:
    batch = [stripped for line in lines if (stripped := line.strip())]
    if check is not None:
        check(batch, seen)
    return seen + len(batch)


def spool_ndjson(response: requests.Response) -> SpooledBody:
    return spool(response, check_json_objects)


def spool_text(response: requests.Response) -> SpooledBody:
    return spool(response, None)
