"""``lookback/window_filter.py``: one window's rows to records, leaving out the re-read rows already
delivered (as often as the state holds them) and collecting the digests of its tail span, judged per
attempt so that a body read twice counts once."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import orjson
import pytest
import requests
from urllib3.exceptions import ProtocolError

from source_iterable.api.spool import RecordFile
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.lookback import window_filter
from source_iterable.lookback.digests import row_digest
from source_iterable.lookback.window_filter import WindowFilter, spooler
from source_iterable.records import ADDITIONAL_FIELDS, RecordShaper

from .builders import CutBody, event, ndjson, utc

SEND = STREAMS_BY_NAME["email_send"]
SHAPER = RecordShaper(SEND.transform)
B = utc(2024, 3, 6, 12)  # the bookmark
END = utc(2024, 3, 7)  # the window's end: its tail span is 23:00 to midnight


def response(body: bytes | io.RawIOBase) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    answer.raw = io.BytesIO(body) if isinstance(body, bytes) else body
    return answer


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    """What email_send's transform makes of a row (what the digest is taken of)."""
    return dict(SEND.transform(dict(row)))


def digests(*rows: dict[str, Any]) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for row in rows:
        found[row_digest(record_of(row))] = found.get(row_digest(record_of(row)), 0) + 1
    return found


def first_window(known: dict[bytes, int]) -> WindowFilter:
    """The re-reading first window [11:00, midnight) of a stream whose bookmark is 12:00."""
    return WindowFilter(SHAPER.lines, SEND.transform, "createdAt", END - timedelta(hours=1), B, known)


def emails(file: RecordFile) -> list[str]:
    return [orjson.loads(line)["email"] for block in file.blocks() for line in block]


OLD = event("2024-03-06 11:30:00 +00:00", email="delivered@example.com")
LATE = event("2024-03-06 11:31:00 +00:00", email="late@example.com")
NEW = event("2024-03-06 15:00:00 +00:00", email="new@example.com")
TAIL = event("2024-03-06 23:10:05 +00:00", email="tail@example.com")


def test_a_re_read_row_delivered_before_is_left_out_and_a_late_one_is_delivered() -> None:
    # given a state that delivered OLD before the bookmark
    filter_ = first_window(digests(OLD))
    # when the first window reads OLD again, a row indexed late behind the bookmark, and newer rows
    file = filter_.spool(response(ndjson([OLD, LATE, NEW, TAIL])))
    # then only OLD is left out, and the window reports it
    assert emails(file) == ["late@example.com", "new@example.com", "tail@example.com"]
    tail = filter_.result([file])
    assert (tail.rows, tail.skipped, tail.late) == (4, 1, 1)


def test_two_identical_rows_are_two_deliveries() -> None:
    # given a state that delivered one of two identical rows (same second, same content)
    filter_ = first_window(digests(OLD))
    # then the re-read delivers the twin that became visible since, and leaves out the one delivered
    assert emails(filter_.spool(response(ndjson([OLD, OLD])))) == ["delivered@example.com"]


def test_the_tail_span_s_digests_are_collected_by_minute_and_only_there() -> None:
    filter_ = first_window({})
    first = filter_.spool(response(ndjson([NEW, TAIL, event("2024-03-06 23:59:59 +00:00")])))
    tail = filter_.result([first])
    assert tail.since == utc(2024, 3, 6, 23)
    assert tail.minutes == {
        utc(2024, 3, 6, 23, 10): row_digest(record_of(TAIL)),
        utc(2024, 3, 6, 23, 59): row_digest(record_of(event("2024-03-06 23:59:59 +00:00"))),
    }


def test_rows_between_the_two_spans_pay_no_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a window that is not the first: no re-read span, a tail from 23:00
    calls: list[Any] = []

    def counted(record: dict[str, Any]) -> bytes:
        calls.append(record)
        return b"\0" * 8

    monkeypatch.setattr(window_filter, "row_digest", counted)
    filter_ = WindowFilter(SHAPER.lines, SEND.transform, "createdAt", END - timedelta(hours=1))
    rows = [event(f"2024-03-06 {hour:02d}:00:00 +00:00") for hour in range(23)] + [TAIL]
    # when 24 rows are read, one of them in the tail
    filter_.spool(response(ndjson(rows)))
    # then one digest was taken, and every row was delivered
    assert [c["email"] for c in calls] == ["tail@example.com"]


def test_a_cursor_in_another_form_is_still_placed_by_its_time() -> None:
    # a createdAt with a fraction of a second is not the transform's usual form: read as a time
    filter_ = first_window(digests(event("2024-03-06 11:30:00.250 +00:00")))
    late_fraction = event("2024-03-06 11:59:59.900 +00:00", email="fraction@example.com")
    file = filter_.spool(response(ndjson([event("2024-03-06 11:30:00.250 +00:00"), late_fraction])))
    assert emails(file) == ["fraction@example.com"]


def test_a_row_without_a_readable_cursor_is_delivered_and_not_remembered() -> None:
    filter_ = first_window({})
    file = filter_.spool(response(ndjson([{"email": "x@example.com", "createdAt": "soon"}])))
    assert [line for block in file.blocks() for line in block]
    assert filter_.result([file]).minutes == {}


