"""A stream that waits long on a budget says so: one RUNNING status with reason RATE_LIMITED and the
moment the budget reopens (quota_reset, epoch ms), once per wait; Airbyte's UI then shows the stream
as rate limited, "restarting in ...". Fake clocks throughout: nothing here sleeps."""

from __future__ import annotations

import io
import threading
from typing import Any

import orjson

from source_iterable.api.limiter import LONG_WAIT_SECONDS, Limiter, LongWait, long_waits_reported_to
from source_iterable.engine.lanes import EXPORT
from source_iterable.engine.output import Output
from source_iterable.engine.sync import Sync
from source_iterable.engine.track import ReadAhead
from source_iterable.engine.units import Batch, Fetched, Plan, StreamRun, Unit

EPOCH = 1_710_072_000.0  # the wall clock's reading when the fake monotonic clock reads 1000


class Clock:
    """A fake monotonic clock whose waits advance it, and the wall clock that moves with it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.naps = 0
        self.on_nap: Any = None

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + (self.now - 1000.0)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.naps += 1
        self.now += seconds
        if self.on_nap is not None:
            hook, self.on_nap = self.on_nap, None
            hook()


def spent(clock: Clock, requests: float, per_seconds: float = 60.0) -> Limiter:
    """A limiter whose whole window was just spent and answered."""
    pace = Limiter(
        "data.json export", requests, clock=clock, waiter=clock.wait, per_seconds=per_seconds, wall=clock.wall
    )
    for _ in range(pace.capacity):
        pace.acquire()
        pace.answered(200)
    return pace


# ------------------------------------------------------------------ the limiter tells


def test_a_long_wait_is_told_once_with_the_moment_the_budget_reopens() -> None:
    # given a 4-a-minute budget spent a moment ago
    clock = Clock()
    pace = spent(clock, 4)
    told: list[LongWait] = []

    # when a request waits for it, napping many times
    with long_waits_reported_to(told.append):
        waited = pace.acquire()

    # then the wait was told once, when it began, with the end it was going to have
    assert clock.naps > 100
    assert told == [LongWait("data.json export", EPOCH, EPOCH + 60 + pace.margin)]
    assert told[0].quota_reset_ms == round((EPOCH + 61) * 1000)
    assert waited == 60 + pace.margin


def test_a_short_wait_is_not_news() -> None:
    # given the 1-a-second export jobs budget, spent
    clock = Clock()
    pace = spent(clock, 1, per_seconds=1.0)
    told: list[LongWait] = []

    with long_waits_reported_to(told.append):
        waited = pace.acquire()

    assert 0 < waited < LONG_WAIT_SECONDS
    assert told == []


def test_a_wait_that_moves_much_later_is_told_again() -> None:
    # given a spent budget whose last request is still in flight, 30 s into the window
    clock = Clock()
    pace = Limiter("getUsers", 2, clock=clock, waiter=clock.wait, wall=clock.wall)
    pace.acquire()
    pace.answered(200)
    pace.acquire()  # in flight
    clock.now += 30
    told: list[LongWait] = []
    # and that request meets a 429 while we wait: the budget closes for a whole window from then
    clock.on_nap = lambda: pace.answered(429)

    with long_waits_reported_to(told.append):
        pace.acquire()

    # then the first end was told, and the later one too, for the same wait
    assert [(wait.since, round(wait.reopens_at - EPOCH)) for wait in told] == [
        (EPOCH + 30, 61),
        (EPOCH + 30, 92),
    ]


def test_a_wait_outside_a_listening_block_is_told_to_no_one_and_blocks_nest() -> None:
    clock = Clock()
    pace = spent(clock, 1)  # one a minute: each acquire below waits a whole window
    outer: list[LongWait] = []
    inner: list[LongWait] = []

    pace.acquire()  # no listener: nothing to tell, nothing breaks
    pace.answered(200)
    with long_waits_reported_to(outer.append):
        with long_waits_reported_to(inner.append):
            pace.acquire()
            pace.answered(200)
        pace.acquire()

    assert len(inner) == 1 and len(outer) == 1 and inner[0].since < outer[0].since


# ------------------------------------------------------------------ the engine prints it


class Waiting(StreamRun):
    """Units that each, before their records, wait on what ``wait_of`` says (a limiter or a notice)."""

    def __init__(self, name: str, units: list[Any], gates: list[threading.Event] | None = None) -> None:
        super().__init__(name)
        self.gates = gates or [threading.Event() for _ in units]
        for index, wait in enumerate(units):
            self.queue(Unit(name, EXPORT, f"window {index}", self._fetcher(index, wait), {"upTo": index}))

    def _fetcher(self, index: int, wait: Any) -> Any:
        def fetch(unit: Unit) -> Fetched:
            if isinstance(wait, Limiter):
                wait.acquire()
                wait.answered(200)
            elif isinstance(wait, LongWait):
                unit.notify(wait)  # what the limiter's listener does, as the lane installs it
            assert self.gates[index].wait(10), f"unit {index} never released"
            return Fetched(Batch([orjson.dumps({"unit": index})]), rows=1)

        return fetch

    def plan(self) -> Plan:
        return Plan("scripted", {})


def run(runs: list[StreamRun], release: Any, per_stream: int = 8) -> list[dict[str, Any]]:
    out = io.BytesIO()
    sync = Sync(runs, {EXPORT: 4}, Output(out), threading.Event(), ReadAhead(units_per_stream=per_stream))
    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    assert sync.run()
    releaser.join(5)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def trail(found: list[dict[str, Any]], stream: str) -> list[str]:
    steps = []
    for m in found:
        if m["type"] == "RECORD":
            steps.append(f"R{m['record']['data']['unit']}")
        elif m["type"] == "TRACE" and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream:
            status = m["trace"]["stream_status"]
            reasons = status.get("reasons") or []
            steps.append(
                f"RATE_LIMITED until {reasons[0]['rate_limited']['quota_reset']}"
                if reasons
                else status["status"]
            )
    return steps


def test_a_unit_waiting_long_on_its_budget_makes_its_stream_rate_limited_until_the_budget_reopens() -> None:
    # given an export stream whose one window waits on a spent 4-a-minute budget
    clock = Clock()
    pace = spent(clock, 4)
    stream = Waiting("email_send", [pace])
    stream.gates[0].set()

    # when the sync runs
    found = run([stream], lambda: None)

    # then the stream says it is rate limited until the budget reopens, then runs and completes
    reopens = round((EPOCH + 60 + pace.margin) * 1000)
    assert trail(found, "email_send") == [
        "STARTED",
        f"RATE_LIMITED until {reopens}",
        "RUNNING",
        "R0",
        "COMPLETE",
    ]


def test_waits_of_one_stream_are_one_status_until_a_record_comes() -> None:
    # given three windows of a stream: the first two wait at once, the third only after the first printed
    stream = Waiting(
        "email_open",
        [LongWait("data.json export", 100.0, 160.0), LongWait("data.json export", 101.0, 175.0), None],
    )

    def release() -> None:
        stream.gates[0].set()
        stream.gates[1].set()
        stream.gates[2].set()

    # when the sync runs, two windows in flight at most
    found = run([stream], release, per_stream=2)

    # then the second wait, begun while the first was shown, adds no status
    assert trail(found, "email_open") == [
        "STARTED",
        "RATE_LIMITED until 160000",
        "RUNNING",
        "R0",
        "R1",
        "R2",
        "COMPLETE",
    ]


def test_a_wait_after_records_is_shown_again() -> None:
    # given two windows; the second waits (from a moment before the first wait's end) after the first printed
    stream = Waiting(
        "email_click",
        [LongWait("data.json export", 100.0, 160.0), LongWait("data.json export", 130.0, 190.0)],
    )
    stream.gates[0].set()

    def release() -> None:
        stream.gates[1].set()

    # when only one window may be in flight or unprinted at a time
    found = run([stream], release, per_stream=1)

    # then the second wait is news again: the record in between made the platform show it running
    assert trail(found, "email_click") == [
        "STARTED",
        "RATE_LIMITED until 160000",
        "RUNNING",
        "R0",
        "RATE_LIMITED until 190000",
        "R1",
        "COMPLETE",
    ]
