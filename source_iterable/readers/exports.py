"""The NDJSON export streams (every event type and ``users``): date windows, in order, exactly once.

Each unit is one date window ``[start, end)``, read through data.json or through an export job
(``readers.jobs``). A window is on disk whole before any of its rows is printed, and its STATE (the
window's end) follows its last row: an interrupted sync resumes at the first unprinted window and never
prints a row twice. Rows arrive in no particular order, so the bookmark is the window's end, never
"the newest row seen".

Windows are planned one after the other as the previous ones finish downloading, so each can be sized
by what the last ones held (``windows.WindowSizer``). A window data.json keeps failing on (cut bodies,
bad lines, timeouts, 5xx) is split in halves down to ``SPLIT_FLOOR``; its rows are still printed only
once every piece is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from ..api.errors import ApiError, ConnectorError
from ..api.spool import RecordFile, spool_records
from ..catalog import StreamSpec
from ..engine.lanes import EXPORT, JOBS
from ..engine.units import Batch, Fetched, Plan, StreamRun, Unit, Verdict
from ..records import BlockConvert
from ..transforms import format_rfc3339, parse_rfc3339
from ..windows import (
    DEFAULT_SPLIT_FLOOR,
    Window,
    WindowSizer,
    date_windows,
    export_upper_bound,
    split_window,
)
from .context import SyncContext, describe
from .export_query import ExportQuery
from .job_states import JobStarted, job_entry

LOGGER = logging.getLogger("airbyte")
# Attempts at one window before it is split: enough to ride out a blip, few enough that a window
# Iterable cannot serve in one piece is split while the budget of 4 requests a minute lasts.
ATTEMPTS_BEFORE_SPLIT = 3


def uses_jobs(
    export_api: str, lower: datetime, upper: datetime, window: timedelta, jobs_allowed: bool
) -> bool:
    """The export path of a stream: ``async`` always jobs, ``sync`` never; ``auto`` uses jobs when
    there is more than one window to read (a backfill or a catch-up), data.json for one recent window,
    where a job's latency would cost more than the request it saves (``readers.share_recent_windows``
    sends the recent windows beyond data.json's first budget window to jobs too)."""
    if export_api == "async":
        return True
    if export_api == "sync" or not jobs_allowed:
        return False
    return upper - lower > window


