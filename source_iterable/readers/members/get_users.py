"""One list's members through ``GET /api/lists/getUsers``: a plain-text body, one user per line.

The body is converted to record lines as it downloads (one pass, one file on disk), and the unit's
progress counts its bytes and users as they arrive: a list of a million members can take Iterable an
hour to send, and the 30-second progress line then says how far it got.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import requests

from ...api.client import IterableClient
from ...api.errors import BodyError
from ...api.spool import CHUNK_BYTES, Progress, RecordFile
from ...engine.units import Batch, Fetched, Unit
from ...records import RecordShaper
from ..context import describe
from .derive import MemberShape, line_identity, memberships

LinesConvert = Callable[[list[bytes]], list[bytes]]


def member_lines(shaper: RecordShaper, shape: MemberShape, list_id: int, updated_at: str) -> LinesConvert:
    """getUsers lines (blank ones already dropped) to the record JSON of ``list_id``'s members."""

    def convert(lines: list[bytes]) -> list[bytes]:
        records = (
            record
            for line in lines
            for record in memberships(
                line_identity(line.decode("utf-8", "replace"), shape), (list_id,), updated_at
            )
        )
        return shaper.held_lines(records)

    return convert


def spool_members(
    response: requests.Response, convert: LinesConvert, progress: Progress, stream: str
) -> RecordFile:
    """The body as RECORD lines on disk, blank lines dropped; all of it or nothing (a cut body raises,
    and its file is closed)."""
    out = RecordFile(stream=stream)
    try:
        carry = b""
        first = True
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            kept = [stripped for line in lines if (stripped := line.strip())]
            if first and kept:
                _check_first(kept[0])
                first = False
            out.write_lines(convert(kept))
            progress.add(len(chunk), len(kept))
        if last := carry.strip():
            if first:
                _check_first(last)
            out.write_lines(convert([last]))
            progress.add(0, 1)
        return out
    except BaseException:
        out.close()
        raise


def _check_first(line: bytes) -> None:
    # A 200 maintenance page instead of the list: its lines must not become members (retried).
    if line.startswith((b"<", b"{")):
        raise BodyError(
            f"the body is not a list of users (it starts {line[:40].decode('utf-8', 'replace')!r})"
        )


def read_list(
    client: IterableClient,
    path: str,
    stream: str,
    shape: MemberShape,
    list_id: int,
    convert: LinesConvert,
    unit: Unit,
) -> Fetched:
    """Every member of ``list_id`` on disk as records, or an error naming the stream and the list."""
    body = client.request(
        path,
        shape.get_users_params(list_id),
        partial(spool_members, convert=convert, progress=unit.progress, stream=stream),
        what=describe(stream, f"list {list_id}"),
        stream=True,
    )
    assert body is not None
    return Fetched(Batch(files=[body]), rows=body.count)
