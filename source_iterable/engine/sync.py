"""The main loop of a read: every stream's units fetched at once, each stream printed in order.

The main thread owns everything that is printed. It plans, hands units to lanes, and as units come
back prints each stream's records strictly in unit order, with the stream's STATE after the records it
covers: a bookmark never passes a window whose rows were not printed, whatever order the downloads
finish in. Records of different streams interleave, which the protocol allows.

Read-ahead is bounded: a stream has at most ``read_ahead_units`` units in flight or fetched and not
yet printed, and no new unit starts while the fetched-but-unprinted records take more than
``read_ahead_bytes`` of temporary disk. Units of a stream are dispatched in order, so the oldest held
unit of every stream can always be printed once fetched: the bounds cannot deadlock.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import protocol
from ..api.errors import ApiError, ConnectorError, FailureType
from ..api.limiter import LongWait
from ..protocol import Status
from .lanes import RESOURCES, Completion, Lane, UnexpectedError, pick
from .output import Output
from .progress import Progress
from .track import ReadAhead, Track
from .units import Handshake, StreamRun, Unit, Verdict

LOGGER = logging.getLogger("airbyte")
STOP_GRACE_SECONDS = 10.0  # a stopping sync waits this long at most for its workers to let go


class Sync:
    def __init__(
        self,
        runs: Sequence[StreamRun],
        lane_widths: Mapping[str, int],
        output: Output,
        abort: Any,
        read_ahead: ReadAhead | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        key_proven: Callable[[], bool] = lambda: True,
    ) -> None:
        self.tracks = [Track(run) for run in runs]
        self._by_name = {track.name: track for track in self.tracks}
        self._completions: queue.Queue[Completion] = queue.Queue()
        self.lanes = {name: Lane(name, width, self._completions) for name, width in lane_widths.items()}
        self._out = output
        self._abort = abort
        self._read_ahead = read_ahead or ReadAhead()
        self._progress = progress
        self._clock = clock
        self._key_proven = key_proven
        self._served: dict[str, str | None] = {}
        self.held_bytes = 0
        self.aborted: ConnectorError | None = None
        self.records = 0

    # ------------------------------------------------------------------ the loop

    def run(self) -> bool:
        """Read every stream; True when every stream completed."""
        for track in self.tracks:
            self._out.message(protocol.stream_status(track.name, Status.STARTED))
        try:
            while not all(track.finished for track in self.tracks):
                if self._abort.is_set() and self.aborted is None:
                    message = (
                        "the sync was asked to stop (SIGTERM); every record printed is followed by its STATE"
                    )
                    self._abort_sync(ConnectorError(message, FailureType.transient_error))
                    break
                self._plan_and_dispatch()
                self._finish_streams()
                if all(track.finished for track in self.tracks):
                    break
                self._wait_for_completions()
                self._emit_ready()
                if self._progress is not None:
                    self._progress.tick(self)
        finally:
            for lane in self.lanes.values():
                lane.stop()
            self._refuse_waiting()
            if self.aborted is not None:
                # Let the workers see the stop and clean up (cancel their export jobs), briefly.
                deadline = self._clock() + STOP_GRACE_SECONDS
                for lane in self.lanes.values():
                    lane.join(deadline, self._clock)
            for track in self.tracks:
                for _, fetched in track.done.values():
                    if fetched is not None:
                        fetched.batch.close()
        return all(track.error is None for track in self.tracks) and self.aborted is None

    def _refuse_waiting(self) -> None:
        """Workers still waiting on a handshake when the sync ends are told no (what they announce
        would never be printed)."""
        while True:
            try:
                completion = self._completions.get_nowait()
            except queue.Empty:
                return
            if isinstance(completion.notice, Handshake):
                completion.notice.settle(False)

    def _wait_for_completions(self) -> None:
        try:
            completion = self._completions.get(timeout=1.0 if self._key_proven() else 0.02)
        except queue.Empty:
            return
        while True:
            self._complete(completion)
            try:
                completion = self._completions.get_nowait()
            except queue.Empty:
                return

    # ------------------------------------------------------------------ dispatch

    def _plan_and_dispatch(self) -> None:
        if self.aborted is not None:
            return
        limit = self._read_ahead.units_per_stream
        for track in self._active():
            track.run.refill(track.outstanding + len(track.run.ready))
        # Until Iterable has answered the key once, a resource call goes first: a wrong key is then
        # told by the endpoint every key type may call, and stops the sync after one request.
        proving = not self._key_proven() and self._resources_waiting()
        for lane in self.lanes.values():
            if proving and lane.name != RESOURCES:
                continue
            while lane.idle > 0 and self.held_bytes < self._read_ahead.bytes:
                candidates = [
                    (
                        track.name,
                        track.run.ready[0].lane if track.run.ready else None,
                        track.fail_at is None and track.outstanding < limit,
                    )
                    for track in self._active()
                ]
                chosen = pick(lane.name, candidates, self._served.get(lane.name))
                if chosen is None:
                    break
                track = self._by_name[chosen]
                unit = track.run.ready.popleft()
                track.in_flight += 1
                self._served[lane.name] = chosen
                lane.submit(unit)
            if self.held_bytes >= self._read_ahead.bytes:
                break

    def _resources_waiting(self) -> bool:
        lane = self.lanes.get(RESOURCES)
        return bool(lane and lane.busy) or any(
            track.run.ready and track.run.ready[0].lane == RESOURCES for track in self._active()
        )

    def _active(self) -> list[Track]:
        return [track for track in self.tracks if not track.finished]

    # ------------------------------------------------------------------ completions

    def _complete(self, completion: Completion) -> None:
        unit = completion.unit
        track = self._by_name[unit.stream]
        if isinstance(completion.notice, LongWait):
            self._rate_limited(track, completion.notice)
            return
        if completion.notice is not None:
            self._notice(track, unit, completion.notice)
            return
        track.in_flight -= 1
        self.lanes[unit.lane].finished(unit)
        if completion.fetched is not None:
            if track.finished or (track.fail_at is not None and unit.index > track.fail_at):
                completion.fetched.batch.close()  # past a failure: these rows are never printed
                return
            track.done[unit.index] = (unit, completion.fetched)
            track.held_bytes += completion.fetched.batch.size
            self.held_bytes += completion.fetched.batch.size
            track.run.fetched(unit, completion.fetched)
            return
        error = completion.error or UnexpectedError(f"{unit.stream}, {unit.label}: no result")
        if self.aborted is not None or track.finished:
            return
        verdict = self._verdict(track, unit, error)
        if verdict is Verdict.ABORT_SYNC:
            self._abort_sync(error)
        elif verdict is Verdict.SKIP:
            LOGGER.error(error.message)
            track.run.errors.append(error.message)
            track.done[unit.index] = (unit, None)
        else:
            if track.fail_at is None or unit.index < track.fail_at:
                track.fail_at, track.error, track.stack_trace = unit.index, error, completion.stack_trace

    def _notice(self, track: Track, unit: Unit, notice: Any) -> None:
        """A running unit's notice: the STATE its run makes of it, printed (and flushed) before a
        handshake is settled. A unit whose records can no longer be printed (its stream ended, or
        failed at an earlier unit) is told no: nothing it announces would be recorded."""
        shake = notice if isinstance(notice, Handshake) else None
        live = not track.finished and (track.fail_at is None or unit.index < track.fail_at)
        if live:
            noticed = track.run.noticed(unit, shake.notice if shake is not None else notice)
            if noticed is not None:
                track.checkpoint(self._out, noticed)
        if shake is not None:
            shake.settle(live)

    def _rate_limited(self, track: Track, wait: LongWait) -> None:
        """One RATE_LIMITED status per wait. Several units of a stream may wait at once (a lone export
        stream has several windows in flight): while the stream shows a wait that has not ended, and
        no record came since, another one adds nothing the UI can show."""
        if track.finished or wait.since < track.rate_limited_until:
            return
        track.rate_limited_until = wait.reopens_at
        self._out.message(protocol.rate_limited(track.name, wait.quota_reset_ms))

    def _verdict(self, track: Track, unit: Unit, error: ConnectorError) -> Verdict:
        # A key refused by a resource endpoint is a wrong key (every key type may read resources):
        # nothing else can work, so the whole sync stops at once.
        if isinstance(error, ApiError) and error.status in (401, 403) and error.budget == RESOURCES:
            return Verdict.ABORT_SYNC
        if isinstance(error, UnexpectedError):
            return Verdict.FAIL_STREAM
        return track.run.failed(unit, error)

    def _abort_sync(self, error: ConnectorError) -> None:
        self.aborted = error
        self._abort.set()
        self._emit_ready()
        self._out.message(protocol.error_trace(self._out.redact(error.message), error.failure_type))
        for track in self._active():
            track.end(self._out, Status.INCOMPLETE)

    # ------------------------------------------------------------------ emission

    def _emit_ready(self) -> None:
        for track in self._active():
            while track.next_index in track.done and track.fail_at != track.next_index:
                unit, fetched = track.done.pop(track.next_index)
                track.next_index += 1
                if fetched is not None:
                    self.records += fetched.batch.count
                    self.held_bytes -= track.print(self._out, fetched)
                checkpoint = track.run.state_after(unit)
                if checkpoint is not None:
                    track.checkpoint(self._out, checkpoint)

    def _finish_streams(self) -> None:
        for track in self._active():
            run = track.run
            if track.fail_at is not None:
                if track.next_index == track.fail_at:
                    self.held_bytes -= track.fail(self._out)
                continue
            if run.ready or track.outstanding or not run.planning_done() or track.next_index < run.planned:
                continue
            error = run.final_error()
            if error is not None:
                # No terminal STATE: a full refresh that lost a list has not completed.
                track.error = error
                self.held_bytes -= track.fail(self._out)
                continue
            final = run.final_state()
            if final is not None:
                track.checkpoint(self._out, final)
            track.end(self._out, Status.COMPLETE)