class ExportRun(StreamRun):
    split_floor: timedelta = DEFAULT_SPLIT_FLOOR

    def __init__(
        self,
        spec: StreamSpec,
        ctx: SyncContext,
        lower: datetime,
        parallel: int = 1,
        jobs: Any = None,
        prelude: Any = None,
    ) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        config = ctx.config
        self.lower = lower
        self.upper = export_upper_bound(ctx.started, config.export_lag)
        self.next_start = lower
        self.sizer = WindowSizer(config.window, config.adaptive_windows)
        self.parallel = max(1, parallel)
        self.jobs = jobs  # readers.jobs.JobRunner when this stream may use export jobs
        self.use_jobs = jobs is not None and uses_jobs(
            config.export_api, lower, self.upper, config.window, ctx.jobs.allowed
        )
        self.windows = 0
        self.bookmark = format_rfc3339(lower)  # the cursor of the last STATE printed
        self.pending: dict[int, Window] = {}  # export jobs started (by us) whose window is not printed yet
        self._reusable: tuple[int, Window] | None = None
        # A unit that must finish before any window is planned (users: its field list).
        self.prelude = prelude
        if prelude is not None:
            self.queue(prelude.unit())

    # ------------------------------------------------------------------ planning

    def plan(self) -> Plan:
        fixed = (
            list(date_windows(self.lower, self.upper, self.ctx.config.window))
            if self.lower < self.upper
            else []
        )
        if not fixed:
            return Plan(
                f"nothing to read: the bookmark {format_rfc3339(self.lower)} is at the export's end", {}
            )
        days = self.ctx.config.window.days
        grow = ", fewer if the windows grow" if self.ctx.config.adaptive_windows and len(fixed) > 1 else ""
        span = f"from {format_rfc3339(self.lower)} to {format_rfc3339(self.upper)}"
        if self.use_jobs:
            return Plan(f"up to {len(fixed)} export jobs of {days} days {span}{grow}", {JOBS: 2 * len(fixed)})
        return Plan(f"up to {len(fixed)} data.json windows of {days} days {span}{grow}", {EXPORT: len(fixed)})

    def refill(self, outstanding: int) -> None:
        if self.prelude is not None:
            return
        while outstanding < self.parallel:
            reused = None
            if self._reusable is not None and self._reusable[1].start == self.next_start:
                (reused, window), self._reusable = self._reusable, None
            else:
                found = self.sizer.next_window(self.next_start, self.upper)
                if found is None:
                    return
                window = found
            self.next_start = window.end
            self.windows += 1
            self.queue(self._unit(window, reused))
            outstanding += 1

    def _unit(self, window: Window, reused: int | None = None) -> Unit:
        checkpoint = {self.spec.cursor or "": format_rfc3339(window.end)}
        if self.jobs is not None and (reused is not None or (self.use_jobs and self.ctx.jobs.allowed)):
            fetch = partial(self.jobs.fetch, self, window, reused)
            return Unit(self.name, JOBS, f"window {window}", fetch, checkpoint)
        return Unit(self.name, EXPORT, f"window {window}", partial(self.fetch_sync, window), checkpoint)

    def reuse(self, job: int, window: Window) -> bool:
        """Take over an export job an earlier sync started for this stream's first window."""
        if self._reusable is not None or self.windows:
            return False
        self._reusable = (job, window)
        self.pending[job] = window
        return True

    def noticed(self, unit: Unit, notice: Any) -> Mapping[str, Any] | None:
        if not isinstance(notice, JobStarted) or notice.window is None:
            return None
        # Written down before the job has done anything: a sync killed from here on leaves a state
        # that names the job, so the next sync can reuse or cancel it.
        self.pending[notice.job_id] = notice.window
        return self._state(self.bookmark)

    def state_after(self, unit: Unit) -> Mapping[str, Any] | None:
        if unit.checkpoint is None:
            return None
        self.bookmark = str(unit.checkpoint[self.spec.cursor or ""])
        end = parse_rfc3339(self.bookmark)
        self.pending = {job: window for job, window in self.pending.items() if window.end > end}
        return self._state(self.bookmark)

    def _state(self, bookmark: str) -> Mapping[str, Any]:
        state: dict[str, Any] = {self.spec.cursor or "": bookmark}
        if self.pending:
            state["jobs"] = [job_entry(job, window) for job, window in sorted(self.pending.items())]
        return state

    def planning_done(self) -> bool:
        return self.prelude is None and self.next_start >= self.upper

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        if self.prelude is not None and unit.checkpoint is None:
            self.prelude.apply(fetched)
            self.prelude = None
            return
        self.sizer.observe(fetched.rows, fetched.body_bytes, fetched.pieces > 1, fetched.truncated)

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        return Verdict.FAIL_STREAM

    def final_state(self) -> Mapping[str, Any] | None:
        if self.windows:
            return None  # the last window's checkpoint stands
        return self._state(self.bookmark)

    # ------------------------------------------------------------------ data.json

    def query(self, window: Window) -> ExportQuery:
        return ExportQuery(self.name, self.spec.export_type or "", window)

    def block_convert(self, unit: Unit) -> BlockConvert:
        return self.ctx.shaper(self.spec).lines

    def fetch_sync(self, window: Window, unit: Unit) -> Fetched:
        return self.read_data_json(self.query(window), unit)

    def read_data_json(self, query: ExportQuery, unit: Unit) -> Fetched:
        return read_data_json(
            self.ctx, self.spec.path, query, self.block_convert(unit), unit, self.split_floor
        )


def read_data_json(
    ctx: SyncContext,
    path: str,
    query: ExportQuery,
    convert: BlockConvert,
    unit: Unit,
    split_floor: timedelta = DEFAULT_SPLIT_FLOOR,
) -> Fetched:
    """Every row ``query`` asks for on disk through data.json, in one piece or several; all or nothing.

    A window data.json keeps failing on (cut bodies, bad lines, timeouts, 5xx) is split in halves
    down to ``split_floor``; a query without a window cannot be split and fails as it is.
    """
    pieces: list[RecordFile] = []
    try:
        body_bytes = _download_into(ctx, path, query, convert, unit, pieces, split_floor)
    except BaseException:
        for piece in pieces:
            piece.close()
        raise
    batch = Batch(files=pieces)
    return Fetched(batch, rows=batch.count, body_bytes=body_bytes, pieces=len(pieces))


def _download_into(
    ctx: SyncContext,
    path: str,
    query: ExportQuery,
    convert: BlockConvert,
    unit: Unit,
    pieces: list[RecordFile],
    split_floor: timedelta,
) -> int:
    what = describe(query.stream, query.label)
    try:
        body = ctx.client.request(
            path,
            query.data_json_params(),
            partial(spool_records, convert=convert, progress=unit.progress, stream=query.stream),
            what=what,
            stream=True,
            max_attempts=ATTEMPTS_BEFORE_SPLIT if query.window is not None else None,
        )
    except ApiError as error:
        # Only a window too big to serve is helped by asking for less; a refused key or a
        # spent rate budget is not.
        if not error.transient or error.status == 429 or query.window is None:
            raise
        halves = split_window(query.window, split_floor)
        if halves is None:
            # error.message already names the stream and this smallest piece.
            raise ApiError(
                f"{error.message} (this piece of {query.window.width} is the smallest window we split to: "
                f"a window is not split below {split_floor})",
                error.failure_type,
                error.status,
                True,
                error.path,
                error.budget,
            ) from None
        LOGGER.warning(f"{what}: splitting into {halves[0]} and {halves[1]}")
        return sum(
            _download_into(ctx, path, query.within(half), convert, unit, pieces, split_floor)
            for half in halves
        )
    assert body is not None
    pieces.append(body)
    return body.size
