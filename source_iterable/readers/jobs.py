"""Export windows through Iterable's export jobs: start a job, poll its files, download them, check them.

One job per window (``POST /api/export/start``); ``GET /api/export/{jobId}/files`` both reports the
job's state and lists its files, so each poll also fetches the files that appeared since the last
one, and a job costs as few as two calls of the organization's 1-a-second budget. Files come from
pre-signed URLs on a storage host, fetched without the API key. Every file of a window is on disk and
checked before the window is handed to the engine, exactly like a data.json body.

Faults: a job that ends failed or cancelled is started again (``JOB_ATTEMPTS``); ``exportTruncated``
splits the window and reads the halves; a URL that answers 403 "Request has expired" is refreshed by
listing that page of files again; a file cut mid-body or holding a bad line is downloaded again
(``FILE_ATTEMPTS``).

Jobs a killed sync leaves running hold the organization's 4 slots. Before each start call the worker
hands the main thread a ``JobIntent`` and waits until it is printed in the stream's STATE; the job's id
follows in a STATE as soon as the call answers. The next sync reuses or cancels what either names
(``job_adoption``), and never touches a job it did not start. File downloads are ``job_files``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, Protocol

from ..api.client import IterableClient
from ..api.errors import Aborted, ConnectorError, FailureType
from ..api.spool import RecordFile
from ..engine.units import Batch, Fetched, Unit
from ..lookback.window_filter import spooler
from ..records import BlockConvert
from ..windows import DEFAULT_SPLIT_FLOOR, split_window
from .context import SyncContext, describe
from .export_query import ExportQuery
from .job_adoption import JOBS_PATH as JOBS_PATH  # check() asks it which export path the key may use
from .job_adoption import Adoptable, adopt, cancel_job
from .job_files import download
from .job_start import JobsRefused, JobStarter
from .job_states import (
    FilesPage,
    JobState,
    LatencyGuess,
    files_page,
    first_poll_seconds,
    poll_delays,
)

LOGGER = logging.getLogger("airbyte")
PAGE_SIZE = 10  # files per listing page
JOB_ATTEMPTS = 3


class JobFailed(Exception):
    def __init__(self, job_id: int, state: JobState) -> None:
        super().__init__(f"job {job_id} ended {state.value}")
        self.job_id = job_id
        self.state = state


@dataclass
class _Read:
    """The rows of a query's jobs: how many, whether Iterable truncated one, how many windows it took."""

    rows: int
    truncated: bool
    windows: int


class ExportTarget(Protocol):
    """What the jobs reader needs of the stream it reads for: how rows become records, and the
    data.json path to fall back to when the key may not use export jobs."""

    @property
    def name(self) -> str: ...

    def block_convert(self, unit: Unit) -> BlockConvert: ...

    def read_data_json(self, query: ExportQuery, unit: Unit) -> Fetched: ...