def test_the_digest_is_the_transformed_row_before_the_fold_so_the_catalog_does_not_change_it() -> None:
    # given two catalogs: one declaring every key of the row, one declaring only two of them
    row = event("2024-03-06 23:30:00 +00:00", brandNewField="x")
    wide = RecordShaper(SEND.transform, frozenset({"email", "createdAt", "brandNewField", ADDITIONAL_FIELDS}))
    narrow = RecordShaper(SEND.transform, frozenset({"email", "createdAt", ADDITIONAL_FIELDS}))
    found = []
    for shaper in (wide, narrow):
        filter_ = WindowFilter(shaper.lines, SEND.transform, "createdAt", END - timedelta(hours=1))
        file = filter_.spool(response(ndjson([row])))
        found.append(filter_.result([file]).minutes)
        records = [orjson.loads(line) for block in file.blocks() for line in block]
        assert ("brandNewField" in records[0]) is (shaper is wide)
    # then the same digest in both
    assert found[0] == found[1] != {}


def test_an_attempt_cut_mid_body_neither_leaves_out_nor_collects_anything() -> None:
    # given a body cut inside its last line (OLD, TAIL and half of a twin of TAIL), then read again whole
    filter_ = first_window(digests(OLD))
    body = ndjson([OLD, TAIL, TAIL])
    with pytest.raises(ProtocolError):
        filter_.spool(response(CutBody(body[: body.rindex(b"{") + 5])))
    file = filter_.spool(response(ndjson([OLD, TAIL])))
    # then the whole read leaves OLD out once and collects TAIL once
    assert emails(file) == ["tail@example.com"]
    tail = filter_.result([file])
    assert (tail.skipped, list(tail.minutes.values())) == (1, [row_digest(record_of(TAIL))])


def test_a_file_thrown_away_counts_no_more() -> None:
    # given a job's file read, then thrown away (the job failed), then read again from the next job
    filter_ = first_window(digests(OLD))
    thrown = filter_.spool(response(ndjson([OLD, TAIL])))
    thrown.close()
    again = filter_.spool(response(ndjson([OLD, TAIL])))
    # then the row delivered before is left out again, and only the kept file's digests count
    assert emails(again) == ["tail@example.com"]
    tail = filter_.result([again])
    assert tail.skipped == 1 and tail.minutes == {utc(2024, 3, 6, 23, 10): row_digest(record_of(TAIL))}


def test_the_pieces_of_a_window_share_what_was_delivered_before() -> None:
    # given a state that delivered OLD once, and a window split in two pieces that both hold a copy
    filter_ = first_window(digests(OLD))
    first, second = filter_.spool(response(ndjson([OLD]))), filter_.spool(response(ndjson([OLD])))
    # then one copy is left out and the other delivered
    assert [first.count, second.count] == [0, 1]


def test_a_denser_tail_than_the_cap_keeps_memory_bounded_by_dropping_its_oldest_minutes() -> None:
    # given a cap of 2 digests and 5 rows in 5 minutes of the tail
    rows = [event(f"2024-03-06 23:0{m}:00 +00:00", email=f"{m}@example.com") for m in range(5)]
    filter_ = WindowFilter(SHAPER.lines, SEND.transform, "createdAt", END - timedelta(hours=1), cap=2)
    file = filter_.spool(response(ndjson(rows)))
    tail = filter_.result([file])
    # then every row is delivered, the newest minutes are kept, and what was dropped is said
    assert file.count == 5
    assert sorted(tail.minutes) == [utc(2024, 3, 6, 23, 3), utc(2024, 3, 6, 23, 4)]
    assert tail.since == utc(2024, 3, 6, 23, 3) and tail.dropped == 3


def test_the_filter_converts_only_inside_an_attempt() -> None:
    with pytest.raises(RuntimeError, match="spool"):
        first_window({})([{"email": "a", "createdAt": "2024-03-06 23:00:00 +00:00"}])


def test_a_plain_converter_spools_as_before() -> None:
    spool = spooler(SHAPER.lines, None, None)
    assert spool(response(ndjson([NEW]))).count == 1


def test_a_block_with_one_cursor_in_another_offset_is_judged_row_by_row() -> None:
    # given rows between the spans in the export's UTC form, and one written with a +02:00 offset:
    # 13:30 +02:00 is 11:30 UTC, behind the bookmark, though its text sorts after it
    offset = event("2024-03-06 13:30:00 +02:00", email="offset@example.com")
    filter_ = first_window(digests(offset))
    middle = [
        event(f"2024-03-06 {hour}:00:00 +00:00", email=f"m{hour}@example.com") for hour in range(13, 20)
    ]
    # when they come in one block
    file = filter_.spool(response(ndjson([*middle, offset])))
    # then the re-read row delivered before is left out, and the others are delivered
    assert emails(file) == [f"m{hour}@example.com" for hour in range(13, 20)]
    assert filter_.result([file]).skipped == 1


def test_a_block_entirely_between_the_spans_is_converted_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a block whose every cursor lies between the bookmark and the tail
    filter_ = first_window({})
    monkeypatch.setattr(filter_, "_leave_out", lambda *args: pytest.fail("no row should be judged alone"))
    rows = [event(f"2024-03-06 {hour}:00:00 +00:00", email=f"m{hour}@example.com") for hour in range(12, 23)]
    # then it is delivered as it is, without a row-by-row look
    assert emails(filter_.spool(response(ndjson(rows)))) == [f"m{hour}@example.com" for hour in range(12, 23)]
