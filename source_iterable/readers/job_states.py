"""The export jobs API's answers as values, and the pure decisions about them: job states (read
case-insensitively), a files page checked, the poll waits, the latency guess that times the first
poll, and the jobs and job intents a stream's state records (so the next sync can reuse or cancel
them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ..api.errors import BodyError
from ..transforms import format_rfc3339, parse_rfc3339
from ..windows import Window

FIRST_POLL_SECONDS = 1.0
POLL_GROWTH = 1.5
MAX_POLL_SECONDS = 15.0


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_STATES = {
    "enqueued": JobState.QUEUED,
    "queued": JobState.QUEUED,
    "running": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "cancelling": JobState.CANCELLED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
}


def job_state(value: Any) -> JobState | None:
    """``jobState`` case-insensitively: the API answers lower case, its spec says capitalised."""
    return _STATES.get(value.strip().lower()) if isinstance(value, str) else None


@dataclass(frozen=True)
class FileRef:
    name: str
    url: str


@dataclass(frozen=True)
class FilesPage:
    state: JobState
    truncated: bool
    files: list[FileRef]


def files_page(payload: Any, job_id: int) -> FilesPage:
    """One answer of the files call, checked: an unknown state or a malformed file list is an error."""
    if not isinstance(payload, dict):
        raise BodyError(f"job {job_id}: the files answer is not a JSON object")
    state = job_state(payload.get("jobState"))
    if state is None:
        raise BodyError(f"job {job_id}: unknown jobState {payload.get('jobState')!r}")
    files = payload.get("files") or []
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("file"), str) and isinstance(f.get("url"), str)
        for f in files
    ):
        raise BodyError(f"job {job_id}: the files list is not a list of {{file, url}}")
    return FilesPage(
        state, bool(payload.get("exportTruncated")), [FileRef(f["file"], f["url"]) for f in files]
    )


def poll_delays(first: float = FIRST_POLL_SECONDS) -> Iterator[float]:
    """Seconds before each poll: near a second at first, growing, capped (every poll spends budget)."""
    delay = first
    while True:
        yield delay
        delay = min(MAX_POLL_SECONDS, delay * POLL_GROWTH)


@dataclass
class JobStarted:
    job_id: int
    window: Window | None  # None: an export of the whole history (no date filter)


@dataclass(frozen=True)
class JobIntent:
    """An export job about to be started: written into the stream's STATE before the start call, so a
    sync killed before the job's id reaches a STATE still leaves a trace the next sync can match."""

    data_type: str
    window: Window | None
    at: datetime  # this host's UTC clock just before the start call


@dataclass
class LatencyGuess:
    """How long this sync's jobs took to complete: the next job's first poll waits about that long,
    so a job costs one start and one files call instead of a string of early polls."""

    seconds: float | None = None
    first: float = FIRST_POLL_SECONDS  # the first wait, before any job of the sync has completed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def learn(self, seconds: float) -> None:
        with self._lock:
            self.seconds = seconds if self.seconds is None else 0.7 * self.seconds + 0.3 * seconds

    def first_poll(self) -> float:
        with self._lock:
            return self.first if self.seconds is None else max(self.first, self.seconds * 0.95)


def first_poll_seconds() -> float:
    """The first wait before polling a job (tests shorten it with the fake's short job latency)."""
    raw = os.environ.get("ITERABLE_EXPORT_JOB_POLL_SECONDS", "").strip()
    try:
        value = float(raw) if raw else FIRST_POLL_SECONDS
    except ValueError:
        value = -1.0
    if value <= 0:
        from ..config import ConfigError

        raise ConfigError(
            "ITERABLE_EXPORT_JOB_POLL_SECONDS", f"must be a positive number of seconds, got {raw!r}"
        )
    return value


def recorded_jobs(stream_state: Any) -> list[tuple[int, Window]]:
    """The jobs a stream's state lists as started and not yet printed: ``[(job id, window)]``."""
    jobs = stream_state.get("jobs") if isinstance(stream_state, Mapping) else None
    found: list[tuple[int, Window]] = []
    for entry in jobs if isinstance(jobs, list) else []:
        try:
            found.append(
                (int(entry["id"]), Window(parse_rfc3339(entry["start"]), parse_rfc3339(entry["end"])))
            )
        except (KeyError, TypeError, ValueError):
            continue  # an entry we cannot read is a job we cannot safely touch
    return found


def job_entry(job: int, window: Window) -> dict[str, Any]:
    return {"id": job, "start": format_rfc3339(window.start), "end": format_rfc3339(window.end)}


def intent_entry(intent: JobIntent) -> dict[str, Any]:
    entry: dict[str, Any] = {"dataTypeName": intent.data_type, "at": format_rfc3339(intent.at)}
    if intent.window is not None:
        entry |= {"start": format_rfc3339(intent.window.start), "end": format_rfc3339(intent.window.end)}
    return entry


def recorded_intents(stream_state: Any) -> list[JobIntent]:
    """The job intents a stream's state lists: start calls whose job id it never recorded."""
    intents = stream_state.get("intents") if isinstance(stream_state, Mapping) else None
    found: list[JobIntent] = []
    for entry in intents if isinstance(intents, list) else []:
        try:
            window = (
                Window(parse_rfc3339(entry["start"]), parse_rfc3339(entry["end"]))
                if "start" in entry
                else None
            )
            data_type = entry["dataTypeName"]
            if not isinstance(data_type, str) or not data_type:
                continue
            found.append(JobIntent(data_type, window, parse_rfc3339(entry["at"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # an intent we cannot read names no job we could safely touch
    return found
