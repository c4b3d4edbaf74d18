"""``api/spool.py``: a body checked and converted into an unnamed record file as it arrives; all or nothing."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from source_iterable.api.errors import BodyError
from source_iterable.api.spool import (
    DISK,
    NdjsonSpooler,
    Progress,
    RecordFile,
    parse_rows,
    spool_lines,
    spool_records,
)
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.records import RecordShaper

from .builders import ndjson, open_files_in

ROWS = [
    {"email": "jane.doe@example.com", "createdAt": "2024-03-06 15:46:40 +00:00", "campaignId": 7012345},
    {"email": "lee@example.net", "createdAt": "2024-03-06 15:49:12 +00:00", "campaignId": 7012345},
]


class FakeResponse:
    """Just enough of ``requests.Response`` for the spoolers: a body in chunks, optionally cut."""

    def __init__(self, *chunks: bytes, cut: bool = False) -> None:
        self.chunks = chunks
        self.cut = cut

    def iter_content(self, chunk_size: int = 1) -> Iterator[bytes]:
        yield from self.chunks
        if self.cut:
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(12 bytes read)")


def as_response(fake: FakeResponse) -> requests.Response:
    return fake  # type: ignore[return-value]


def assert_nothing_left(directory: Path, caught: pytest.ExceptionInfo[BaseException], before: int) -> None:
    """A failed spool closed its file: none is open in ``directory`` while the failure (and with it the
    failed call's frames) is still held, and the disk meter is back where it was."""
    assert caught.value is not None
    assert open_files_in(directory) == []
    assert DISK.current == before


def same(rows: list[dict[str, Any]]) -> list[bytes]:
    """The block converter that keeps every row as it came."""
    return RecordShaper(lambda row: row).lines(rows)


def lines(records: RecordFile) -> list[bytes]:
    return [line for block in records.blocks() for line in block]


def rows(records: RecordFile) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines(records)]


def test_a_whole_body_is_spooled_counted_and_parsed(spool_dir: Path) -> None:
    # given a body in two chunks
    body = ndjson(ROWS)

    # when it is spooled
    records = spool_records(as_response(FakeResponse(body[:10], body[10:])), same)

    # then every row is on disk, in an unnamed file of the spool directory
    try:
        assert records.count == 2
        assert records.size == len(body)
        assert rows(records) == ROWS
        assert os.fstat(records.handle.fileno()).st_size == len(body)  # on disk, not in memory
        assert list(spool_dir.iterdir()) == []  # and under no name, even while open
        assert len(open_files_in(spool_dir)) == 1
    finally:
        records.close()

    assert open_files_in(spool_dir) == []


def test_each_row_is_converted_once_and_written_as_the_exact_json_of_the_record(spool_dir: Path) -> None:
    # given the email_send transform, which converts createdAt
    transform = STREAMS_BY_NAME["email_send"].transform

    # when
    records = spool_records(as_response(FakeResponse(ndjson(ROWS))), RecordShaper(transform).lines)

    # then each line is orjson's serialisation of the converted row, ready to be copied into a RECORD
    try:
        assert lines(records) == [orjson.dumps(transform(dict(row))) for row in ROWS]
        assert rows(records)[0]["createdAt"] == "2024-03-06T15:46:40Z"
    finally:
        records.close()


def test_a_body_cut_mid_stream_raises_and_leaves_no_file(spool_dir: Path) -> None:
    body = ndjson(ROWS)
    before = DISK.current

    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        spool_records(as_response(FakeResponse(body[:30], cut=True)), same)

    assert_nothing_left(spool_dir, caught, before)


def test_a_malformed_line_raises_a_body_error_naming_the_line_and_leaves_no_file(spool_dir: Path) -> None:
    before = DISK.current
    body = ndjson(ROWS) + b'{"email": "half a row\n' + ndjson(ROWS)

    with pytest.raises(
        BodyError, match=r"line 3 is not valid JSON .*: '\{\"email\": \"half a row'"
    ) as caught:
        spool_records(as_response(FakeResponse(body)), same)

    assert_nothing_left(spool_dir, caught, before)


