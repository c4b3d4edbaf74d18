"""The values the engine moves around: a unit of work, what fetching it produced, and a stream's run.

A **unit** is one fetch a worker does on one lane (an export window, one list's members, a page set
of a resource): it ends as a **batch** of records on disk or in memory, plus the stream state that
holds once those records are printed. A **stream run** plans its units in order, learns from each
fetched one (adaptive windows, the lists to read) and says what a failure means.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..api.errors import ConnectorError
from ..api.spool import Progress, RecordFile


class Batch:
    """Records ready to print: JSON lines in memory or in record files on disk."""

    def __init__(self, lines: list[bytes] | None = None, files: list[RecordFile] | None = None) -> None:
        self.lines = lines or []  # the records' JSON
        self.files = files or []  # whole RECORD lines when the file has a stream, else the JSON
        self.count = len(self.lines) + sum(f.count for f in self.files)
        self.size = sum(f.size for f in self.files)

    def blocks(self) -> Iterator[list[bytes]]:
        """The records' JSON (memory) and the files' lines, a block at a time."""
        if self.lines:
            yield self.lines
        for file in self.files:
            yield from file.blocks()

    def close(self) -> None:
        for file in self.files:
            file.close()
        self.files = []
        self.lines = []


EMPTY = Batch()


@dataclass
class Fetched:
    """What one unit produced. ``rows``/``body_bytes`` describe the download, for window sizing."""

    batch: Batch
    rows: int = 0
    body_bytes: int = 0
    pieces: int = 1  # >1 when the window had to be split (or came in several job files)
    truncated: bool = False
    found: Any = None  # what the unit learned for its run to plan from (the lists, a table's keys)


Fetch = Callable[["Unit"], Fetched]


class Handshake:
    """A notice its worker waits on: the main thread acts on the notice (prints the STATE it implies),
    then settles it, and only then does the worker go on. Told no (its stream ended before it) or with
    the sync stopping, the worker does not go on."""

    def __init__(self, notice: Any) -> None:
        self.notice = notice
        self._settled = threading.Event()
        self._accepted = False

    def settle(self, accepted: bool) -> None:
        self._accepted = accepted
        self._settled.set()

    def wait(self, abort: threading.Event | None, poll: float = 0.1) -> bool:
        """True once the main thread accepted; False when it refused or ``abort`` is set first."""
        while not self._settled.wait(poll):
            if abort is not None and abort.is_set():
                return False
        return self._accepted


def _unattended(notice: Any) -> None:
    """The notify of a unit no engine runs (fetched directly): nobody to wait for."""
    if isinstance(notice, Handshake):
        notice.settle(True)


@dataclass(eq=False)
class Unit:
    stream: str
    lane: str
    label: str  # "window [2024-01-01T00:00:00Z, 2024-01-31T00:00:00Z)", "list 3301122"
    fetch: Fetch
    checkpoint: Mapping[str, Any] | None = None  # the stream state once this unit's records are out
    index: int = -1  # the unit's place in its stream's emission order, set when queued
    progress: Progress = field(default_factory=Progress)
    # Tells the main thread something while the unit runs (an export job started); set by the lane.
    notify: Callable[[Any], None] = field(default=_unattended, repr=False)

    def handshake(self, notice: Any, abort: threading.Event | None) -> bool:
        """Tell the main thread ``notice`` and wait until it has acted on it (False: do not go on)."""
        shake = Handshake(notice)
        self.notify(shake)
        return shake.wait(abort)


class Verdict(Enum):
    SKIP = "skip"  # the unit's records are lost, the stream goes on and fails at its end (one list)
    FAIL_STREAM = "fail stream"  # the stream stops after the units before this one
    ABORT_SYNC = "abort sync"  # nothing can work (a refused key): stop every stream, no more requests


@dataclass(frozen=True)
class Plan:
    """What a stream will fetch, for the log line at the start and the expected wall time."""

    summary: str  # "24 windows of 30 days from 2024-01-01 to 2025-12-01"
    requests: Mapping[str, int]  # budget name -> calls (an estimate where the API decides, e.g. lists)


class StreamRun:
    """One selected stream in one sync. Subclasses plan units and interpret failures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready: deque[Unit] = deque()
        self.planned = 0  # units queued so far; the emitter is done when it has printed them all
        self.errors: list[str] = []  # skipped units, reported when the stream ends

    def queue(self, unit: Unit) -> Unit:
        unit.index = self.planned
        self.planned += 1
        self.ready.append(unit)
        return unit

    def plan(self) -> Plan:
        raise NotImplementedError

    def refill(self, outstanding: int) -> None:
        """Plan more units now that ``outstanding`` are queued or in flight (default: all planned)."""

    def planning_done(self) -> bool:
        return True

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        """Feedback from a fetched unit, in completion order (not emission order)."""

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        return Verdict.FAIL_STREAM

    def noticed(self, unit: Unit, notice: Any) -> Mapping[str, Any] | None:
        """A running unit's notice (a handshake's is unwrapped); a returned state is printed at once,
        before a handshake is settled (it must not move the bookmark)."""
        return None

    def state_after(self, unit: Unit) -> Mapping[str, Any] | None:
        """The STATE printed after ``unit``'s records (None: no STATE)."""
        return unit.checkpoint

    def final_state(self) -> Mapping[str, Any] | None:
        """The STATE printed after the last unit, or None when the last unit's checkpoint stands."""
        return None

    def final_error(self) -> ConnectorError | None:
        if not self.errors:
            return None
        return ConnectorError(f"stream '{self.name}': " + "; ".join(self.errors))
