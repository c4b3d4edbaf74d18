"""``lookback/digests.py``: a row's identity, the digests a state keeps by minute, how they move with the
bookmark, and the cap that keeps a state bounded."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest

from source_iterable.lookback.digests import (
    DIGEST_SIZE,
    STATE_KEY,
    Digests,
    advance,
    ceil_second,
    cursor_moment,
    digests_from_state,
    floor_minute,
    row_digest,
)

from .builders import utc

HOUR = timedelta(hours=1)
B = utc(2024, 3, 6, 12)  # a bookmark


def d(n: int) -> bytes:
    """A distinct 8-byte digest."""
    return n.to_bytes(DIGEST_SIZE, "big")


def test_a_rows_identity_ignores_key_order_at_every_level() -> None:
    # given the same row as data.json and an export job file may each order it
    one = {"email": "a@example.com", "createdAt": "2024-03-06T10:00:00Z", "dataFields": {"x": 1, "y": [1, 2]}}
    other = {
        "dataFields": {"y": [1, 2], "x": 1},
        "createdAt": "2024-03-06T10:00:00Z",
        "email": "a@example.com",
    }
    # then both have one identity of 8 bytes
    assert row_digest(one) == row_digest(other)
    assert len(row_digest(one)) == DIGEST_SIZE


@pytest.mark.parametrize(
    "change",
    [
        {"email": "b@example.com"},
        {"createdAt": "2024-03-06T10:00:01Z"},
        {"dataFields": {"x": 2}},
        {"extra": None},
    ],
)
def test_any_change_of_content_is_another_row(change: dict[str, Any]) -> None:
    row = {"email": "a@example.com", "createdAt": "2024-03-06T10:00:00Z", "dataFields": {"x": 1}}
    assert row_digest(row) != row_digest({**row, **change})


def test_minutes_and_seconds_round_as_the_windows_need() -> None:
    assert floor_minute(utc(2024, 3, 6, 10, 5, 59)) == utc(2024, 3, 6, 10, 5)
    assert ceil_second(utc(2024, 3, 6, 10, 5, 59)) == utc(2024, 3, 6, 10, 5, 59)
    assert ceil_second(utc(2024, 3, 6, 10, 5, 59).replace(microsecond=1)) == utc(2024, 3, 6, 10, 6)


@pytest.mark.parametrize(
    "value,moment",
    [
        ("2024-03-06T10:00:00Z", utc(2024, 3, 6, 10)),
        ("2024-03-06T10:00:00.500Z", utc(2024, 3, 6, 10).replace(microsecond=500_000)),
        ("2024-03-06 10:00:00 +00:00", utc(2024, 3, 6, 10)),
        ("2024-03-06T12:00:00+02:00", utc(2024, 3, 6, 10)),
        ("not a time", None),
        (1709719200000, None),
        (None, None),
    ],
)
def test_a_cursor_value_is_read_in_every_form_the_transform_may_leave(value: Any, moment: datetime) -> None:
    assert cursor_moment(value) == moment


def test_the_state_form_round_trips_as_parsed_datetimes() -> None:
    # given digests of two minutes, one of which holds a row delivered twice
    held = Digests(B - HOUR, {B - HOUR: d(1) + d(2), B - timedelta(minutes=1): d(3) + d(3)})
    # when written into a state and read back
    state = {"createdAt": "2024-03-06T12:00:00Z", STATE_KEY: held.to_state()}
    # then it is the same, in the documented form
    assert digests_from_state(state, B) == held
    assert state[STATE_KEY] == {
        "from": "2024-03-06T11:00:00Z",
        "digests": {
            "2024-03-06T11:00:00Z": base64.b64encode(d(1) + d(2)).decode(),
            "2024-03-06T11:59:00Z": base64.b64encode(d(3) + d(3)).decode(),
        },
    }


def test_a_state_without_digests_holds_none() -> None:
    assert digests_from_state({"createdAt": "2024-03-06T12:00:00Z"}, B) is None
    assert digests_from_state(None, B) is None


@pytest.mark.parametrize(
    "part,problem",
    [
        ("nope", "must be an object"),
        ({"digests": {}}, "must be an object"),
        ({"from": "yesterday", "digests": {}}, "not an RFC 3339"),
        ({"from": "2024-03-06T13:00:00Z", "digests": {}}, "after the bookmark"),
        ({"from": "2024-03-06T11:00:00Z", "digests": []}, "minute -> base64"),
        ({"from": "2024-03-06T11:00:00Z", "digests": {"2024-03-06T11:00:30Z": "AAAAAAAAAAA="}}, "unreadable"),
        ({"from": "2024-03-06T11:00:00Z", "digests": {"2024-03-06T11:00:00Z": "AAAA"}}, "unreadable"),
        ({"from": "2024-03-06T11:00:00Z", "digests": {"2024-03-06T11:00:00Z": "!!"}}, "unreadable"),
    ],
)
def test_a_malformed_lookback_part_says_what_is_wrong(part: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        digests_from_state({"createdAt": "2024-03-06T12:00:00Z", STATE_KEY: part}, B)


def test_the_known_rows_of_a_span_count_each_delivery() -> None:
    held = Digests(
        B - HOUR, {B - HOUR: d(1), B - timedelta(minutes=30): d(2) + d(2), B - timedelta(minutes=1): d(3)}
    )
    # the minutes that meet [11:30:20, 12:00): the 11:30 one included, the 11:00 one not
    assert held.known(B - timedelta(minutes=29, seconds=40), B) == {d(2): 2, d(3): 1}


def test_advancing_keeps_the_lookback_span_behind_the_new_bookmark_and_adds_the_window() -> None:
    # given digests from 11:00 to the bookmark 12:00, and a window to 12:30 that collected two rows
    held = Digests(B - HOUR, {B - HOUR: d(1), B - timedelta(minutes=20): d(2)})
    collected = {B - timedelta(minutes=20): d(9), B + timedelta(minutes=10): d(3)}
    # when the window is delivered (lookback 60 minutes)
    advanced = advance(held, collected, B + timedelta(minutes=30), HOUR)
    # then minutes before 11:30 are dropped, the rest and the window's are kept, one multiset per minute
    assert advanced.dropped == 0
    assert advanced.digests == Digests(
        B - timedelta(minutes=30), {B - timedelta(minutes=20): d(2) + d(9), B + timedelta(minutes=10): d(3)}
    )


def test_a_window_that_could_not_collect_everything_moves_the_start_of_what_is_known() -> None:
    held = Digests(B - HOUR, {B - timedelta(minutes=40): d(1)})
    advanced = advance(held, {}, B + timedelta(minutes=5), HOUR, collected_since=B - timedelta(minutes=10))
    assert advanced.digests == Digests(B - timedelta(minutes=10), {})


def test_nothing_known_before_the_start_stays_unknown() -> None:
    # given a first sync that knew nothing before its start at 11:45
    held = Digests(B - timedelta(minutes=15))
    advanced = advance(held, {B: d(1)}, B + timedelta(minutes=30), HOUR)
    assert advanced.digests.since == B - timedelta(minutes=15)


def test_past_the_cap_the_newest_minutes_that_fit_are_kept_and_the_start_moves_up() -> None:
    # given 3 minutes of 2, 2 and 1 rows against a cap of 4 digests
    collected = {
        B - timedelta(minutes=3): d(1) + d(2),
        B - timedelta(minutes=2): d(3) + d(4),
        B - timedelta(minutes=1): d(5),
    }
    advanced = advance(Digests(B - HOUR), collected, B, HOUR, cap=4)
    # then the two newest minutes are kept and the next re-read reaches back to their start only
    assert advanced.digests == Digests(
        B - timedelta(minutes=2), {k: v for k, v in collected.items() if k > B - timedelta(minutes=3)}
    )
    assert advanced.dropped == 2


def test_when_not_even_the_newest_minute_fits_nothing_is_kept_and_nothing_will_be_read_again() -> None:
    advanced = advance(Digests(B - HOUR), {B - timedelta(minutes=1): d(1) + d(2) + d(3)}, B, HOUR, cap=2)
    assert advanced.digests == Digests(B, {}) and advanced.dropped == 3
