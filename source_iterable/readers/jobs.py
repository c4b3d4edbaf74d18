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

Jobs a killed sync leaves running hold the organization's 4 slots. Every job this connector starts is
written into its stream's STATE as soon as it starts (``{"jobs": [...]}``); the next sync reuses the
one that covers its first window and cancels the rest, and never touches a job it did not start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import requests

from ..api.client import IterableClient, read_json
from ..api.errors import Aborted, ApiError, ConnectorError, FailureType
from ..api.spool import RecordFile, spool_records
from ..engine.units import Batch, Fetched, Unit
from ..records import BlockConvert
from ..windows import DEFAULT_SPLIT_FLOOR, Window, split_window
from .context import SyncContext, describe
from .export_query import ExportQuery
from .job_states import (
    FileRef,
    FilesPage,
    JobStarted,
    JobState,
    LatencyGuess,
    files_page,
    first_poll_seconds,
    job_state,
    poll_delays,
    recorded_jobs,
)

if TYPE_CHECKING:
    from .exports import ExportRun

LOGGER = logging.getLogger("airbyte")
START_PATH = "/api/export/start"
JOBS_PATH = "/api/export/jobs"
PAGE_SIZE = 10  # files per listing page
JOB_ATTEMPTS = 3
FILE_ATTEMPTS = 3
EXPIRED = "Request has expired"


