"""``engine/progress.py``: the plan lines at the start, the least wall time the budgets allow, the
progress text while a sync runs, and the summary at its end (pure functions of a snapshot)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from source_iterable.api.limiter import Limiter
from source_iterable.api.spool import Progress as Download
from source_iterable.engine.lanes import EXPORT, LIST_MEMBERS, RESOURCES
from source_iterable.engine.progress import (
    Progress,
    budget_needs,
    duration,
    expected_line,
    plan_lines,
    size,
    summary,
)
from source_iterable.engine.units import Plan

from .builders import FakeClock


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (59.4, "59s"),
        (59.6, "1m00s"),
        (60, "1m00s"),
        (125, "2m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (5430, "1h30m"),
        (29 * 3600 + 61, "29h01m"),
    ],
)
def test_duration_is_short_and_rounded_to_the_second(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("num_bytes", "text"), [(0, "0 kB"), (99_499, "99 kB"), (100_000, "0.1 MB"), (1_550_000, "1.6 MB")]
)
def test_size_is_kilobytes_below_a_tenth_of_a_megabyte(num_bytes: int, text: str) -> None:
    assert size(num_bytes) == text


def limiters(clock: FakeClock) -> dict[str, Limiter]:
    return {
        EXPORT: Limiter(EXPORT, 4, clock, clock.wait),
        LIST_MEMBERS: Limiter(LIST_MEMBERS, 5, clock, clock.wait),
    }


PLANS = {
    "email_send": Plan("up to 9 data.json windows of 30 days", {EXPORT: 9}),
    "email_open": Plan("up to 9 data.json windows of 30 days", {EXPORT: 9}),
    "list_users": Plan("GET /api/lists, then one per list getUsers calls", {LIST_MEMBERS: 6}),
    "channels": Plan("one GET /api/channels", {RESOURCES: 1}),
    "metadata": Plan("the table list, each table's keys, then one call per key", {}),
}


def test_budget_needs_add_up_every_streams_requests_slowest_budget_first(clock: FakeClock) -> None:
    needs = budget_needs(PLANS, limiters(clock))

    assert [(n.budget, n.requests, n.streams, n.minimum_seconds) for n in needs] == [
        (EXPORT, 18, 2, 240.0),
        (LIST_MEMBERS, 6, 1, 60.0),
        (RESOURCES, 1, 1, 0.0),
    ]


def test_a_plan_line_per_stream_names_its_requests_their_rate_and_what_they_share(clock: FakeClock) -> None:
    lines = plan_lines(PLANS, limiters(clock))

    assert lines == [
        "plan for stream 'email_send': up to 9 data.json windows of 30 days; 9 data.json export requests "
        "(4/min, shared by 2 streams: 18 in all; at least 2m00s for this stream)",
        "plan for stream 'email_open': up to 9 data.json windows of 30 days; 9 data.json export requests "
        "(4/min, shared by 2 streams: 18 in all; at least 2m00s for this stream)",
        "plan for stream 'list_users': GET /api/lists, then one per list getUsers calls; 6 getUsers requests "
        "(5/min; at least 1m00s for this stream)",
        "plan for stream 'channels': one GET /api/channels; 1 resources requests (no stated limit; at least 0s "
        "for this stream)",
        "plan for stream 'metadata': the table list, each table's keys, then one call per key; no requests",
    ]


def test_the_expected_wall_time_is_set_by_the_slowest_budget(clock: FakeClock) -> None:
    assert expected_line(PLANS, limiters(clock)) == (
        "expected minimum wall time: 4m00s, set by the data.json export budget (18 requests at 4/min); "
        "the budgets are spent side by side (others: getUsers 1m00s)"
    )


def test_the_expected_wall_time_of_a_small_sync_is_under_a_minute(clock: FakeClock) -> None:
    small = {"email_send": Plan("one window", {EXPORT: 4}), "metadata": Plan("keys", {})}

    assert expected_line(small, limiters(clock)) == (
        "expected minimum wall time: under a minute (no budget needs more than one window)"
    )
    assert expected_line({}, limiters(clock)).startswith("expected minimum wall time: under a minute")


def unit(stream: str, label: str, num_bytes: int, rows: int, note: str = "") -> Any:
    return SimpleNamespace(
        stream=stream, label=label, progress=Download(bytes=num_bytes, rows=rows, note=note)
    )


def test_the_progress_text_says_what_downloads_what_waits_and_what_is_left(clock: FakeClock) -> None:
    # given two streams downloading, the export budget spent for now with a request waiting on it
    pace = limiters(clock)
    reporter = Progress(PLANS, pace, clock)
    for _ in range(4):
        pace[EXPORT].acquire()
        pace[EXPORT].answered(200)
    pace[EXPORT].waiting = 1
    clock.now += 20
    lanes = {
        EXPORT: SimpleNamespace(
            in_flight=[
                unit("email_send", "window [2024-01-01T00:00:00Z, 2024-01-31T00:00:00Z)", 2_500_000, 12_345),
                unit(
                    "email_open",
                    "window [2024-01-01T00:00:00Z, 2024-01-31T00:00:00Z)",
                    4_000,
                    7,
                    "job 3562 running, 1 files",
                ),
            ]
        ),
        RESOURCES: SimpleNamespace(in_flight=[]),
    }
    sync: Any = SimpleNamespace(lanes=lanes, records=1_234_567)

    # when / then
    text = reporter.text(sync, clock.now)
    assert text == (
        "progress after 20s: 1,234,567 records printed; "
        "downloading: email_send window [2024-01-01T00:00:00Z, 2024-01-31T00:00:00Z) (2.5 MB, 12,345 rows so far); "
        "email_open window [2024-01-01T00:00:00Z, 2024-01-31T00:00:00Z) (4 kB, 7 rows so far, job 3562 running, 1 files); "
        "waiting for the data.json export budget (next request in 41s); "
        # 14 to go at 4 a minute, the next start in 41 s: starts at 41, 102, 163 and 224 s
        "at least 3m44s left (the data.json export budget: 14 requests to go)"
    )


def test_the_progress_text_of_an_idle_sync(clock: FakeClock) -> None:
    reporter = Progress({"metadata": Plan("keys", {})}, limiters(clock), clock)
    sync: Any = SimpleNamespace(lanes={}, records=0)

    assert reporter.text(sync, clock.now + 5) == "progress after 5s: 0 records printed; downloading: nothing"


def test_a_budget_is_named_as_waited_for_only_while_a_request_waits_on_it(clock: FakeClock) -> None:
    # given a spent export budget
    pace = limiters(clock)
    reporter = Progress({"email_send": Plan("w", {EXPORT: 8})}, pace, clock)
    for _ in range(4):
        pace[EXPORT].acquire()
        pace[EXPORT].answered(200)
    sync: Any = SimpleNamespace(lanes={}, records=4)

    # then it is not named while nothing waits on it, nor once it has reopened
    assert "waiting for" not in reporter.text(sync, clock.now)
    pace[EXPORT].waiting = 2
    assert "waiting for the data.json export budget (next request in 1m01s)" in reporter.text(sync, clock.now)
    clock.now += 61
    assert "waiting for" not in reporter.text(sync, clock.now)


def test_time_left_counts_only_the_requests_made_since_the_start(clock: FakeClock) -> None:
    # given a budget that made requests before this sync (a check in the same process)
    pace = limiters(clock)
    for _ in range(3):
        pace[LIST_MEMBERS].acquire()
        pace[LIST_MEMBERS].answered(200)
    reporter = Progress({"list_users": Plan("lists", {LIST_MEMBERS: 6})}, pace, clock)
    # (a lower bound: 2 of the 6 fit in the window now, the other 4 once the 3 made leave it, 61 s on)
    assert reporter.time_left() == (LIST_MEMBERS, 61.0, 6)

    pace[LIST_MEMBERS].acquire()
    pace[LIST_MEMBERS].answered(200)
    assert reporter.time_left() == (LIST_MEMBERS, 61.0, 5)
    clock.now += 61
    assert reporter.time_left() == (LIST_MEMBERS, 0.0, 5)


def test_progress_is_logged_at_most_once_an_interval(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = Progress({}, limiters(clock), clock, interval=30)
    sync: Any = SimpleNamespace(lanes={}, records=0)

    with caplog.at_level(logging.INFO, logger="airbyte"):
        reporter.tick(sync)
        clock.now += 29
        reporter.tick(sync)
        clock.now += 1
        reporter.tick(sync)
        clock.now += 10
        reporter.tick(sync)

    assert [r.getMessage() for r in caplog.records] == [
        "progress after 30s: 0 records printed; downloading: nothing"
    ]


def test_the_summary_names_the_streams_that_did_not_complete() -> None:
    # given a sync where lists completed and users did not (failed, or stopped by an abort)
    lists, users = (
        SimpleNamespace(name="lists", completed=True),
        SimpleNamespace(name="users", completed=False),
    )
    failed: Any = SimpleNamespace(tracks=[lists, users], records=1_500)
    fine: Any = SimpleNamespace(tracks=[lists], records=3)

    assert summary(failed, 75, 2_000_000) == (
        "sync finished in 1m15s: 1,500 records; peak temporary disk 2.0 MB; incomplete streams: users"
    )
    assert summary(fine, 2, 0) == "sync finished in 2s: 3 records; peak temporary disk 0 kB"