class JobRunner:
    """Reads windows through export jobs for every export stream of one sync (thread-safe)."""

    def __init__(
        self,
        ctx: SyncContext,
        sleep: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.ctx = ctx
        self.client: IterableClient = ctx.client
        # Returns True when the sync is stopping: polls are waits the abort must cut short.
        self._sleep = sleep or ctx.client.abort.wait
        self._clock = clock
        self.starter = JobStarter(ctx, wall)
        self.latency = LatencyGuess(first=first_poll_seconds())
        self.files_downloaded = 0
        self.bytes_downloaded = 0
        self._count_lock = threading.Lock()

    @property
    def jobs_started(self) -> int:
        return self.starter.started

    # ------------------------------------------------------------------ one window

    def read(
        self, target: ExportTarget, query: ExportQuery, unit: Unit, reused: int | None = None
    ) -> Fetched:
        """Every row of ``query`` through export jobs (reusing the job ``reused`` of an earlier sync, if
        given), on disk and checked; all or nothing."""
        files: list[RecordFile] = []
        convert = target.block_convert(unit)
        try:
            read = self._read(target, query, convert, unit, files, reused)
        except JobsRefused:
            for file in files:
                file.close()
            return target.read_data_json(query, unit)
        except BaseException:
            for file in files:
                file.close()
            raise
        batch = Batch(files=files)
        # However many files Iterable cut the export into, the window is split only when a job was
        # truncated: the next window is sized by what was read, not by the files it came in.
        downloaded = sum(file.source_bytes for file in files)
        return Fetched(
            batch, rows=read.rows, body_bytes=downloaded, pieces=read.windows, truncated=read.truncated
        )

    def _read(
        self,
        target: ExportTarget,
        query: ExportQuery,
        convert: BlockConvert,
        unit: Unit,
        files: list[RecordFile],
        job: int | None,
    ) -> _Read:
        what = describe(query.stream, query.label)
        tried: list[int] = []
        for attempt in range(1, JOB_ATTEMPTS + 1):
            if job is None:
                job = self.starter.start(query, unit, what)
            tried.append(job)
            kept = len(files)
            try:
                truncated = self._follow(query, convert, job, unit, files, what)
            except JobFailed as failure:
                for file in files[kept:]:
                    file.close()
                del files[kept:]
                if attempt == JOB_ATTEMPTS:
                    raise ConnectorError(
                        f"{what}: export job {failure.job_id} ended {failure.state.value}; all {attempt} jobs "
                        f"of this window failed (jobs {', '.join(map(str, tried))}); re-run the sync later",
                        FailureType.transient_error,
                    ) from None
                LOGGER.warning(
                    f"{what}: export job {failure.job_id} ended {failure.state.value}; starting it again"
                )
                job = None
                continue
            if truncated:
                return self._split_truncated(target, query, convert, unit, files, job, kept, what)
            return _Read(sum(f.count for f in files), False, 1)
        raise AssertionError("unreachable")

    def _split_truncated(
        self,
        target: ExportTarget,
        query: ExportQuery,
        convert: BlockConvert,
        unit: Unit,
        files: list[RecordFile],
        job: int,
        kept: int,
        what: str,
    ) -> _Read:
        for file in files[kept:]:
            file.close()
        del files[kept:]
        halves = split_window(query.window, DEFAULT_SPLIT_FLOOR) if query.window is not None else None
        if halves is None:
            raise ConnectorError(
                f"{what}: export job {job} was truncated by Iterable (over its 100 GB cap) and the window is "
                f"already the smallest we split to ({DEFAULT_SPLIT_FLOOR})",
                FailureType.system_error,
            )
        LOGGER.warning(
            f"{what}: export job {job} was truncated by Iterable; reading {halves[0]} and {halves[1]}"
        )
        windows = sum(
            self._read(target, query.within(half), convert, unit, files, None).windows for half in halves
        )
        return _Read(sum(f.count for f in files), True, windows)

    # ------------------------------------------------------------------ following a job

    def _follow(
        self,
        query: ExportQuery,
        convert: BlockConvert,
        job: int,
        unit: Unit,
        files: list[RecordFile],
        what: str,
    ) -> bool:
        """Poll until the job completes, downloading its files as they appear; True when truncated."""
        try:
            return self._poll(query, convert, job, unit, files, what)
        except Aborted:
            cancel_job(self.client, job, what)  # a stopping sync does not leave its job holding a slot
            raise

    def _poll(
        self,
        query: ExportQuery,
        convert: BlockConvert,
        job: int,
        unit: Unit,
        files: list[RecordFile],
        what: str,
    ) -> bool:
        started = self._clock()
        delays = poll_delays(self.latency.first_poll())
        names: list[str] = []
        if self._sleep(next(delays)):
            raise Aborted()
        while True:
            page = self._list(job, names[-1] if names else None, what=what)
            spool = spooler(convert, unit.progress, query.stream)
            for ref in page.files:
                before = names[-1] if names else None
                relist = partial(self._list, job, what=what)
                file = download(self.client, spool, job, ref, before, relist, what)
                with self._count_lock:
                    self.files_downloaded += 1
                    self.bytes_downloaded += file.source_bytes
                files.append(file)
                names.append(ref.name)
            unit.progress.note = f"job {job} {page.state.value}, {len(names)} files"
            if page.state is JobState.COMPLETED:
                if len(page.files) >= PAGE_SIZE:
                    continue  # a full page: more files may follow, no need to wait
                self.latency.learn(self._clock() - started)
                return page.truncated
            if page.state in (JobState.FAILED, JobState.CANCELLED):
                raise JobFailed(job, page.state)
            if self._sleep(next(delays)):
                raise Aborted()

    def _list(self, job: int, start_after: str | None, *, what: str) -> FilesPage:
        params = {"startAfter": start_after} if start_after else None
        payload = self.client.get_json(f"/api/export/{job}/files", params, what=f"{what}, job {job}")
        return files_page(payload, job)

    # ------------------------------------------------------------------ jobs of an earlier sync

    def adopt(self, runs: Sequence[Adoptable], states: Mapping[str, Any]) -> None:
        """Reuse or cancel the jobs an earlier run of this connector started and did not finish."""
        adopt(self.client, runs, states)