class JobFailed(Exception):
    def __init__(self, job_id: int, state: JobState) -> None:
        super().__init__(f"job {job_id} ended {state.value}")
        self.job_id = job_id
        self.state = state


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
    ) -> None:
        self.ctx = ctx
        self.client: IterableClient = ctx.client
        # Returns True when the sync is stopping: polls are waits the abort must cut short.
        self._sleep = sleep or ctx.client.abort.wait
        self._clock = clock
        self.latency = LatencyGuess(first=first_poll_seconds())
        self.jobs_started = 0
        self.files_downloaded = 0
        self.bytes_downloaded = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ one window

    def fetch(self, run: ExportRun, window: Window, reused: int | None, unit: Unit) -> Fetched:
        """One window of an export stream (reusing the job ``reused`` of an earlier sync, if given)."""
        return self.read(run, run.query(window), unit, reused)

    def read(
        self, target: ExportTarget, query: ExportQuery, unit: Unit, reused: int | None = None
    ) -> Fetched:
        """Every row of ``query`` through export jobs, on disk and checked; all or nothing."""
        files: list[RecordFile] = []
        convert = target.block_convert(unit)
        try:
            rows, truncated = self._read(target, query, convert, unit, files, reused)
        except _FallBack:
            for file in files:
                file.close()
            return target.read_data_json(query, unit)
        except BaseException:
            for file in files:
                file.close()
            raise
        batch = Batch(files=files)
        return Fetched(
            batch, rows=rows, body_bytes=batch.size, pieces=max(1, len(files)), truncated=truncated
        )

    def _read(
        self,
        target: ExportTarget,
        query: ExportQuery,
        convert: BlockConvert,
        unit: Unit,
        files: list[RecordFile],
        job: int | None,
    ) -> tuple[int, bool]:
        what = describe(query.stream, query.label)
        tried: list[int] = []
        for attempt in range(1, JOB_ATTEMPTS + 1):
            if job is None:
                job = self._start(query, unit, what)
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
            return sum(f.count for f in files), False
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
    ) -> tuple[int, bool]:
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
        for half in halves:
            self._read(target, query.within(half), convert, unit, files, None)
        return sum(f.count for f in files), True

    # ------------------------------------------------------------------ the calls

    def _start(self, query: ExportQuery, unit: Unit, what: str) -> int:
        try:
            payload = self.client.request(
                START_PATH, None, read_json, what=what, method="POST", json=query.job_body()
            )
        except ApiError as error:
            if not error.key_refused:
                raise
            self._refused(error, what)
            raise _FallBack() from None
        job = payload.get("jobId") if isinstance(payload, dict) else None
        if not isinstance(job, int) or isinstance(job, bool):
            raise ConnectorError(f"{what}: POST {START_PATH} answered without a jobId: {str(payload)[:200]}")
        with self._count_lock:
            self.jobs_started += 1
        unit.notify(JobStarted(job, query.window))
        unit.progress.note = f"job {job} started"
        return job

    def _refused(self, error: ApiError, what: str) -> None:
        if self.ctx.config.export_api == "async":
            raise ConnectorError(
                f"{what}: export_api is 'async' but Iterable refused the export jobs API for this key "
                f"({error.message}); set export_api to 'auto' or 'sync' to read through data.json",
                FailureType.config_error,
            ) from None
        if self.ctx.jobs.refuse(error):
            LOGGER.warning(
                f"Iterable refused export jobs for this key (HTTP {error.status}); every export stream is read "
                f"through data.json instead (4 requests a minute). Details: {error.message}"
            )

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
            self._cancel(job, what)  # a stopping sync does not leave its job holding a slot
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
            page = self._list(job, names[-1] if names else None, what)
            for ref in page.files:
                before = names[-1] if names else None
                files.append(self._download(query, convert, job, ref, before, unit, what))
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

    def _list(self, job: int, start_after: str | None, what: str) -> FilesPage:
        params = {"startAfter": start_after} if start_after else None
        payload = self.client.get_json(f"/api/export/{job}/files", params, what=f"{what}, job {job}")
        return files_page(payload, job)

    def _download(
        self,
        query: ExportQuery,
        convert: BlockConvert,
        job: int,
        ref: FileRef,
        before: str | None,
        unit: Unit,
        what: str,
    ) -> RecordFile:
        url = ref.url
        for attempt in range(1, FILE_ATTEMPTS + 1):
            try:
                body = self.client.request(
                    "",
                    None,
                    partial(spool_records, convert=convert, progress=unit.progress, stream=query.stream),
                    what=f"{what}, job {job}, file {ref.name}",
                    url=url,
                    stream=True,
                    max_attempts=1,
                    on_status=_expired,
                )
            except ApiError as error:
                if attempt == FILE_ATTEMPTS:
                    raise ApiError(
                        f"{error.message} (file {ref.name} of export job {job}, {attempt} attempts)",
                        error.failure_type,
                        error.status,
                        error.transient,
                    ) from None
                LOGGER.warning(f"{what}: file {ref.name} of job {job}: {error.message}; downloading it again")
                continue
            if isinstance(body, _Expired):
                LOGGER.info(f"{what}: the URL of file {ref.name} of job {job} expired; listing it again")
                url = self._fresh_url(job, ref, before, what)
                continue
            assert isinstance(body, RecordFile)
            with self._count_lock:
                self.files_downloaded += 1
                self.bytes_downloaded += body.size
            return body
        raise ConnectorError(f"{what}: file {ref.name} of export job {job} could not be downloaded")

    def _fresh_url(self, job: int, ref: FileRef, before: str | None, what: str) -> str:
        for listed in self._list(job, before, what).files:
            if listed.name == ref.name:
                return listed.url
        raise ConnectorError(f"{what}: file {ref.name} is no longer listed for export job {job}")

    def _cancel(self, job: int, what: str) -> None:
        try:
            self.client.request(
                f"/api/export/{job}",
                None,
                lambda r: True,
                what=f"{what}, cancelling job {job}",
                method="DELETE",
                max_attempts=1,
                even_if_aborted=True,
            )
        except (ConnectorError, Aborted, requests.RequestException):
            LOGGER.warning(f"{what}: could not cancel export job {job}; the next sync cancels it")

    # ------------------------------------------------------------------ jobs of an earlier sync

    def adopt(self, runs: list[ExportRun], states: Mapping[str, Any]) -> None:
        """Reuse or cancel the jobs an earlier run of this connector started and did not finish."""
        recorded = {run.name: recorded_jobs(states.get(run.name)) for run in runs}
        if not any(recorded.values()):
            return
        try:
            listing = self.client.get_json(JOBS_PATH, what="export jobs of the earlier sync")
        except ConnectorError as error:
            LOGGER.warning(
                f"could not list the export jobs of the earlier sync ({error.message}); leaving them be"
            )
            return
        listed = listing.get("jobs") if isinstance(listing, dict) else None
        states_by_id = {
            j.get("id"): job_state(j.get("jobState")) for j in listed or [] if isinstance(j, dict)
        }
        for run in runs:
            for job, window in recorded[run.name]:
                state = states_by_id.get(job)
                if state is None or state in (JobState.FAILED, JobState.CANCELLED):
                    continue
                if window.start == run.lower and window.end <= run.upper and run.reuse(job, window):
                    LOGGER.info(
                        f"{describe(run.name)}: reusing export job {job} of the earlier sync for window {window}"
                    )
                elif state in (JobState.QUEUED, JobState.RUNNING):
                    LOGGER.info(
                        f"{describe(run.name)}: cancelling export job {job} ({window}) left by the earlier sync"
                    )
                    self._cancel(job, describe(run.name))


class _FallBack(Exception):
    """The key may not use export jobs (auto mode): read this window through data.json."""


class _Expired:
    pass


def _expired(status: int, response: requests.Response) -> _Expired | None:
    if status == 403 and EXPIRED.encode() in response.content[:4000]:
        return _Expired()
    return None
