from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from source_iterable.windows import (
    DEFAULT_SPLIT_FLOOR,
    LARGE_BYTES,
    LARGE_ROWS,
    MAX_WINDOW,
    MIN_WINDOW,
    SMALL_BYTES,
    SMALL_ROWS,
    Window,
    WindowSizer,
    api_datetime,
    date_windows,
    export_upper_bound,
    split_window,
)

from .builders import utc


def test_windows_are_contiguous_half_open_and_the_last_one_is_shorter() -> None:
    windows = list(date_windows(utc(2024, 1, 1), utc(2024, 1, 8, 6), timedelta(days=3)))

    assert windows == [
        Window(utc(2024, 1, 1), utc(2024, 1, 4)),
        Window(utc(2024, 1, 4), utc(2024, 1, 7)),
        Window(utc(2024, 1, 7), utc(2024, 1, 8, 6)),
    ]
    for earlier, later in pairwise(windows):
        assert earlier.end == later.start


def test_windows_cover_start_to_end_exactly_when_the_range_divides() -> None:
    windows = list(date_windows(utc(2024, 1, 1), utc(2024, 1, 3), timedelta(days=1)))

    assert [w.width for w in windows] == [timedelta(days=1)] * 2
    assert windows[0].start == utc(2024, 1, 1) and windows[-1].end == utc(2024, 1, 3)


@pytest.mark.parametrize("end", [utc(2024, 1, 1), utc(2023, 12, 31)])
def test_no_windows_when_start_is_at_or_after_end(end: datetime) -> None:
    assert list(date_windows(utc(2024, 1, 1), end, timedelta(days=1))) == []


def test_windows_are_whole_seconds() -> None:
    start = utc(2024, 1, 1).replace(microsecond=999_999)
    end = utc(2024, 1, 2, 0, 0, 5).replace(microsecond=500_000)

    windows = list(date_windows(start, end, timedelta(hours=12)))

    assert windows[0].start == utc(2024, 1, 1)
    assert windows[-1].end == utc(2024, 1, 2, 0, 0, 5)
    assert all(w.start.microsecond == 0 and w.end.microsecond == 0 for w in windows)


def test_a_sub_second_range_yields_nothing() -> None:
    start = utc(2024, 1, 1)
    assert list(date_windows(start, start.replace(microsecond=900_000), timedelta(days=1))) == []


@pytest.mark.parametrize("size", [timedelta(0), timedelta(seconds=-1)])
def test_window_size_must_be_positive(size: timedelta) -> None:
    with pytest.raises(ValueError):
        list(date_windows(utc(2024, 1, 1), utc(2024, 1, 2), size))


def test_split_halves_meet_at_a_whole_second() -> None:
    # given an odd number of seconds
    window = Window(utc(2024, 1, 1), utc(2024, 1, 1, 1, 0, 1))

    halves = split_window(window, timedelta(minutes=15))

    assert halves == (
        Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 30, 0)),
        Window(utc(2024, 1, 1, 0, 30, 0), utc(2024, 1, 1, 1, 0, 1)),
    )


def test_split_at_the_floor_still_splits_and_below_it_returns_none() -> None:
    thirty_minutes = Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 30))
    just_under = Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 29, 59))

    assert split_window(thirty_minutes, DEFAULT_SPLIT_FLOOR) is not None
    assert split_window(just_under, DEFAULT_SPLIT_FLOOR) is None


def test_a_one_second_window_is_never_split() -> None:
    assert split_window(Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 1)), timedelta(0)) is None


def test_default_floor_is_fifteen_minutes() -> None:
    assert DEFAULT_SPLIT_FLOOR == timedelta(minutes=15)


def test_export_upper_bound_subtracts_the_lag_and_truncates_to_the_second() -> None:
    now = utc(2024, 3, 10, 12, 0, 0).replace(microsecond=654_321)

    assert export_upper_bound(now, timedelta(minutes=5)) == utc(2024, 3, 10, 11, 55, 0)
    assert export_upper_bound(now, timedelta(0)) == utc(2024, 3, 10, 12, 0, 0)


