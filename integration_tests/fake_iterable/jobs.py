"""The export job book: Iterable's asynchronous export jobs, driven by a clock.

A job is created by ``POST /api/export/start``. Its rows are taken at creation time by the same selection
function ``/api/export/data.json`` uses (``ServerState.export_window``), cut at the truncation cap, split
into NDJSON files of at most ``file_bytes`` bytes (a single longer line gets a file of its own), and written
to a private temporary folder that the storage host serves from.

Timeline (nothing runs in the background; every answer is computed from the clock):

- Jobs queue first-come first-served behind the organization's ``max_running`` (4) slots. A job is
  ``enqueued`` for at least ``queue_seconds`` and starts at ``max(created + queue_seconds, the time a slot
  frees up)``; a slot frees up when its job completes, fails, or has been
  ``cancelling`` for ``cancel_seconds``. Past start times never move: a cancellation only frees a slot
  from the moment it happens.
- Once started the job spends ``setup = base_latency (+ job_slow seconds)`` before its first row, then
  ``row_seconds`` per row. A file is listed as soon as its last row is exported, so files appear while the
  job runs; the job completes when its last file appears (an empty window completes after ``setup`` with
  no files).
- ``job_failed`` ends the run at ``fail_at`` running seconds (``failed``); ``job_requeue`` pauses it:
  ``enqueued`` for a while, then ``running`` again with its progress kept (it keeps its slot meanwhile).
- The start call answers ``start_answer_seconds`` after the job exists (0: at once).
- ``DELETE`` of an enqueued job makes it ``cancelled`` at once; of a running one ``cancelling`` for
  ``cancel_seconds``, then ``cancelled``. Files stop appearing at the moment of the DELETE.

File names look like Iterable's (``file-1679086247925.json``): epoch milliseconds of the job's creation
plus the file's ready offset, strictly increasing within a job, so they sort by name in the order they
appear (``startAfter`` paging compares names).
"""

from __future__ import annotations

import heapq
import itertools
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

JOB_STATES = ("enqueued", "running", "completed", "failed", "cancelling", "cancelled")
TERMINAL = ("completed", "failed", "cancelled")
FIRST_JOB_ID = 3562  # the jobId of the documented example
FILES_PAGE = 10
GB = 1_000_000_000

