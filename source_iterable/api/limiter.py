"""The limiter every request waits on, and the gate that holds requests until the key is proven.

A limiter allows at most ``capacity`` starts in any rolling window. Two rules keep a sync free of 429s
and cheap when it meets one anyway:
- until a budget has answered once, one request at a time: when another process spent the budget
  just before (a ``check``, the previous sync), only that one request meets the 429, not a burst;
- a 429 closes the budget for one whole window from that moment. Everything the server counted was
  sent before the 429, so the next request is accepted; waiting never exceeds one window and never
  escalates.

A wait longer than ``LONG_WAIT_SECONDS`` is told, once, to whoever listens on the waiting thread
(``long_waits_reported_to``): the engine turns it into a RATE_LIMITED stream status for the unit's stream.

Which budgets exist and who shares them is ``budgets.py``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import Aborted

Clock = Callable[[], float]
# Airbyte's UI shows nothing for a stream that waits; past a few seconds it is worth saying it is rate
# limited and when it goes on. Shorter waits (the 1-a-second export jobs budget) are not news.
LONG_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class LongWait:
    """A request waits on ``budget`` from ``since`` until ``reopens_at`` (both epoch seconds)."""

    budget: str
    since: float
    reopens_at: float

    @property
    def quota_reset_ms(self) -> int:
        return math.ceil(self.reopens_at * 1000)


WaitListener = Callable[[LongWait], None]
_listening = threading.local()


@contextmanager
def long_waits_reported_to(listener: WaitListener) -> Iterator[None]:
    """Tell ``listener`` about each long wait of a request made on this thread inside the block (a
    worker fetching one unit of one stream)."""
    previous: WaitListener | None = getattr(_listening, "listener", None)
    _listening.listener = listener
    try:
        yield
    finally:
        _listening.listener = previous


def _report(wait: LongWait) -> None:
    listener: WaitListener | None = getattr(_listening, "listener", None)
    if listener is not None:
        listener(wait)


def margin_for(window: float) -> float:
    """We stamp a request when we send it; Iterable counts it when it arrives, a little later. The
    request that reopens a window therefore waits a margin past it (without one, 1 of 9 requests
    met a 429 against the fake at 4/min); a 60 s window gets 1 s, a 1 s window 50 ms."""
    return min(1.0, max(0.05, window * 0.05))


Waiter = Callable[[threading.Condition, float], None]


def _wait(condition: threading.Condition, seconds: float) -> None:
    condition.wait(seconds)


class Limiter:
    """At most ``capacity`` request starts in any rolling ``window`` seconds, thread-safe.

    Use ``with limiter.slot() as slot: ...; slot.answered(status)``. A fractional rate such as
    0.5/min becomes 1 request per 120 s, so the long-run pace is exact.
    """

    def __init__(
        self,
        name: str,
        requests: float,
        clock: Clock = time.monotonic,
        waiter: Waiter = _wait,
        *,
        per_seconds: float = 60.0,
        wall: Clock = time.time,
    ) -> None:
        """``requests`` per ``per_seconds`` (a minute unless said otherwise)."""
        if requests <= 0 or per_seconds <= 0:
            raise ValueError("a budget needs a positive number of requests per positive seconds")
        self.name = name
        self.per_minute = requests * 60.0 / per_seconds
        self.capacity = max(1, math.floor(requests))
        # 1 a second is a window of 1 s, not 60 a minute: a burst of 60 would meet 429s.
        self.window = per_seconds * self.capacity / requests
        self.margin = margin_for(self.window)
        self._clock = clock
        self._wall = wall
        self._waiter = waiter
        self._starts: deque[float] = deque()
        self._condition = threading.Condition()
        self._in_flight = 0
        self._confirmed = False
        self._closed_until = 0.0
        self.requests = 0
        self.throttled = 0
        self.waited = 0.0
        self.waiting = 0

    def delay(self) -> float:
        """Seconds until the next request may start (0 when it may start now)."""
        with self._condition:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        horizon = self.window + self.margin
        while self._starts and self._starts[0] <= now - horizon:
            self._starts.popleft()
        if not self._confirmed and self._in_flight:
            return 0.25  # re-checked when the request in flight answers
        pause = max(0.0, self._closed_until - now)
        if len(self._starts) >= self.capacity:
            pause = max(pause, self._starts[0] + horizon - now)
        return pause

    def acquire(self, abort: threading.Event | None = None) -> float:
        """Wait for a start and take it; returns the seconds waited. Raises ``Aborted`` on abort."""
        started = self._clock()
        told: LongWait | None = None
        with self._condition:
            self.waiting += 1
            try:
                while True:
                    if abort is not None and abort.is_set():
                        raise Aborted()
                    now = self._clock()
                    pause = self._delay(now)
                    if pause <= 0:
                        break
                    if pause > LONG_WAIT_SECONDS:
                        # Once per wait: again only if it now ends much later than told (a 429, or
                        # another thread took the start this one waited for).
                        wall = self._wall()
                        if told is None or wall + pause > told.reopens_at + LONG_WAIT_SECONDS:
                            told = LongWait(self.name, told.since if told else wall, wall + pause)
                            _report(told)  # a queue put: safe under this lock
                    # Short naps so an abort is noticed promptly; an answer wakes us at once.
                    self._waiter(self._condition, min(pause, 0.5))
            finally:
                self.waiting -= 1
            now = self._clock()
            self._starts.append(now)
            self._in_flight += 1
            self.requests += 1
            waited = now - started
            self.waited += waited
            return waited

    def answered(self, status: int | None) -> None:
        """The request taken with ``acquire`` got ``status`` (None: no HTTP answer at all)."""
        with self._condition:
            self._in_flight = max(0, self._in_flight - 1)
            if status == 429:
                self.throttled += 1
                self._confirmed = False
                self._closed_until = self._clock() + self.window + self.margin
            elif status is not None:
                self._confirmed = True
            self._condition.notify_all()

    def seconds_for(self, requests: int) -> float:
        """The least time from now until ``requests`` more calls have all started, given the calls
        already in the window (and a window closed by a 429)."""
        with self._condition:
            now = self._clock()
            self._delay(now)  # forget the starts that left the window
            horizon = self.window + self.margin
            starts = list(self._starts)
            last = now
            for _ in range(requests):
                last = max(now, self._closed_until)
                if len(starts) >= self.capacity:
                    last = max(last, starts[-self.capacity] + horizon)
                starts.append(last)
            return last - now

    def minimum_seconds(self, requests: int) -> float:
        """The least time ``requests`` calls can take at this rate, starting with an open window."""
        if requests <= self.capacity:
            return 0.0
        return math.ceil(requests / self.capacity - 1) * self.window


class KeyGate:
    """Until Iterable has answered the key once, one request at a time across the whole sync.

    A wrong key then costs one request, not one per stream or per lane; any answer but 401/403
    proves the key (a 500 says nothing against it), and everything waiting goes at once.
    """

    def __init__(self, waiter: Waiter = _wait) -> None:
        self._condition = threading.Condition()
        self._waiter = waiter
        self.proven = False
        self._in_flight = 0

    def enter(self, abort: threading.Event | None = None) -> None:
        with self._condition:
            while not self.proven and self._in_flight:
                if abort is not None and abort.is_set():
                    raise Aborted()
                self._waiter(self._condition, 0.5)
            self._in_flight += 1

    def leave(self, status: int | None) -> None:
        with self._condition:
            self._in_flight -= 1
            if status is not None and status not in (401, 403):
                self.proven = True
            self._condition.notify_all()