def test_api_datetime_is_the_documented_query_form() -> None:
    assert api_datetime(utc(2024, 1, 15, 10, 30, 0)) == "2024-01-15 10:30:00"
    assert api_datetime(utc(2024, 1, 5, 3, 4, 5)) == "2024-01-05 03:04:05"


def test_window_width_and_text() -> None:
    window = Window(utc(2024, 1, 1), utc(2024, 1, 2, 1))

    assert window.width == timedelta(hours=25)
    assert str(window) == "[2024-01-01T00:00:00Z, 2024-01-02T01:00:00Z)"


# --- adaptive window sizing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "body_bytes", "split", "truncated", "days"),
    [
        (0, 0, False, False, 40),  # empty: four times as wide
        (SMALL_ROWS - 1, SMALL_BYTES - 1, False, False, 20),  # small in rows and bytes: twice
        (SMALL_ROWS - 1, SMALL_BYTES, False, False, 10),  # not small in bytes: kept
        (SMALL_ROWS, 1, False, False, 10),  # not small in rows: kept
        (LARGE_ROWS, LARGE_BYTES, False, False, 10),  # at the large thresholds: kept
        (LARGE_ROWS + 1, 1, False, False, 5),  # large in rows: half
        (1, LARGE_BYTES + 1, False, False, 5),  # large in bytes: half
        (0, 0, True, False, 5),  # split: half, whatever it held
        (0, 0, False, True, 5),  # truncated: half
    ],
)
def test_the_next_window_follows_what_the_last_one_held(
    rows: int, body_bytes: int, split: bool, truncated: bool, days: int
) -> None:
    sizer = WindowSizer(timedelta(days=10))

    sizer.observe(rows, body_bytes, split, truncated)

    assert sizer.width == timedelta(days=days)


def test_windows_grow_to_a_year_at_most_and_shrink_to_an_hour_at_least() -> None:
    growing = WindowSizer(timedelta(days=200))
    growing.observe(0, 0)
    shrinking = WindowSizer(timedelta(minutes=90))
    shrinking.observe(LARGE_ROWS + 1, 0)

    assert growing.width == MAX_WINDOW == timedelta(days=365)
    assert shrinking.width == MIN_WINDOW == timedelta(hours=1)


def test_a_halved_window_stays_in_whole_seconds() -> None:
    sizer = WindowSizer(timedelta(hours=2, seconds=3))
    sizer.observe(0, 0, split=True)
    assert sizer.width == timedelta(hours=1, seconds=1)


def test_fixed_windows_ignore_what_they_held() -> None:
    sizer = WindowSizer(timedelta(days=30), adaptive=False)
    for rows in (0, LARGE_ROWS + 1):
        sizer.observe(rows, 0, split=True)
    assert sizer.width == timedelta(days=30)


def test_the_next_window_starts_where_asked_and_is_cut_at_the_upper_bound() -> None:
    sizer = WindowSizer(timedelta(days=3))

    assert sizer.next_window(utc(2024, 1, 1), utc(2024, 1, 10)) == Window(utc(2024, 1, 1), utc(2024, 1, 4))
    assert sizer.next_window(utc(2024, 1, 8), utc(2024, 1, 10)) == Window(utc(2024, 1, 8), utc(2024, 1, 10))
    assert sizer.next_window(utc(2024, 1, 10), utc(2024, 1, 10)) is None
    assert sizer.next_window(utc(2024, 1, 11), utc(2024, 1, 10)) is None
    # whole seconds at both ends
    start = utc(2024, 1, 1).replace(microsecond=900_000)
    assert sizer.next_window(start, utc(2024, 1, 2).replace(microsecond=5)) == Window(
        utc(2024, 1, 1), utc(2024, 1, 2)
    )
