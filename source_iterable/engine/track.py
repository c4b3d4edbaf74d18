"""One stream as the main loop prints it: its fetched units waiting for their turn, its counts and
its status, and the lines that print its records, its checkpoints and its end.

Only the main thread (``engine.sync``) touches a track.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import protocol
from ..api.errors import ConnectorError, FailureType
from ..protocol import Status
from .output import Output
from .units import Fetched, StreamRun, Unit


@dataclass(frozen=True)
class ReadAhead:
    units_per_stream: int = 8
    bytes: int = 1 << 30


@dataclass
class Track:
    """The emitter's view of one stream."""

    run: StreamRun
    done: dict[int, tuple[Unit, Fetched | None]] = field(default_factory=dict)
    next_index: int = 0
    in_flight: int = 0
    held_bytes: int = 0
    since_state: int = 0
    emitted: int = 0
    running: bool = False
    finished: bool = False
    completed: bool = False
    fail_at: int | None = None
    error: ConnectorError | None = None
    stack_trace: str | None = None
    rate_limited_until: float = 0.0  # epoch seconds: the end of the wait the stream's status shows

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def outstanding(self) -> int:
        return self.in_flight + len(self.done)

    def print(self, out: Output, fetched: Fetched) -> int:
        """The unit's records (RUNNING before the stream's first); returns the bytes it held."""
        batch = fetched.batch
        try:
            if batch.count and not self.running:
                self.running = True
                out.message(protocol.stream_status(self.name, Status.RUNNING))
            out.records(protocol.record_block(self.name, batch.lines))
            for file in batch.files:
                if file.stream == self.name:
                    out.copy(file)  # whole RECORD lines already: the kernel copies them
                else:
                    for block in file.blocks():
                        out.records(protocol.record_block(self.name, block))
            self.since_state += batch.count
            self.emitted += batch.count
            if batch.count:
                self.rate_limited_until = 0.0  # the platform shows a stream with records as running
        finally:
            batch.close()
            self.held_bytes -= batch.size
        return batch.size

    def checkpoint(self, out: Output, state: Mapping[str, Any]) -> None:
        """A STATE covering every record printed before it, with their count."""
        out.message(protocol.state(self.name, state, self.since_state))
        self.since_state = 0

    def fail(self, out: Output) -> int:
        """INCOMPLETE and the error's trace; what was fetched and not printed is dropped (returns the
        bytes it held)."""
        error = self.error or ConnectorError(f"stream '{self.name}' failed")
        released = 0
        for _, fetched in self.done.values():
            if fetched is not None:
                fetched.batch.close()
                released += fetched.batch.size
        self.done.clear()
        self.end(out, Status.INCOMPLETE)
        failure = (
            error.failure_type if isinstance(error.failure_type, FailureType) else FailureType.system_error
        )
        trace = protocol.error_trace(
            out.redact(error.message), failure, self.name, stack_trace=self.stack_trace
        )
        out.message(trace)
        return released

    def end(self, out: Output, status: Status) -> None:
        self.finished = True
        self.completed = status is Status.COMPLETE
        out.message(protocol.stream_status(self.name, status))
