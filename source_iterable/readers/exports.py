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

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from ..api.errors import ConnectorError
from ..catalog import StreamSpec
from ..engine.lanes import EXPORT, JOBS
from ..engine.units import Fetched, Plan, StreamRun, Unit, Verdict
from ..lookback.digests import STATE_KEY
from ..lookback.stream import StreamLookback
from ..lookback.window_filter import WindowFilter, WindowTail
from ..records import BlockConvert
from ..transforms import format_rfc3339, parse_rfc3339
from ..windows import (
    DEFAULT_SPLIT_FLOOR,
    Window,
    WindowSizer,
    date_windows,
    export_upper_bound,
)
from .context import SyncContext
from .data_json import read_data_json
from .export_query import ExportQuery
from .job_states import JobIntent, JobStarted, intent_entry, job_entry


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
        previous: Any = None,
        incremental: bool = True,
    ) -> None:
        """``previous``: the stream's incoming state (its digests, for the lookback); ``incremental``
        False: a full refresh, which neither re-reads nor collects digests."""
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
        self.intents: dict[int, JobIntent] = {}  # by unit index: a start call whose job id is not known yet
        self._reusable: tuple[int, Window] | None = None
        self.lookback = (
            StreamLookback(spec.name, spec.cursor or "", config.lookback, lower, previous)
            if incremental and config.lookback > timedelta(0)
            else None
        )
        # The first window's start: the bookmark, or before it when the lookback reads its span again.
        self.first_start = self.lookback.first_start if self.lookback is not None else lower
        self._tails: dict[int, WindowTail | None] = {}  # by unit index, until the window is printed
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
        grow += self.lookback.describe() if self.lookback is not None else ""
        span = f"from {format_rfc3339(self.lower)} to {format_rfc3339(self.upper)}"
        if self.use_jobs:
            return Plan(f"up to {len(fixed)} export jobs of {days} days {span}{grow}", {JOBS: 2 * len(fixed)})
        return Plan(f"up to {len(fixed)} data.json windows of {days} days {span}{grow}", {EXPORT: len(fixed)})

    def refill(self, outstanding: int) -> None:
        if self.prelude is not None:
            return
        while outstanding < self.parallel:
            reused = None
            start = self.first_start if self.windows == 0 else self.next_start
            if self._reusable is not None and self._reusable[1].start == start:
                (reused, window), self._reusable = self._reusable, None
            else:
                found = self.sizer.next_window(self.next_start, self.upper)
                if found is None:
                    return
                # The re-read of the lookback span is folded into the first window: its start moves back.
                window = Window(start, found.end) if start < found.start else found
            self.next_start = window.end
            self.windows += 1
            self.queue(self._unit(window, reused))
            outstanding += 1

    def _unit(self, window: Window, reused: int | None = None) -> Unit:
        checkpoint = {self.spec.cursor or "": format_rfc3339(window.end)}
        target = _WindowRead(self, window)
        if self.jobs is not None and (reused is not None or (self.use_jobs and self.ctx.jobs.allowed)):
            fetch = partial(self._fetch_jobs, target, window, reused)
            return Unit(self.name, JOBS, f"window {window}", fetch, checkpoint)
        return Unit(
            self.name, EXPORT, f"window {window}", partial(self._fetch_sync, target, window), checkpoint
        )

    def _fetch_jobs(self, target: _WindowRead, window: Window, reused: int | None, unit: Unit) -> Fetched:
        return target.learned(self.jobs.read(target, self.query(window), unit, reused))

    def _fetch_sync(self, target: _WindowRead, window: Window, unit: Unit) -> Fetched:
        return target.learned(target.read_data_json(self.query(window), unit))

    def reuse(self, job: int, window: Window) -> bool:
        """Take over an export job an earlier sync started for this stream's first window."""
        if self._reusable is not None or self.windows:
            return False
        self._reusable = (job, window)
        self.pending[job] = window
        return True

    def noticed(self, unit: Unit, notice: Any) -> Mapping[str, Any] | None:
        if isinstance(notice, JobIntent):
            # Printed before the start call goes out: a sync killed while the call is under way leaves
            # a state the next sync can match the job by (its data type and the time).
            self.intents[unit.index] = notice
            return self._state(self.bookmark)
        if not isinstance(notice, JobStarted) or notice.window is None:
            return None
        # Written down before the job has done anything: a sync killed from here on leaves a state
        # that names the job, so the next sync can reuse or cancel it.
        self.intents.pop(unit.index, None)
        self.pending[notice.job_id] = notice.window
        return self._state(self.bookmark)

    def state_after(self, unit: Unit) -> Mapping[str, Any] | None:
        if unit.checkpoint is None:
            return None
        self.bookmark = str(unit.checkpoint[self.spec.cursor or ""])
        end = parse_rfc3339(self.bookmark)
        self.pending = {job: window for job, window in self.pending.items() if window.end > end}
        if self.lookback is not None:
            self.lookback.delivered(end, self._tails.pop(unit.index, None))
        return self._state(self.bookmark)

    def _state(self, bookmark: str) -> Mapping[str, Any]:
        state: dict[str, Any] = {self.spec.cursor or "": bookmark}
        held = self.lookback.state(parse_rfc3339(bookmark)) if self.lookback is not None else None
        if held is not None:
            state[STATE_KEY] = held
        if self.pending:
            state["jobs"] = [job_entry(job, window) for job, window in sorted(self.pending.items())]
        if self.intents:
            state["intents"] = [intent_entry(i) for i in sorted(self.intents.values(), key=lambda i: i.at)]
        return state

    def planning_done(self) -> bool:
        return self.prelude is None and self.next_start >= self.upper

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        if self.prelude is not None and unit.checkpoint is None:
            self.prelude.apply(fetched)
            self.prelude = None
            return
        self.intents.pop(unit.index, None)  # every start call of the unit has ended
        tail = fetched.found if isinstance(fetched.found, WindowTail) else None
        self._tails[unit.index] = tail
        # Sized by the rows read (those left out as delivered before included), and split only when
        # the window really was: data.json pieces, or a truncated job.
        rows = max(fetched.rows, tail.rows) if tail is not None else fetched.rows
        self.sizer.observe(rows, fetched.body_bytes, fetched.pieces > 1, fetched.truncated)

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        self.intents.pop(unit.index, None)
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
        """A window through data.json, as its unit would read it."""
        return self._fetch_sync(_WindowRead(self, window), window, unit)

    def read_data_json(self, query: ExportQuery, unit: Unit) -> Fetched:
        return read_data_json(
            self.ctx, self.spec.path, query, self.block_convert(unit), unit, self.split_floor
        )


class _WindowRead:
    """One window's reading (``jobs.ExportTarget``): its rows through one converter whichever path reads
    them (the run's own, behind the window's lookback filter), and what the filter learned handed back."""

    def __init__(self, run: ExportRun, window: Window) -> None:
        self.run, self.window = run, window
        self._convert: BlockConvert | None = None

    @property
    def name(self) -> str:
        return self.run.name

    def block_convert(self, unit: Unit) -> BlockConvert:
        if self._convert is None:
            run, convert = self.run, self.run.block_convert(unit)
            if run.lookback is not None:
                convert = run.lookback.window_filter(self.window, convert, run.ctx.transform(run.spec))
            self._convert = convert
        return self._convert

    def read_data_json(self, query: ExportQuery, unit: Unit) -> Fetched:
        run = self.run
        return read_data_json(run.ctx, run.spec.path, query, self.block_convert(unit), unit, run.split_floor)

    def learned(self, fetched: Fetched) -> Fetched:
        if isinstance(self._convert, WindowFilter):
            fetched.found = self._convert.result(fetched.batch.files)
        return fetched
