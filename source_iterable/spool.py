"""Spool a response body to a temporary file, check it is whole, then hand out its lines.

Iterable streams an export as chunked NDJSON and may close a long one mid-body. Rows are only
handed on once the whole body is on disk and every line parsed, so a cut body is retried without
a single row having been emitted twice. Memory stays flat however large the export: the body
lives on disk, and lines are read back one at a time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import orjson
import requests

from .http import BodyError

CHUNK_BYTES = 1 << 20


class SpooledBody:
    """A complete body on disk. Close it (or use ``with``) to remove the file."""

    def __init__(self, path: str, lines: int, size: int) -> None:
        self.path = path
        self.lines = lines
        self.size = size

    def raw_lines(self) -> Iterator[bytes]:
        """Non-blank lines, without their line ending."""
        with open(self.path, "rb", buffering=CHUNK_BYTES) as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield line

    def json_rows(self) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        for line in self.raw_lines():
            yield loads(line)

    def close(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> SpooledBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


LineCheck = Callable[[bytes, int], None]


def check_json_object(line: bytes, number: int) -> None:
    """Every NDJSON line must parse to an object; anything else means the body is damaged."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        excerpt = line[:60].decode("utf-8", "replace")
        raise BodyError(f"line {number} is not valid JSON ({exc}): {excerpt!r}") from None
    if not isinstance(value, dict):
        raise BodyError(f"line {number} is JSON but not an object")


def spool(response: requests.Response, check_line: LineCheck | None = None, directory: str | None = None) -> SpooledBody:
    """Download ``response`` to a temporary file and verify it; raise ``BodyError`` or a requests error.

    The file is removed when this raises, so a failed attempt leaves nothing behind.
    """
    handle = tempfile.NamedTemporaryFile(prefix="source-iterable-", suffix=".body", dir=directory, delete=False)
    body = SpooledBody(handle.name, 0, 0)
    try:
        with handle:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                handle.write(chunk)
                body.size += len(chunk)
        number = 0
        for number, line in enumerate(body.raw_lines(), start=1):
            if check_line is not None:
                check_line(line, number)
        body.lines = number
        return body
    except BaseException:
        body.close()
        raise


def spool_ndjson(response: requests.Response) -> SpooledBody:
    return spool(response, check_json_object)


def spool_text(response: requests.Response) -> SpooledBody:
    return spool(response, None)
