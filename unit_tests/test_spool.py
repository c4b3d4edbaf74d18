from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from source_iterable.errors import BodyError
from source_iterable.spool import SpooledBody, spool, spool_ndjson, spool_text

from .builders import ndjson

ROWS = [
    {"email": "jane.doe@example.com", "createdAt": "2024-03-06 15:46:40 +00:00", "campaignId": 7012345},
    {"email": "lee@example.net", "createdAt": "2024-03-06 15:49:12 +00:00", "campaignId": 7012345},
]


class FakeResponse:
    """Just enough of ``requests.Response`` for ``spool``: a body in chunks, optionally cut."""

    def __init__(self, *chunks: bytes, cut: bool = False) -> None:
        self.chunks = chunks
        self.cut = cut

    def iter_content(self, chunk_size: int = 1) -> Iterator[bytes]:
        yield from self.chunks
        if self.cut:
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(12 bytes read)")


def as_response(fake: FakeResponse) -> requests.Response:
    return fake  # type: ignore[return-value]


def test_a_whole_body_is_spooled_counted_and_parsed(spool_dir: Path) -> None:
    body = ndjson(ROWS)

    with spool_ndjson(as_response(FakeResponse(body[:10], body[10:]))) as spooled:
        assert spooled.lines == 2
        assert spooled.size == len(body)
        assert os.fstat(spooled.fileno()).st_size == len(body)  # on disk, not in memory
        assert list(spool_dir.iterdir()) == []  # and under no name, even while open
        assert list(spooled.json_rows()) == ROWS

    assert list(spool_dir.iterdir()) == []


def test_a_body_cut_mid_stream_raises_and_leaves_no_file(spool_dir: Path) -> None:
    body = ndjson(ROWS)
    cut = FakeResponse(body[:30], cut=True)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        spool_ndjson(as_response(cut))

    assert list(spool_dir.iterdir()) == []


def test_a_malformed_line_raises_a_body_error_naming_the_line_and_leaves_no_file(spool_dir: Path) -> None:
    body = ndjson(ROWS) + b'{"email": "half a row\n' + ndjson(ROWS)

    with pytest.raises(BodyError, match=r"line 3 is not valid JSON"):
        spool_ndjson(as_response(FakeResponse(body)))

    assert list(spool_dir.iterdir()) == []


def test_a_line_that_is_json_but_not_an_object_is_a_body_error(spool_dir: Path) -> None:
    with pytest.raises(BodyError, match=r"line 2 is JSON but not an object"):
        spool_ndjson(as_response(FakeResponse(ndjson(ROWS[:1]) + b"[1, 2]\n")))

    assert list(spool_dir.iterdir()) == []


def test_an_empty_body_has_no_lines(spool_dir: Path) -> None:
    with spool_ndjson(as_response(FakeResponse())) as spooled:
        assert (spooled.lines, spooled.size) == (0, 0)
        assert list(spooled.json_rows()) == []


def test_the_last_line_without_a_trailing_newline_is_kept(spool_dir: Path) -> None:
    body = ndjson(ROWS, trailing_newline=False)
    assert not body.endswith(b"\n")

    with spool_ndjson(as_response(FakeResponse(body))) as spooled:
        assert spooled.lines == 2
        assert list(spooled.json_rows()) == ROWS


def test_blank_lines_and_crlf_are_skipped(spool_dir: Path) -> None:
    body = b"\n" + ndjson(ROWS[:1]) + b"\n   \r\n" + ndjson(ROWS[1:]).replace(b"\n", b"\r\n") + b"\n"

    with spool_ndjson(as_response(FakeResponse(body))) as spooled:
        assert spooled.lines == 2
        assert list(spooled.json_rows()) == ROWS


def test_a_row_split_across_chunks_is_reassembled(spool_dir: Path) -> None:
    body = ndjson(ROWS)
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]

    with spool_ndjson(as_response(FakeResponse(*chunks))) as spooled:
        assert list(spooled.json_rows()) == ROWS


def test_text_bodies_are_not_checked_as_json(spool_dir: Path) -> None:
    body = b"ana.silva@example.com\n\nbo.li@example.org\ncarlos+promo@example.net"

    with spool_text(as_response(FakeResponse(body))) as spooled:
        assert spooled.lines == 3
        assert list(spooled.raw_lines()) == [
            b"ana.silva@example.com",
            b"bo.li@example.org",
            b"carlos+promo@example.net",
        ]


def test_close_releases_the_file_and_may_be_called_twice(spool_dir: Path) -> None:
    spooled = spool_ndjson(as_response(FakeResponse(ndjson(ROWS))))
    fd = spooled.fileno()
    assert os.path.exists(f"/proc/self/fd/{fd}")

    spooled.close()
    spooled.close()

    assert spooled.handle.closed
    assert list(spool_dir.iterdir()) == []


def test_a_bad_line_in_a_later_chunk_is_numbered_from_the_start_of_the_body(spool_dir: Path) -> None:
    # given two good rows, then a bad one that starts in one chunk and ends in the next
    body = ndjson(ROWS) + b'{"email": "x@example.com", "createdAt": \n'
    chunks = (body[:20], body[20:-12], body[-12:])

    with pytest.raises(BodyError, match=r"line 3 is not valid JSON"):
        spool_ndjson(as_response(FakeResponse(*chunks)))

    assert list(spool_dir.iterdir()) == []


def test_a_check_that_raises_aborts_the_spool_and_removes_the_file(spool_dir: Path) -> None:
    def refuse(lines: list[bytes], before: int) -> None:
        if b"stop" in lines:
            raise BodyError(f"refused after {before} lines")

    with pytest.raises(BodyError, match="refused after 2 lines"):
        spool(as_response(FakeResponse(b"a\n\nb\n", b"stop\nc\n")), refuse)

    assert list(spool_dir.iterdir()) == []


def test_an_explicit_directory_is_used(tmp_path: Path) -> None:
    with spool(as_response(FakeResponse(b"x\n")), directory=str(tmp_path)) as spooled:
        # the unnamed file's descriptor points into the given directory
        assert os.readlink(f"/proc/self/fd/{spooled.fileno()}").startswith(str(tmp_path))
        assert isinstance(spooled, SpooledBody)
    assert list(tmp_path.iterdir()) == []
