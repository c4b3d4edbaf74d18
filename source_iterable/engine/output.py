"""The one writer of protocol lines: the main thread's records and states, every thread's logs.

Lines are written whole under a lock, so a worker's LOG never lands inside a block of RECORDs.
Everything but records is flushed at once: a STATE is never held back in a buffer, and the
platform sees a heartbeat whenever we log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from .. import protocol
from ..api.spool import RecordFile

LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class Output:
    def __init__(
        self, out: BinaryIO, redact: Callable[[str], str] = str, clock: Callable[[], float] = time.monotonic
    ):
        self._out = out
        self._lock = threading.Lock()
        self.redact = redact
        self._clock = clock
        self.last_write = clock()

    def records(self, data: bytes) -> None:
        if data:
            with self._lock:
                self._out.write(data)
                self.last_write = self._clock()

    def copy(self, file: RecordFile) -> None:
        """A record file's RECORD lines, after what is buffered, without passing through Python."""
        with self._lock:
            self._out.flush()
            file.copy_to(self._out)
            self.last_write = self._clock()

    def message(self, data: bytes) -> None:
        with self._lock:
            self._out.write(data)
            self._out.flush()
            self.last_write = self._clock()

    def log(self, level: str, text: str) -> None:
        self.message(protocol.log(level, self.redact(text)))

    def flush(self) -> None:
        with self._lock:
            self._out.flush()


class ProtocolLogHandler(logging.Handler):
    """Log records as Airbyte LOG messages. The traceback of a logged exception is not printed: a
    failure we understand has its own message, and an unexpected one goes to the TRACE's stack_trace."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a badly formatted log call must not end the sync
            text = str(record.msg)
        self._output.log(LEVELS.get(record.levelno, "INFO"), text)


def install_logging(output: Output, debug: bool) -> Callable[[], None]:
    """Route the ``airbyte`` logger and third-party warnings through ``output``; returns an undo."""
    handler = ProtocolLogHandler(output)
    root = logging.getLogger()
    airbyte = logging.getLogger("airbyte")
    saved = (root.handlers[:], root.level, airbyte.handlers[:], airbyte.level, airbyte.propagate)
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    airbyte.handlers = [handler]
    airbyte.setLevel(logging.DEBUG if debug else logging.INFO)
    airbyte.propagate = False

    def undo() -> None:
        root.handlers, root.level = saved[0], saved[1]
        airbyte.handlers, airbyte.level, airbyte.propagate = saved[2], saved[3], saved[4]

    return undo
