"""Client-side pacing: at most N requests in any rolling window, declared once per endpoint.

Iterable counts calls per project (one API key on one host), not per stream, so every stream that
hits the same endpoint must draw from the same limiter: nine export streams share one budget of
4 requests a minute.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .config import env_rate

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateLimit:
    path: str
    per_minute: float
    env_var: str


# From Iterable's API documentation; the other endpoints we call allow 100 requests a second,
# far above what a sequential sync can spend.
RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit("/api/export/data.json", 4.0, "ITERABLE_EXPORT_REQUESTS_PER_MINUTE"),
    RateLimit("/api/lists/getUsers", 5.0, "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"),
    # Documented as 3 requests a second; one call per discover and per sync (users schema and dates).
    RateLimit("/api/users/getFields", 180.0, "ITERABLE_GETFIELDS_REQUESTS_PER_MINUTE"),
    RateLimit("/api/campaigns/metrics", 10.0, "ITERABLE_METRICS_REQUESTS_PER_MINUTE"),
)


# We stamp a request when we send it; Iterable counts it when it arrives, a little later. Without
# a margin, the request that reopens the window can reach Iterable a hair inside its 60 seconds
# and be refused (seen against the fake server: 1 of 9 requests got a 429).
SAFETY_MARGIN_SECONDS = 1.0


class RollingWindowLimiter:
    """Blocks in ``acquire`` until a request fits: at most ``capacity`` starts per ``window`` seconds.

    A fractional rate such as 0.5/min becomes 1 request per 120 s, so the long-run pace is exact.
    """

    def __init__(
        self,
        per_minute: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        margin: float = SAFETY_MARGIN_SECONDS,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.capacity = max(1, math.floor(per_minute))
        self.window = 60.0 * self.capacity / per_minute
        self._clock = clock
        self._sleep = sleep
        self.margin = margin
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def delay(self) -> float:
        """Seconds until the next request may start (0 when it may start now)."""
        now = self._clock()
        self._forget_before(now - self.window - self.margin)
        if len(self._starts) < self.capacity:
            return 0.0
        return max(0.0, self._starts[0] + self.window + self.margin - now)

    def acquire(self) -> float:
        """Wait for a slot and take it; returns the seconds waited."""
        with self._lock:
            waited = 0.0
            while (pause := self.delay()) > 0:
                self._sleep(pause)
                waited += pause
            self._starts.append(self._clock())
            self.waited += waited
            return waited

    @property
    def slot_seconds(self) -> float:
        """The average spacing of requests at this rate: how long one slot takes to come back."""
        return 60.0 / self.per_minute

    def _forget_before(self, cutoff: float) -> None:
        while self._starts and self._starts[0] <= cutoff:
            self._starts.popleft()


class ProjectLimiters:
    """The limiters of one Iterable project, looked up by request path."""

    def __init__(
        self,
        limits: tuple[RateLimit, ...] = RATE_LIMITS,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        self._by_path = {
            limit.path: RollingWindowLimiter(
                (rates or {}).get(limit.path) or env_rate(limit.env_var, limit.per_minute), clock, sleep
            )
            for limit in limits
        }

    def for_path(self, path: str) -> RollingWindowLimiter | None:
        return self._by_path.get(path)


_PROJECTS: dict[tuple[str, str], ProjectLimiters] = {}
_PROJECTS_LOCK = threading.Lock()


def project_limiters(host: str, api_key: str) -> ProjectLimiters:
    """One set of limiters per project (host + key) for the whole process."""
    key = (host, hashlib.sha256(api_key.encode()).hexdigest())
    with _PROJECTS_LOCK:
        if key not in _PROJECTS:
            _PROJECTS[key] = ProjectLimiters()
        return _PROJECTS[key]
