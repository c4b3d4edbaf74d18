"""Iterable's request budgets, declared once, and the limiter every request waits on.

Iterable counts calls per project (one API key on one host) and endpoint, not per stream, so every
stream that hits an endpoint draws from the same budget: 53 export streams share 4 data.json calls a
minute. The export jobs calls are counted per organization, which a process cannot see, so that
budget is shared by every project this process talks to on the host.

A limiter allows at most ``requests`` starts in any rolling ``per_seconds``. Two rules keep a sync free
of 429s and cheap when it meets one anyway:
- until a budget has answered once, one request at a time: when another process spent the budget
  just before (a ``check``, the previous sync), only that one request meets the 429, not a burst;
- a 429 closes the budget for one whole window from that moment. Everything the server counted was
  sent before the 429, so the next request is accepted; waiting never exceeds one window and never
  escalates.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from .errors import Aborted

Clock = Callable[[], float]


class Scope(Enum):
    PROJECT = "project"  # one API key on one host
    ORGANIZATION = "organization"  # every key on the host: the process cannot tell organizations apart


@dataclass(frozen=True)
class Budget:
    name: str
    routes: tuple[str, ...]  # "METHOD /path", a "*" segment matches any one segment
    requests: int
    per_seconds: float
    scope: Scope = Scope.PROJECT
    env_var: str | None = None
    env_per_seconds: float = 60.0  # the unit of the env var's figure: per minute, or per second

    @property
    def per_minute(self) -> float:
        return self.requests * 60.0 / self.per_seconds


RESOURCE_ROUTES = (
    "GET /api/campaigns",
    "GET /api/channels",
    "GET /api/lists",
    "GET /api/messageTypes",
    "GET /api/templates",
)

# From Iterable's API documentation (fact sheet section 3). The metadata endpoints state no limit.
BUDGETS: tuple[Budget, ...] = (
    Budget(
        "data.json export",
        ("GET /api/export/data.json",),
        4,
        60.0,
        env_var="ITERABLE_EXPORT_REQUESTS_PER_MINUTE",
    ),
    Budget(
        "getUsers", ("GET /api/lists/getUsers",), 5, 60.0, env_var="ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"
    ),
    Budget(
        "campaign metrics",
        ("GET /api/campaigns/metrics",),
        10,
        60.0,
        env_var="ITERABLE_METRICS_REQUESTS_PER_MINUTE",
    ),
    Budget(
        "getFields", ("GET /api/users/getFields",), 3, 1.0, env_var="ITERABLE_GETFIELDS_REQUESTS_PER_MINUTE"
    ),
    Budget(
        "export jobs",
        ("POST /api/export/start", "GET /api/export/*/files"),
        1,
        1.0,
        Scope.ORGANIZATION,
        "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND",
        env_per_seconds=1.0,
    ),
    Budget("export job cancel", ("DELETE /api/export/*",), 1, 1.0),
    Budget("resources", RESOURCE_ROUTES, 100, 1.0),
)


def budget_for(method: str, path: str, budgets: tuple[Budget, ...] = BUDGETS) -> Budget | None:
    parts = path.rstrip("/").split("/")
    for budget in budgets:
        for route in budget.routes:
            verb, pattern = route.split(" ", 1)
            wanted = pattern.split("/")
            if verb == method and len(wanted) == len(parts):
                if all(w == "*" or w == p for w, p in zip(wanted, parts, strict=True)):
                    return budget
    return None


def env_rate(name: str, default: float) -> float:
    """A rate from the environment (tests and benchmarks raise the pace together with the fake's)."""
    from ..config import ConfigError  # config imports this module's users; keep the cycle lazy

    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        rate = float(value)
    except ValueError:
        raise ConfigError(name, f"must be a number of requests, got {value!r}") from None
    if rate <= 0:
        raise ConfigError(name, f"must be positive, got {value!r}")
    return rate


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


class Limiters:
    """The limiters one sync draws from, looked up by request; shared per project or per host."""

    def __init__(self, by_budget: Mapping[str, Limiter], budgets: tuple[Budget, ...] = BUDGETS) -> None:
        self._by_budget = dict(by_budget)
        self._budgets = budgets

    def for_request(self, method: str, path: str) -> Limiter | None:
        budget = budget_for(method, path, self._budgets)
        return self._by_budget.get(budget.name) if budget is not None else None

    def named(self, name: str) -> Limiter:
        return self._by_budget[name]

    def all(self) -> Mapping[str, Limiter]:
        return dict(self._by_budget)


_SHARED: dict[tuple[str, str, str], Limiter] = {}
_SHARED_LOCK = threading.Lock()


def rate_of(budget: Budget) -> tuple[float, float]:
    """``(requests, per seconds)`` of the budget, or the environment's override (in its own unit).

    A raised rate of at least one request a second is applied per second: the same pace, without
    bursts of a whole minute's worth, and a 429 then closes the budget for a second, not a minute.
    """
    if budget.env_var is None:
        return float(budget.requests), budget.per_seconds
    default = budget.requests * budget.env_per_seconds / budget.per_seconds
    rate = env_rate(budget.env_var, default)
    if budget.env_per_seconds > 1.0 and rate / budget.env_per_seconds >= 1.0 and rate != default:
        return rate / budget.env_per_seconds, 1.0
    return rate, budget.env_per_seconds


def project_limiters(host: str, api_key: str, budgets: tuple[Budget, ...] = BUDGETS) -> Limiters:
    """One limiter per budget and project (host + key), or per host for organization budgets,
    for the whole process: a check and a read in one process share them."""
    project = hashlib.sha256(api_key.encode()).hexdigest()
    found: dict[str, Limiter] = {}
    with _SHARED_LOCK:
        for budget in budgets:
            owner = project if budget.scope is Scope.PROJECT else "*"
            key = (host, owner, budget.name)
            if key not in _SHARED:
                requests, per_seconds = rate_of(budget)
                _SHARED[key] = Limiter(budget.name, requests, per_seconds=per_seconds)
            found[budget.name] = _SHARED[key]
    return Limiters(found, budgets)
