"""Lanes: a few worker threads per kind of request, so a request waiting on one budget never holds
up a request that could go out on another.

Each unit names its lane. A lane's width is how many of its requests are worth running at once: the
data.json lane runs 4 (its budget's burst; a large window downloads for minutes), the export jobs lane
one worker per job slot, and so on. Workers only fetch: the main thread decides what goes where
(``pick``) and prints everything.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.errors import Aborted, ConnectorError, FailureType
from ..api.limiter import long_waits_reported_to
from .units import Fetched, Handshake, Unit

# Lane name -> workers. The export jobs lane's width comes from max_concurrent_export_jobs.
RESOURCES = "resources"
EXPORT = "data.json export"
JOBS = "export jobs"
LIST_MEMBERS = "getUsers"
METRICS = "campaign metrics"
EXPERIMENT_METRICS = "experiment metrics"
LANE_WIDTHS: Mapping[str, int] = {
    RESOURCES: 4,
    EXPORT: 4,
    JOBS: 4,
    LIST_MEMBERS: 2,
    METRICS: 2,
    EXPERIMENT_METRICS: 2,
}


@dataclass
class Completion:
    unit: Unit
    fetched: Fetched | None
    error: ConnectorError | None
    stack_trace: str | None = None
    notice: Any = None  # a message from a unit still running (its fetched/error are None)


class UnexpectedError(ConnectorError):
    """A bug or an API change we do not understand; the TRACE keeps the stack trace."""


class Lane:
    def __init__(self, name: str, width: int, done: queue.Queue[Completion]) -> None:
        self.name = name
        self.width = width
        self.busy = 0
        self.in_flight: list[Unit] = []
        self._work: queue.Queue[Unit | None] = queue.Queue()
        self._done = done
        self._stopped = False
        self._notify_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name} {n}", daemon=True) for n in range(width)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def idle(self) -> int:
        return self.width - self.busy

    def submit(self, unit: Unit) -> None:
        self.busy += 1
        self.in_flight.append(unit)
        unit.notify = lambda notice: self._notify(unit, notice)
        self._work.put(unit)

    def _notify(self, unit: Unit, notice: Any) -> None:
        with self._notify_lock:
            if not self._stopped:
                self._done.put(Completion(unit, None, None, notice=notice))
                return
        if isinstance(notice, Handshake):
            notice.settle(False)  # the sync is over: nobody will record what the unit announces

    def finished(self, unit: Unit) -> None:
        self.busy -= 1
        self.in_flight.remove(unit)

    def stop(self) -> None:
        with self._notify_lock:
            self._stopped = True
        for _ in self._threads:
            self._work.put(None)

    def join(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Wait, until ``deadline`` at most, for the workers to finish the unit they hold (a stopping
        sync's workers cancel the export jobs they were polling)."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - clock()))

    def _serve(self) -> None:
        while (unit := self._work.get()) is not None:
            try:
                # A request of this unit that waits long on its budget tells the main thread (LongWait).
                with long_waits_reported_to(unit.notify):
                    fetched = unit.fetch(unit)
                self._done.put(Completion(unit, fetched, None))
            except Aborted:
                self._done.put(Completion(unit, None, ConnectorError("stopped", FailureType.system_error)))
            except ConnectorError as error:
                self._done.put(Completion(unit, None, error))
            except Exception as error:
                message = f"{unit.stream}, {unit.label}: unexpected error {type(error).__name__}: {error}"
                self._done.put(Completion(unit, None, UnexpectedError(message), traceback.format_exc()))


def pick(lane: str, candidates: Sequence[tuple[str, str | None, bool]], after: str | None) -> str | None:
    """The stream whose next unit goes out on ``lane``: round robin over ``candidates``
    (stream, lane of its next ready unit, may dispatch), starting after the stream served last."""
    names = [name for name, next_lane, allowed in candidates if allowed and next_lane == lane]
    if not names:
        return None
    order = [name for name, _, _ in candidates]
    start = order.index(after) + 1 if after in order else 0
    for name in order[start:] + order[:start]:
        if name in names:
            return name
    return None