def test_a_line_that_is_json_but_not_an_object_is_a_body_error(spool_dir: Path) -> None:
    before = DISK.current
    with pytest.raises(BodyError, match=r"line 2 is JSON but not an object") as caught:
        spool_records(as_response(FakeResponse(ndjson(ROWS[:1]) + b"[1, 2]\n")), same)

    assert_nothing_left(spool_dir, caught, before)


def test_an_empty_body_has_no_lines(spool_dir: Path) -> None:
    records = spool_records(as_response(FakeResponse()), same)
    try:
        assert (records.count, records.size) == (0, 0)
        assert rows(records) == []
    finally:
        records.close()


def test_the_last_line_without_a_trailing_newline_is_kept(spool_dir: Path) -> None:
    body = ndjson(ROWS, trailing_newline=False)
    assert not body.endswith(b"\n")

    records = spool_records(as_response(FakeResponse(body)), same)
    try:
        assert records.count == 2
        assert rows(records) == ROWS
    finally:
        records.close()


def test_blank_lines_and_crlf_are_skipped(spool_dir: Path) -> None:
    body = b"\n" + ndjson(ROWS[:1]) + b"\n   \r\n" + ndjson(ROWS[1:]).replace(b"\n", b"\r\n") + b"\n"

    records = spool_records(as_response(FakeResponse(body)), same)
    try:
        assert records.count == 2
        assert rows(records) == ROWS
    finally:
        records.close()


def test_a_row_split_across_chunks_is_reassembled(spool_dir: Path) -> None:
    body = ndjson(ROWS)
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]

    records = spool_records(as_response(FakeResponse(*chunks)), same)
    try:
        assert rows(records) == ROWS
    finally:
        records.close()


def test_a_bad_line_in_a_later_chunk_is_numbered_from_the_start_of_the_body(spool_dir: Path) -> None:
    before = DISK.current
    # given two good rows, then a bad one that starts in one chunk and ends in the next
    body = ndjson(ROWS) + b'{"email": "x@example.com", "createdAt": \n'
    chunks = (body[:20], body[20:-12], body[-12:])

    with pytest.raises(BodyError, match=r"line 3 is not valid JSON") as caught:
        spool_records(as_response(FakeResponse(*chunks)), same)

    assert_nothing_left(spool_dir, caught, before)


def test_a_transform_that_raises_aborts_the_spool_and_removes_the_file(spool_dir: Path) -> None:
    before = DISK.current

    def refuse(row: dict[str, Any]) -> dict[str, Any]:
        if row["email"] == "lee@example.net":
            raise BodyError("refused lee")
        return row

    with pytest.raises(BodyError, match="refused lee") as caught:
        spool_records(as_response(FakeResponse(ndjson(ROWS))), RecordShaper(refuse).lines)

    assert_nothing_left(spool_dir, caught, before)