# FakeIterable argument -> (environment variable, type). Unset arguments fall back to the variable.
SETTING_ENV: dict[str, tuple[str, type]] = {
    "queue_seconds": ("FAKE_ITERABLE_JOB_QUEUE_SECONDS", float),
    "base_latency": ("FAKE_ITERABLE_JOB_BASE_LATENCY_SECONDS", float),
    "row_seconds": ("FAKE_ITERABLE_JOB_ROW_SECONDS", float),
    "file_bytes": ("FAKE_ITERABLE_JOB_FILE_BYTES", int),
    "url_lifetime": ("FAKE_ITERABLE_JOB_URL_LIFETIME_SECONDS", float),
    "truncate_bytes": ("FAKE_ITERABLE_JOB_TRUNCATE_BYTES", int),
    "max_running": ("FAKE_ITERABLE_JOB_MAX_RUNNING", int),
    "cancel_seconds": ("FAKE_ITERABLE_JOB_CANCEL_SECONDS", float),
    "start_answer_seconds": ("FAKE_ITERABLE_JOB_START_ANSWER_SECONDS", float),
}


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class JobSettings:
    """The latency model and caps. Changing them affects jobs created afterwards (URL lifetime: listings)."""

    queue_seconds: float = 1.0  # a new job stays enqueued at least this long, even with a free slot
    base_latency: float = 3.0  # seconds from a job's start (running) to its first row
    row_seconds: float = 20e-6  # seconds per exported row
    file_bytes: int = 10_000_000  # each file holds at most this many bytes ("each file is at most 10 MB")
    url_lifetime: float = 1800.0  # pre-signed URLs expire after 30 minutes
    truncate_bytes: int = 100 * GB  # a job stops here and completes with exportTruncated: true
    max_running: int = 4  # jobs running at once per organization; the rest stay enqueued
    cancel_seconds: float = 1.0  # how long a cancelled running job stays "cancelling"
    # How long the start call takes to answer once the job exists (a slow answer: the job already runs,
    # its id not yet with the client; a client killed meanwhile never learns it).
    start_answer_seconds: float = 0.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{item.name} must be a number")
            if value < 0:
                raise SettingsError(f"{item.name} must not be negative")
        if self.file_bytes < 1 or self.max_running < 1:
            raise SettingsError("file_bytes and max_running must be at least 1")

    @classmethod
    def resolve(cls, **given: float | int | None) -> JobSettings:
        """Arguments win; unset ones come from the FAKE_ITERABLE_JOB_* variables, then the defaults."""
        values: dict[str, Any] = {}
        for name, (variable, kind) in SETTING_ENV.items():
            value = given.pop(name, None)
            raw = os.environ.get(variable, "").strip()
            if value is None and raw:
                try:
                    value = kind(float(raw)) if kind is int else kind(raw)
                except ValueError:
                    raise SettingsError(f"{variable}={raw!r} is not a number") from None
            if value is not None:
                values[name] = kind(value)
        if given:
            raise SettingsError(f"unknown job settings: {', '.join(sorted(given))}")
        return cls(**values)

    def update(self, changes: dict[str, Any]) -> JobSettings:
        unknown = set(changes) - set(SETTING_ENV)
        if unknown:
            raise SettingsError(f"unknown job settings: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{name} must be a number")
        return replace(self, **{k: SETTING_ENV[k][1](v) for k, v in changes.items()})

    def describe(self) -> dict[str, float | int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class JobFile:
    name: str
    path: str  # on disk
    size: int
    rows: int
    ready: float  # running seconds after which the file is listed


@dataclass
class JobPlan:
    """What the start-time faults decided for one job."""

    extra_latency: float = 0.0
    fail_after: float | None = None  # running seconds; -1 = halfway through the run
    keep_rows: int | None = None  # -1 = half the rows
    requeue_after: float | None = None  # running seconds; -1 = halfway
    requeue_seconds: float = 0.0
    faults: list[str] = field(default_factory=list)


@dataclass
class Job:
    id: int
    data_type: str
    spec: dict[str, str]  # for fault matching: dataTypeName, startDateTime, endDateTime, start, end, ...
    window: tuple[float | None, float | None]
    created: float
    created_by: str | None
    rows: int  # rows exported (after truncation)
    selected_rows: int  # rows the window selected
    files: list[JobFile]
    truncated: bool
    setup: float
    duration: float  # running seconds from start to completion
    fail_at: float | None
    pause_at: float | None
    pause_seconds: float
    cancel_seconds: float
    queue_seconds: float
    faults: list[str]
    run_start: float | None = None  # set by the scheduler
    cancelled_at: float | None = None
    deleted_by: str | None = None
    delete_calls: int = 0
    listings: int = 0
    fetched: Counter[str] = field(default_factory=Counter)

    def elapsed(self, now: float) -> tuple[float, bool]:
        """(running seconds done at ``now``, paused now). Requires ``run_start``."""
        assert self.run_start is not None
        done = max(0.0, now - self.run_start)
        if self.pause_at is not None and done > self.pause_at:
            if done < self.pause_at + self.pause_seconds:
                return self.pause_at, True
            return done - self.pause_seconds, False
        return done, False

    def at(self, running: float) -> float:
        """The wall-clock time at which the job has run ``running`` seconds."""
        assert self.run_start is not None
        pause = self.pause_seconds if self.pause_at is not None and running > self.pause_at else 0.0
        return self.run_start + running + pause

    @property
    def stop_at(self) -> float:
        """Running seconds at which the run ends by itself (completion or failure)."""
        return self.duration if self.fail_at is None else self.fail_at

    def ran(self) -> bool:
        return self.run_start is not None and (
            self.cancelled_at is None or self.cancelled_at > self.run_start
        )

    def state(self, now: float) -> str:
        if self.cancelled_at is not None and now >= self.cancelled_at:
            if not self.ran():
                return "cancelled"
            return "cancelling" if now < self.cancelled_at + self.cancel_seconds else "cancelled"
        if self.run_start is None or now < self.run_start:
            return "enqueued"
        running, paused = self.elapsed(now)
        if self.fail_at is not None and running >= self.fail_at:
            return "failed"
        if running >= self.duration:
            return "completed"
        return "enqueued" if paused else "running"

    def visible(self, now: float) -> list[JobFile]:
        """The files listed at ``now``."""
        if not self.ran() or now < (self.run_start or 0.0):
            return []
        until = now if self.cancelled_at is None else min(now, self.cancelled_at)
        running, _ = self.elapsed(until)
        if self.fail_at is not None and running >= self.fail_at:
            return [f for f in self.files if f.ready < self.fail_at]
        return [f for f in self.files if f.ready <= running]

    def end_time(self, now: float) -> float | None:
        state = self.state(now)
        if state not in TERMINAL:
            return None
        if self.cancelled_at is not None and state == "cancelled":
            return self.cancelled_at + (self.cancel_seconds if self.ran() else 0.0)
        return self.at(self.stop_at)

    def slot_free_at(self) -> float:
        """When this job gives its running slot back (requires ``run_start``)."""
        natural = self.at(self.stop_at)
        if self.cancelled_at is not None and self.cancelled_at < natural:
            return self.cancelled_at + self.cancel_seconds
        return natural


@dataclass
class FilesPage:
    job_id: int
    state: str
    truncated: bool
    files: list[JobFile]
    spec: dict[str, str]


class JobBook:
    """Every export job of the (single) organization. Thread-safe; the files live in a temporary folder."""

    def __init__(self, settings: JobSettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or JobSettings()
        self.clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(FIRST_JOB_ID)  # never reset: an old jobId never names a new job
        self._folder: str | None = None
        self._finalizer: weakref.finalize[Any, JobBook] | None = None
        self._dirty = False

    # -- creation -----------------------------------------------------------------------------------------

    def _root(self) -> str:
        with self._lock:
            if self._folder is None or not os.path.isdir(self._folder):
                self._folder = tempfile.mkdtemp(prefix="fake-iterable-exports-")
                self._finalizer = weakref.finalize(self, shutil.rmtree, self._folder, True)
            return self._folder

    def create(
        self,
        data_type: str,
        spec: dict[str, str],
        window: tuple[float | None, float | None],
        selected: tuple[int, Iterator[list[bytes]]],
        plan: JobPlan,
        key: str | None,
    ) -> Job:
        """Write the selected rows as files, then enter the job (its creation time is after the writing)."""
        settings = self.settings
        total, batches = selected
        cap_rows = plan.keep_rows
        if cap_rows is not None and cap_rows < 0:
            cap_rows = total // 2
        folder = tempfile.mkdtemp(prefix="job-", dir=self._root())
        written, rows, truncated = _write_files(
            folder, batches, settings.file_bytes, settings.truncate_bytes, cap_rows
        )
        setup = settings.base_latency + plan.extra_latency
        duration = setup + rows * settings.row_seconds
        fail_at = _halfway(plan.fail_after, duration)
        pause_at = _halfway(plan.requeue_after, duration)
        with self._lock:
            job_id = next(self._ids)
            created = self.clock()
            names = _names(created, [setup + cum * settings.row_seconds for _, _, cum in written])
            files = [
                JobFile(name, path, size, count, setup + cum * settings.row_seconds)
                for name, (path, size, cum), count in zip(names, written, _counts(written), strict=True)
            ]
            job = Job(
                id=job_id,
                data_type=data_type,
                spec={**spec, "jobId": str(job_id)},
                window=window,
                created=created,
                created_by=key,
                rows=rows,
                selected_rows=total,
                files=files,
                truncated=truncated,
                setup=setup,
                duration=duration,
                fail_at=None if fail_at is None else min(fail_at, duration),
                pause_at=pause_at,
                pause_seconds=plan.requeue_seconds if pause_at is not None else 0.0,
                cancel_seconds=settings.cancel_seconds,
                queue_seconds=settings.queue_seconds,
                faults=list(plan.faults),
            )
            self._jobs[job_id] = job
            self._dirty = True
            return job

    # -- scheduling ---------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """First come, first served behind ``max_running`` slots (call with the lock held)."""
        if not self._dirty:
            return
        slots = [0.0] * self.settings.max_running
        heapq.heapify(slots)
        for job in sorted(self._jobs.values(), key=lambda j: j.id):
            free = heapq.heappop(slots)
            start = max(job.created + job.queue_seconds, free)
            if job.cancelled_at is not None and job.cancelled_at <= start:
                job.run_start = None  # cancelled while enqueued: it never takes a slot
                heapq.heappush(slots, free)
                continue
            job.run_start = start
            heapq.heappush(slots, job.slot_free_at())
        self._dirty = False

    def configure(self, settings: JobSettings) -> None:
        """New settings for jobs started from now on; a new ``max_running`` reschedules every job (set it
        before starting jobs: past start times may move)."""
        with self._lock:
            self._dirty = self._dirty or settings.max_running != self.settings.max_running
            self.settings = settings

    # -- the API's questions ------------------------------------------------------------------------------

    def spec(self, job_id: int) -> dict[str, str] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else dict(job.spec)

    def files_page(self, job_id: int, start_after: str | None, size: int = FILES_PAGE) -> FilesPage | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            self._schedule()
            now = self.clock()
            state = job.state(now)
            listed = job.visible(now)
            if start_after:
                listed = [f for f in listed if f.name > start_after]  # "skip names up to and including"
            job.listings += 1
            truncated = job.truncated and state == "completed"
            return FilesPage(job.id, state, truncated, listed[:size], dict(job.spec))

    def cancel(self, job_id: int, key: str | None) -> tuple[str, str] | None:
        """(state before, state after) or None for an unknown job; finished jobs are left alone."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            self._schedule()
            now = self.clock()
            before = job.state(now)
            job.delete_calls += 1
            if before in ("enqueued", "running"):
                job.cancelled_at = now
                job.deleted_by = key
                self._dirty = True
                self._schedule()
            return before, job.state(now)

    def listing(self, wanted: str | None) -> list[dict[str, Any]]:
        """``GET /api/export/jobs``: JobModel entries, oldest first, optionally of one state."""
        with self._lock:
            self._schedule()
            now = self.clock()
            out: list[dict[str, Any]] = []
            for job in sorted(self._jobs.values(), key=lambda j: j.id):
                state = job.state(now)
                if wanted is not None and state != wanted:
                    continue
                entry: dict[str, Any] = {
                    "id": job.id,
                    "dataTypeName": job.data_type,
                    "jobState": state,
                    "scheduledStartTime": iso(job.created),
                }
                ended = job.end_time(now)
                if ended is not None:
                    entry["endTime"] = iso(ended)
                entry["bytesExported"] = sum(f.size for f in job.visible(now))
                out.append(entry)
            return out

    def lookup(self, job_id: int, name: str) -> tuple[JobFile, dict[str, str]] | None:
        """A file of a job, whether or not it is listed yet (the URL's signature is what protects it)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            for item in job.files:
                if item.name == name:
                    return item, dict(job.spec)
            return None

    def backdate(self, job_id: int, seconds: float) -> None:
        """Make a job created ``seconds`` earlier (another client's export started a while ago)."""
        with self._lock:
            self._jobs[job_id].created -= seconds
            self._dirty = True

    def note_fetch(self, job_id: int, name: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.fetched[name] += 1

    def describe(self) -> list[dict[str, Any]]:
        """``GET /_control/jobs``: everything a test may want to assert about every job."""
        with self._lock:
            self._schedule()
            now = self.clock()
            out = []
            for job in sorted(self._jobs.values(), key=lambda j: j.id):
                visible = job.visible(now)
                out.append(
                    {
                        "id": job.id,
                        "dataTypeName": job.data_type,
                        "startDateTime": job.spec.get("startDateTime"),
                        "endDateTime": job.spec.get("endDateTime"),
                        "window": list(job.window),
                        "state": job.state(now),
                        "created": job.created,
                        "created_by": job.created_by,
                        "run_start": job.run_start if job.ran() else None,
                        "end_time": job.end_time(now),
                        "rows": job.rows,
                        "selected_rows": job.selected_rows,
                        "bytes": sum(f.size for f in job.files),
                        "files": [f.name for f in job.files],
                        "files_listed": len(visible),
                        "exportTruncated": job.truncated,
                        "faults": list(job.faults),
                        "listings": job.listings,
                        "fetched": dict(job.fetched),
                        "deleted_by": job.deleted_by,
                        "deleted_at": job.cancelled_at,
                        "delete_calls": job.delete_calls,
                    }
                )
            return out

    # -- housekeeping -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every job and delete their files (job ids keep counting)."""
        with self._lock:
            self._jobs.clear()
            self._dirty = True
            folder = self._folder
        if folder is not None and os.path.isdir(folder):
            for entry in os.listdir(folder):
                shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)

    def close(self) -> None:
        self.reset()
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._folder = self._finalizer = None


def _halfway(value: float | None, duration: float) -> float | None:
    if value is None:
        return None
    return duration / 2 if value < 0 else value


def _write_files(
    folder: str, batches: Iterator[list[bytes]], file_bytes: int, cap_bytes: int, cap_rows: int | None
) -> tuple[list[tuple[str, int, int]], int, bool]:
    """Lines -> files of at most ``file_bytes``: ([(path, size, rows so far)], rows kept, truncated)."""
    written: list[tuple[str, int, int]] = []
    pending: list[bytes] = []
    size = total_bytes = rows = 0
    truncated = False

    def flush() -> None:
        nonlocal pending, size
        if pending:
            path = os.path.join(folder, f"{len(written):06d}.json")
            with open(path, "wb") as handle:
                handle.write(b"".join(pending))
            written.append((path, size, rows))
            pending, size = [], 0

    for batch in batches:
        weight = sum(map(len, batch))
        if (
            size + weight <= file_bytes
            and total_bytes + weight <= cap_bytes
            and (cap_rows is None or rows + len(batch) <= cap_rows)
        ):  # fast path: the whole batch fits in the current file
            pending.extend(batch)
            size += weight
            total_bytes += weight
            rows += len(batch)
            continue
        for line in batch:
            if (cap_rows is not None and rows >= cap_rows) or total_bytes + len(line) > cap_bytes:
                truncated = True
                break
            if size and size + len(line) > file_bytes:
                flush()
            pending.append(line)
            size += len(line)
            total_bytes += len(line)
            rows += 1
        if truncated:
            break
    flush()
    return written, rows, truncated


def _counts(written: list[tuple[str, int, int]]) -> list[int]:
    previous = 0
    out = []
    for _, _, cumulative in written:
        out.append(cumulative - previous)
        previous = cumulative
    return out


def _names(created: float, ready: list[float]) -> list[str]:
    names, last = [], -1
    for offset in ready:
        stamp = max(int((created + offset) * 1000), last + 1)
        names.append(f"file-{stamp}.json")
        last = stamp
    return names


def iso(seconds: float) -> str:
    """``2023-12-19T16:12:28.214+00:00``: the JobModel time format (ISO with milliseconds and offset)."""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}+00:00"
