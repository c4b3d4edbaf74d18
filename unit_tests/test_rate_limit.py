from __future__ import annotations

import random

import pytest

from source_iterable.config import ConfigError
from source_iterable.rate_limit import (
    SAFETY_MARGIN_SECONDS,
    ProjectLimiters,
    RollingWindowLimiter,
    project_limiters,
)

from .builders import API_KEY, EXPORT_PATH, GET_USERS_PATH, FakeClock


def limiter(clock: FakeClock, per_minute: float, margin: float = 0.0) -> RollingWindowLimiter:
    """A limiter without the safety margin, so the window arithmetic can be checked exactly."""
    return RollingWindowLimiter(per_minute, clock=clock, sleep=clock.sleep, margin=margin)


def test_four_a_minute_lets_four_through_then_waits_until_the_first_leaves_the_window(
    clock: FakeClock,
) -> None:
    # given a 4/min limiter and four requests spread over 30 s
    pace = limiter(clock, 4)
    first = clock.now
    for _ in range(4):
        assert pace.acquire() == 0.0
        clock.now += 10.0
    assert clock.sleeps == []

    # when a fifth request comes 40 s after the first
    waited = pace.acquire()

    # then it waits exactly until the first start is 60 s old
    assert waited == pytest.approx(20.0)
    assert clock.sleeps == [pytest.approx(20.0)]
    assert clock.now == pytest.approx(first + 60.0)
    assert pace.waited == pytest.approx(20.0)


def test_the_safety_margin_keeps_the_reopening_request_clear_of_the_window_edge(clock: FakeClock) -> None:
    # given the default margin, which absorbs the delay between our send and Iterable's count
    pace = RollingWindowLimiter(4, clock=clock, sleep=clock.sleep)
    assert pace.margin == SAFETY_MARGIN_SECONDS > 0
    first = clock.now
    for _ in range(4):
        pace.acquire()

    # when a fifth request comes
    pace.acquire()

    # then it starts the margin after the first request's window closed
    assert clock.now == pytest.approx(first + 60.0 + SAFETY_MARGIN_SECONDS)


def test_a_burst_is_paced_by_the_oldest_starts(clock: FakeClock) -> None:
    pace = limiter(clock, 4)
    starts = []
    for _ in range(9):
        pace.acquire()
        starts.append(clock.now - 1_000.0)

    assert starts == [0.0, 0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 60.0, 120.0]


def test_delay_reports_the_wait_without_taking_a_slot(clock: FakeClock) -> None:
    pace = limiter(clock, 1)
    assert pace.delay() == 0.0
    pace.acquire()
    clock.now += 15.0

    assert pace.delay() == pytest.approx(45.0)
    assert pace.delay() == pytest.approx(45.0)


@pytest.mark.parametrize(
    ("per_minute", "capacity", "window"), [(4.0, 4, 60.0), (5.0, 5, 60.0), (1.5, 1, 40.0)]
)
def test_never_more_than_capacity_starts_in_any_rolling_window(
    clock: FakeClock, per_minute: float, capacity: int, window: float
) -> None:
    # given requests arriving at random (exactly representable) moments over a long run
    pace = limiter(clock, per_minute)
    assert (pace.capacity, pace.window) == (capacity, window)
    arrivals = random.Random(20240310)
    starts: list[float] = []
    for _ in range(2_000):
        clock.now += arrivals.choice([0.0, 0.25, 1.0, 7.5, 14.75, 30.0, 61.0])
        pace.acquire()
        starts.append(clock.now)

    # then no rolling window holds more than `capacity` starts
    for index, start in enumerate(starts):
        in_window = sum(1 for other in starts[index:] if other < start + window)
        assert in_window <= capacity, f"{in_window} starts in [{start}, {start + window})"
    # and the run did hit the limit (the property is not met by never being busy)
    assert any(starts[i] == starts[i - capacity] + window for i in range(capacity, len(starts)))


def test_waits_end_exactly_when_a_slot_frees(clock: FakeClock) -> None:
    pace = limiter(clock, 4)
    arrivals = random.Random(7)
    starts: list[float] = []
    for _ in range(500):
        arrived = clock.now = clock.now + arrivals.choice([0.0, 0.5, 3.0, 20.0])
        waited = pace.acquire()
        starts.append(clock.now)
        if waited:
            assert clock.now == starts[-1 - pace.capacity] + pace.window
        else:
            assert clock.now == arrived


def test_fractional_rate_half_per_minute_is_one_per_120_seconds(clock: FakeClock) -> None:
    pace = limiter(clock, 0.5)
    assert (pace.capacity, pace.window, pace.slot_seconds) == (1, 120.0, 120.0)

    pace.acquire()
    waited = pace.acquire()
    pace.acquire()

    assert waited == pytest.approx(120.0)
    assert clock.sleeps == [pytest.approx(120.0), pytest.approx(120.0)]


def test_slot_seconds_is_the_average_spacing(clock: FakeClock) -> None:
    assert limiter(clock, 4).slot_seconds == 15.0
    assert limiter(clock, 5).slot_seconds == 12.0


@pytest.mark.parametrize("per_minute", [0, -1])
def test_rate_must_be_positive(clock: FakeClock, per_minute: float) -> None:
    with pytest.raises(ValueError):
        limiter(clock, per_minute)


def test_project_limiters_pick_the_limiter_by_path_with_the_documented_defaults() -> None:
    limiters = ProjectLimiters()

    export = limiters.for_path(EXPORT_PATH)
    get_users = limiters.for_path(GET_USERS_PATH)
    assert export is not None and get_users is not None
    assert export is not get_users
    assert (export.per_minute, get_users.per_minute) == (4.0, 5.0)
    assert limiters.for_path("/api/channels") is None
    assert limiters.for_path("/api/export/data.csv") is None


def test_project_limiters_read_the_pace_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "120")
    monkeypatch.setenv("ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", "0.5")

    limiters = ProjectLimiters()

    export = limiters.for_path(EXPORT_PATH)
    get_users = limiters.for_path(GET_USERS_PATH)
    assert export is not None and export.per_minute == 120.0
    assert get_users is not None and get_users.per_minute == 0.5


def test_explicit_rates_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "120")

    export = ProjectLimiters(rates={EXPORT_PATH: 30.0}).for_path(EXPORT_PATH)

    assert export is not None and export.per_minute == 30.0


@pytest.mark.parametrize("value", ["fast", "0", "-3"])
def test_a_bad_pace_in_the_environment_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", value)

    with pytest.raises(ConfigError, match="ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"):
        ProjectLimiters()


def test_limiters_share_the_clock_and_sleep_they_are_given(clock: FakeClock) -> None:
    limiters = ProjectLimiters(clock=clock, sleep=clock.sleep, rates={EXPORT_PATH: 1.0})
    export = limiters.for_path(EXPORT_PATH)
    assert export is not None

    export.acquire()
    export.acquire()

    assert clock.sleeps == [pytest.approx(60.0 + SAFETY_MARGIN_SECONDS)]


def test_one_set_of_limiters_per_project() -> None:
    same = project_limiters("api.iterable.com", API_KEY)

    assert project_limiters("api.iterable.com", API_KEY) is same
    assert project_limiters("api.iterable.com", API_KEY + "x") is not same
    assert project_limiters("api.eu.iterable.com", API_KEY) is not same
