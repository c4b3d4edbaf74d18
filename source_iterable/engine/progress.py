"""What a person (and Airbyte's platform, which treats a silent source as dead) sees while a sync runs.

At the start, a line per stream with its plan and one with the sync's least possible wall time; then,
at least every ``interval`` seconds, what is downloading, what waits on which budget, the records so
far, and the time left that the budgets allow. The texts are pure functions of a snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..api.limiter import Limiter
from .units import Plan

if TYPE_CHECKING:
    from .sync import Sync

LOGGER = logging.getLogger("airbyte")
INTERVAL_SECONDS = 30.0


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def size(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 100_000 else f"{num_bytes / 1e3:.0f} kB"


@dataclass(frozen=True)
class BudgetNeed:
    budget: str
    requests: int
    streams: int
    minimum_seconds: float


def budget_needs(plans: Mapping[str, Plan], limiters: Mapping[str, Limiter]) -> list[BudgetNeed]:
    """Requests per budget over all streams, and the least time each budget allows for them."""
    totals: dict[str, int] = {}
    users: dict[str, int] = {}
    for plan in plans.values():
        for budget, count in plan.requests.items():
            totals[budget] = totals.get(budget, 0) + count
            users[budget] = users.get(budget, 0) + 1
    needs = [
        BudgetNeed(
            name, count, users[name], limiters[name].minimum_seconds(count) if name in limiters else 0.0
        )
        for name, count in totals.items()
    ]
    return sorted(needs, key=lambda need: -need.minimum_seconds)


def plan_lines(plans: Mapping[str, Plan], limiters: Mapping[str, Limiter]) -> list[str]:
    needs = {need.budget: need for need in budget_needs(plans, limiters)}
    lines = []
    for name, plan in plans.items():
        parts = []
        for budget, count in plan.requests.items():
            need = needs[budget]
            shared = f", shared by {need.streams} streams: {need.requests} in all" if need.streams > 1 else ""
            rate = f"{limiters[budget].per_minute:g}/min" if budget in limiters else "no stated limit"
            alone = limiters[budget].minimum_seconds(count) if budget in limiters else 0.0
            parts.append(
                f"{count} {budget} requests ({rate}{shared}; at least {duration(alone)} for this stream)"
            )
        lines.append(f"plan for stream '{name}': {plan.summary}; " + ("; ".join(parts) or "no requests"))
    return lines


def expected_line(plans: Mapping[str, Plan], limiters: Mapping[str, Limiter]) -> str:
    needs = budget_needs(plans, limiters)
    if not needs or needs[0].minimum_seconds <= 0:
        return "expected minimum wall time: under a minute (no budget needs more than one window)"
    first = needs[0]
    others = ", ".join(
        f"{n.budget} {duration(n.minimum_seconds)}" for n in needs[1:] if n.minimum_seconds > 0
    )
    return (
        f"expected minimum wall time: {duration(first.minimum_seconds)}, set by the {first.budget} budget "
        f"({first.requests} requests at {limiters[first.budget].per_minute:g}/min); the budgets are spent "
        f"side by side" + (f" (others: {others})" if others else "")
    )


class Progress:
    def __init__(
        self,
        plans: Mapping[str, Plan],
        limiters: Mapping[str, Limiter],
        clock: Callable[[], float] = time.monotonic,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._plans = plans
        self._limiters = limiters
        self._clock = clock
        self._interval = interval
        self.started = clock()
        self._last = self.started
        self._requests_at_start = {name: limiter.requests for name, limiter in limiters.items()}

    def tick(self, sync: Sync) -> None:
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        LOGGER.info(self.text(sync, now))

    def text(self, sync: Sync, now: float) -> str:
        downloading = []
        for lane in sync.lanes.values():
            for unit in lane.in_flight:
                progress = unit.progress
                note = f", {progress.note}" if progress.note else ""
                downloading.append(
                    f"{unit.stream} {unit.label} ({size(progress.bytes)}, {progress.rows:,} rows so far{note})"
                )
        waiting = [
            f"the {name} budget (next request in {duration(limiter.delay())})"
            for name, limiter in self._limiters.items()
            if limiter.waiting and limiter.delay() > 0
        ]
        left = self.time_left()
        parts = [f"progress after {duration(now - self.started)}: {sync.records:,} records printed"]
        parts.append("downloading: " + ("; ".join(downloading) if downloading else "nothing"))
        if waiting:
            parts.append("waiting for " + ", ".join(waiting))
        if left is not None:
            parts.append(
                f"at least {duration(left[1])} left (the {left[0]} budget: {left[2]} requests to go)"
            )
        return "; ".join(parts)

    def time_left(self) -> tuple[str, float, int] | None:
        best: tuple[str, float, int] | None = None
        for need in budget_needs(self._plans, self._limiters):
            limiter = self._limiters.get(need.budget)
            if limiter is None:
                continue
            made = limiter.requests - self._requests_at_start.get(need.budget, 0)
            remaining = max(0, need.requests - made)
            seconds = limiter.seconds_for(remaining)  # a lower bound: the calls already in the window count
            if best is None or seconds > best[1]:
                best = (need.budget, seconds, remaining)
        return best


def summary(sync: Sync, elapsed: float, peak_disk: int) -> str:
    incomplete = [track.name for track in sync.tracks if not track.completed]
    text = f"sync finished in {duration(elapsed)}: {sync.records:,} records; peak temporary disk {size(peak_disk)}"
    return text + (f"; incomplete streams: {', '.join(incomplete)}" if incomplete else "")
