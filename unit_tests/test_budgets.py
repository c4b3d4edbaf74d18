"""The budgets: declared once, looked up by request, and the limiter's rules (with a fake clock)."""

from __future__ import annotations

import random
import threading

import pytest

from source_iterable.api import budgets
from source_iterable.api.budgets import BUDGETS, Scope, budget_for, project_limiters
from source_iterable.api.errors import Aborted
from source_iterable.api.limiter import KeyGate, Limiter, margin_for
from source_iterable.config import ConfigError


class Clock:
    """A fake clock whose waits advance it: a limiter waiting 20 s returns at once, 20 s later."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def limiter(clock: Clock, per_minute: float) -> Limiter:
    return Limiter("test", per_minute, clock=clock, waiter=clock.wait)


def answered_ok(pace: Limiter) -> None:
    pace.acquire()
    pace.answered(200)


@pytest.mark.parametrize(
    "method,path,budget",
    [
        ("GET", "/api/export/data.json", "data.json export"),
        ("GET", "/api/lists/getUsers", "getUsers"),
        ("GET", "/api/campaigns/metrics", "campaign metrics"),
        ("GET", "/api/users/getFields", "getFields"),
        ("POST", "/api/export/start", "export jobs"),
        ("GET", "/api/export/3562/files", "export jobs"),
        ("DELETE", "/api/export/3562", "export job cancel"),
        ("GET", "/api/campaigns", "resources"),
        ("GET", "/api/templates", "resources"),
        ("GET", "/api/catalogs", "catalogs"),
        ("GET", "/api/catalogs/products/items", "catalogs"),
        ("GET", "/api/users/forgotten", "forgotten users"),
        ("GET", "/api/users/forgottenUserIds", "forgotten users"),
        ("GET", "/api/journeys", "journeys"),
        ("GET", "/api/snippets", "snippets"),
        ("GET", "/api/webhooks", "webhooks"),
        ("GET", "/api/experiments/metrics", "experiment metrics"),
    ],
)
def test_every_endpoint_draws_from_its_declared_budget(method: str, path: str, budget: str) -> None:
    found = budget_for(method, path)
    assert found is not None and found.name == budget


def test_endpoints_without_a_stated_limit_have_no_budget() -> None:
    assert budget_for("GET", "/api/metadata/products") is None
    assert budget_for("GET", "/api/export/jobs") is None
    assert budget_for("POST", "/api/export/data.json") is None


def test_the_documented_limits_are_the_defaults() -> None:
    by_name = {budget.name: budget for budget in BUDGETS}
    assert by_name["data.json export"].per_minute == 4
    assert by_name["getUsers"].per_minute == 5
    assert by_name["campaign metrics"].per_minute == 10
    assert by_name["getFields"].per_minute == 180
    assert by_name["export jobs"].per_minute == 60 and by_name["export jobs"].scope is Scope.ORGANIZATION
    # per API key: one key on one host
    assert by_name["catalogs"].per_minute == 6000 and by_name["catalogs"].scope is Scope.PROJECT
    assert by_name["forgotten users"].per_minute == 180
    # no published limit: the conservative choices of api/budgets.py
    assert [by_name[name].per_minute for name in ("journeys", "snippets", "webhooks")] == [180, 180, 180]
    assert by_name["experiment metrics"].per_minute == 10


def test_the_metrics_variable_paces_both_metrics_endpoints_each_with_its_own_limiter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ITERABLE_METRICS_REQUESTS_PER_MINUTE", "30")
    found = project_limiters("api.iterable.com", "key-metrics")
    campaigns = found.for_request("GET", "/api/campaigns/metrics")
    experiments = found.for_request("GET", "/api/experiments/metrics")
    assert campaigns is not None and experiments is not None and campaigns is not experiments
    assert campaigns.per_minute == experiments.per_minute == 30


def test_four_a_minute_lets_four_through_then_waits_for_the_window_and_its_margin() -> None:
    # given a 4/min budget that has answered once, and four requests at once
    clock = Clock()
    pace = limiter(clock, 4)
    first = clock.now
    for _ in range(4):
        answered_ok(pace)
    assert clock.waits == []
    # when a fifth request comes
    pace.acquire()
    # then it starts one window (plus the 1 s margin) after the first
    assert clock.now == pytest.approx(first + 60.0 + margin_for(60.0))
    assert margin_for(60.0) == 1.0 and margin_for(1.0) == 0.05


def test_until_a_budget_answers_once_only_one_request_is_in_flight() -> None:
    # given a fresh budget with one request in flight
    clock = Clock()
    pace = limiter(clock, 4)
    pace.acquire()
    # then a second request waits...
    assert pace.delay() > 0
    # ...until the first one answers
    pace.answered(200)
    assert pace.delay() == 0


def test_a_429_closes_the_budget_for_exactly_one_window_from_then() -> None:
    # given an open budget where another process had spent the window
    clock = Clock()
    pace = limiter(clock, 5)
    answered_ok(pace)
    clock.now += 5
    pace.acquire()
    refused_at = clock.now
    # when Iterable answers 429
    pace.answered(429)
    # then the next request starts one window after the 429, not an escalating backoff later
    pace.acquire()
    assert clock.now == pytest.approx(refused_at + 60.0 + 1.0)
    assert pace.throttled == 1


def test_a_fractional_rate_keeps_its_long_run_pace() -> None:
    clock = Clock()
    pace = limiter(clock, 0.5)
    answered_ok(pace)
    start = clock.now
    pace.acquire()
    assert clock.now == pytest.approx(start + 120.0 + 1.0)


def test_minimum_seconds_is_the_least_time_a_number_of_requests_needs() -> None:
    pace = limiter(Clock(), 4)
    assert pace.minimum_seconds(4) == 0
    assert pace.minimum_seconds(5) == 60
    assert pace.minimum_seconds(8) == 60
    assert pace.minimum_seconds(216) == 53 * 60


def test_an_abort_ends_a_wait() -> None:
    clock = Clock()
    pace = limiter(clock, 1)
    answered_ok(pace)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Aborted):
        pace.acquire(stop)


def test_limiters_are_shared_per_project_and_organization_budgets_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(budgets, "_SHARED", {})
    one = project_limiters("api.iterable.com", "key-one")
    again = project_limiters("api.iterable.com", "key-one")
    other = project_limiters("api.iterable.com", "key-two")
    assert one.named("data.json export") is again.named("data.json export")
    assert one.named("data.json export") is not other.named("data.json export")
    assert one.named("export jobs") is other.named("export jobs")


def test_the_environment_raises_a_budget_in_its_own_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budgets, "_SHARED", {})
    monkeypatch.setenv("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "120")
    monkeypatch.setenv("ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND", "20")
    found = project_limiters("h", "k")
    assert found.named("data.json export").per_minute == 120
    assert found.named("export jobs").per_minute == 1200


def test_a_bad_rate_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budgets, "_SHARED", {})
    monkeypatch.setenv("ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND", "fast")
    with pytest.raises(ConfigError, match="ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND"):
        project_limiters("h", "k")


def test_the_key_gate_lets_one_request_through_until_the_key_is_answered() -> None:
    clock = Clock()
    gate = KeyGate(waiter=clock.wait)
    gate.enter()
    # a refused key does not open the gate: the next request still goes alone
    gate.leave(401)
    assert not gate.proven
    gate.enter()
    # any other answer proves the key, a 500 included
    gate.leave(500)
    assert gate.proven
    gate.enter()
    gate.enter()  # no wait: two at once
    assert clock.waits == []


# ------------------------------------------------------------------ the rolling window (from test_rate_limit)


def test_a_request_waits_only_until_the_oldest_start_leaves_the_window() -> None:
    # given a 4/min budget and four requests spread over 30 s
    clock = Clock()
    pace = limiter(clock, 4)
    first = clock.now
    for _ in range(4):
        assert pace.acquire() == 0.0
        pace.answered(200)
        clock.now += 10.0
    assert clock.waits == []

    # when a fifth request comes 40 s after the first
    waited = pace.acquire()

    # then it waits until the first start is a window (and its margin) old, no longer
    assert waited == pytest.approx(21.0)
    assert clock.now == pytest.approx(first + 60.0 + margin_for(60.0))
    assert pace.waited == pytest.approx(21.0)
    assert pace.requests == 5


def test_a_burst_is_paced_by_the_oldest_starts() -> None:
    clock = Clock()
    pace = limiter(clock, 4)
    starts = []
    for _ in range(9):
        pace.acquire()
        pace.answered(200)
        starts.append(clock.now - 1_000.0)

    assert starts == pytest.approx([0.0, 0.0, 0.0, 0.0, 61.0, 61.0, 61.0, 61.0, 122.0])


def test_delay_reports_the_wait_without_taking_a_start() -> None:
    clock = Clock()
    pace = limiter(clock, 1)
    assert pace.delay() == 0.0
    answered_ok(pace)
    clock.now += 15.0

    assert pace.delay() == pytest.approx(46.0)
    assert pace.delay() == pytest.approx(46.0)
    assert pace.requests == 1


@pytest.mark.parametrize(
    ("per_minute", "capacity", "window"), [(4.0, 4, 60.0), (5.0, 5, 60.0), (1.5, 1, 40.0), (0.5, 1, 120.0)]
)
def test_never_more_than_capacity_starts_in_any_rolling_window(
    per_minute: float, capacity: int, window: float
) -> None:
    # given requests arriving at random (exactly representable) moments over a long run
    clock = Clock()
    pace = limiter(clock, per_minute)
    assert (pace.capacity, pace.window) == (capacity, window)
    arrivals = random.Random(20240310)
    starts: list[float] = []
    for _ in range(1_000):
        clock.now += arrivals.choice([0.0, 0.25, 1.0, 7.5, 14.75, 30.0, 61.0])
        pace.acquire()
        pace.answered(200)
        starts.append(clock.now)

    # then no rolling window (with its margin) holds more than `capacity` starts
    span = window + pace.margin
    for index, start in enumerate(starts):
        in_window = sum(1 for other in starts[index:] if other < start + span)
        assert in_window <= capacity, f"{in_window} starts in [{start}, {start + span})"
    # and the run did hit the limit (the property is not met by never being busy)
    assert any(starts[i] == pytest.approx(starts[i - capacity] + span) for i in range(capacity, len(starts)))


def test_waits_end_exactly_when_a_start_frees() -> None:
    clock = Clock()
    pace = limiter(clock, 4)
    arrivals = random.Random(7)
    starts: list[float] = []
    for _ in range(500):
        arrived = clock.now = clock.now + arrivals.choice([0.0, 0.5, 3.0, 20.0])
        waited = pace.acquire()
        pace.answered(200)
        starts.append(clock.now)
        if waited:
            assert clock.now == pytest.approx(starts[-1 - pace.capacity] + pace.window + pace.margin)
        else:
            assert clock.now == arrived


@pytest.mark.parametrize("per_minute", [0, -1])
def test_a_rate_must_be_positive(per_minute: float) -> None:
    with pytest.raises(ValueError):
        limiter(Clock(), per_minute)


def test_a_request_without_an_answer_does_not_confirm_the_budget() -> None:
    # given a fresh budget whose first request got no HTTP answer (a timeout)
    pace = limiter(Clock(), 4)
    pace.acquire()
    pace.answered(None)
    # then the next request still goes alone
    pace.acquire()
    assert pace.delay() > 0


def test_limiters_are_looked_up_by_request_with_the_documented_defaults() -> None:
    found = project_limiters("api.iterable.com", "key")

    export = found.for_request("GET", "/api/export/data.json")
    get_users = found.for_request("GET", "/api/lists/getUsers")
    assert export is not None and get_users is not None and export is not get_users
    assert (export.per_minute, get_users.per_minute) == (4.0, 5.0)
    assert found.for_request("GET", "/api/metadata/products") is None
    assert found.for_request("GET", "/api/export/data.csv") is None
    assert set(found.all()) == {budget.name for budget in BUDGETS}


def test_a_fractional_rate_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", "0.5")

    get_users = project_limiters("h", "k").named("getUsers")

    assert get_users.per_minute == 0.5 and (get_users.capacity, get_users.window) == (1, 120.0)


@pytest.mark.parametrize("value", ["fast", "0", "-3"])
def test_a_bad_pace_in_the_environment_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", value)

    with pytest.raises(ConfigError, match="ITERABLE_GETUSERS_REQUESTS_PER_MINUTE") as caught:
        project_limiters("h", "k")

    assert caught.value.field == "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"


def test_an_empty_variable_means_the_documented_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", " ")

    assert project_limiters("h", "k").named("data.json export").per_minute == 4.0


def test_one_set_of_limiters_per_project_and_host() -> None:
    same = project_limiters("api.iterable.com", "key-one").named("data.json export")

    assert project_limiters("api.iterable.com", "key-one").named("data.json export") is same
    assert project_limiters("api.eu.iterable.com", "key-one").named("data.json export") is not same
    # an organization budget is per host too
    assert project_limiters("api.eu.iterable.com", "key-one").named("export jobs") is not project_limiters(
        "api.iterable.com", "key-one"
    ).named("export jobs")


def test_a_raised_rate_of_a_request_a_second_or_more_is_applied_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given data.json raised to 6000 a minute and getUsers to 30 a minute
    monkeypatch.setattr(budgets, "_SHARED", {})
    monkeypatch.setenv("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "6000")
    monkeypatch.setenv("ITERABLE_GETUSERS_REQUESTS_PER_MINUTE", "30")
    found = project_limiters("h", "k")
    # then the first is 100 per second (a 429 closes it for a second), the second stays per minute
    assert (found.named("data.json export").capacity, found.named("data.json export").window) == (100, 1.0)
    assert (found.named("getUsers").capacity, found.named("getUsers").window) == (30, 60.0)
    assert found.named("data.json export").per_minute == 6000