def test_an_explicit_directory_is_used(tmp_path: Path) -> None:
    records = spool_records(as_response(FakeResponse(ndjson(ROWS))), same, directory=str(tmp_path))
    try:
        # the unnamed file's descriptor points into the given directory
        assert os.readlink(f"/proc/self/fd/{records.handle.fileno()}").startswith(str(tmp_path))
    finally:
        records.close()
    assert open_files_in(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_progress_counts_the_bytes_and_rows_as_they_arrive(spool_dir: Path) -> None:
    body = ndjson(ROWS)
    progress = Progress()

    spool_records(as_response(FakeResponse(body[:10], body[10:])), same, progress).close()

    assert (progress.bytes, progress.rows) == (len(body), 2)


# ------------------------------------------------------------------ plain text bodies


def test_text_bodies_are_not_checked_as_json(spool_dir: Path) -> None:
    body = b"ana.silva@example.com\n\nbo.li@example.org\r\ncarlos+promo@example.net"

    records = spool_lines(as_response(FakeResponse(body[:15], body[15:])))
    try:
        assert records.count == 3
        assert lines(records) == [b"ana.silva@example.com", b"bo.li@example.org", b"carlos+promo@example.net"]
    finally:
        records.close()


def test_a_text_body_cut_mid_stream_leaves_no_file(spool_dir: Path) -> None:
    before = DISK.current
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        spool_lines(as_response(FakeResponse(b"ana@example.com\nbo", cut=True)))

    assert_nothing_left(spool_dir, caught, before)


# ------------------------------------------------------------------ the record file


def test_close_releases_the_file_and_may_be_called_twice(spool_dir: Path) -> None:
    before = DISK.current
    records = spool_records(as_response(FakeResponse(ndjson(ROWS))), same)
    fd = records.handle.fileno()
    assert os.path.exists(f"/proc/self/fd/{fd}")
    assert DISK.current == before + records.size

    records.close()
    records.close()

    assert records.handle.closed
    assert open_files_in(spool_dir) == []
    assert DISK.current == before


def test_blocks_give_every_line_once_across_chunk_boundaries(
    spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given read chunks much smaller than the lines
    from source_iterable.api import spool

    monkeypatch.setattr(spool, "CHUNK_BYTES", 16)
    written = [orjson.dumps({"n": n, "pad": "x" * n}) for n in range(40)]
    records = RecordFile()
    records.write_lines(written[:25])
    records.write_lines(written[25:])
    records.write_lines([])
    try:
        # when read back in blocks / then every line comes once, in order, without its newline
        assert lines(records) == written
        assert records.count == 40
    finally:
        records.close()


def test_the_spooler_checks_the_last_line_only_when_the_body_ends(spool_dir: Path) -> None:
    out = RecordFile()
    try:
        spooler = NdjsonSpooler(same, out)
        spooler.feed(b'{"a": 1}\n{"a"')
        assert out.count == 1  # the unfinished line waits for the rest of the body
        spooler.feed(b": 2}")
        spooler.finish()
        assert out.count == 2 and spooler.lines == 2 and spooler.body_bytes == 17
    finally:
        out.close()


def test_parse_rows_numbers_lines_after_the_ones_before() -> None:
    assert parse_rows([b'{"a": 1}', b'{"a": 2}'], 0) == [{"a": 1}, {"a": 2}]
    assert parse_rows([], 10) == []
    with pytest.raises(BodyError, match="line 12 is not valid JSON"):
        parse_rows([b'{"a": 1}', b"{oops"], 10)
    with pytest.raises(BodyError, match="line 11 is JSON but not an object"):
        parse_rows([b'"text"', b'{"a": 1}'], 10)


def test_a_stream_s_record_file_holds_whole_record_lines_and_copies_them_to_a_file_or_a_buffer(
    tmp_path: Path,
) -> None:
    # given a record file of email_send with two records
    records = RecordFile(stream="email_send")
    records.write_lines([b'{"a":1}', b'{"a":2}'])
    # when it is copied to a real file (sendfile) and to an in-memory buffer (a plain copy)
    target = tmp_path / "out.jsonl"
    with open(target, "wb") as real:
        real.write(b"before\n")
        real.flush()
        records.copy_to(real)
    buffer = io.BytesIO()
    records.copy_to(buffer)
    records.close()
    # then both hold the same RECORD lines of that stream, after what was there
    copied = target.read_bytes()
    assert copied.startswith(b"before\n") and copied[len(b"before\n") :] == buffer.getvalue()
    messages = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    assert [m["record"]["data"] for m in messages] == [{"a": 1}, {"a": 2}]
    assert {m["type"] for m in messages} == {"RECORD"} and {m["record"]["stream"] for m in messages} == {
        "email_send"
    }
    assert all(isinstance(m["record"]["emitted_at"], int) for m in messages)
