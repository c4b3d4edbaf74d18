"""One export stream's lookback in one sync: where its first window starts, each window's filter, and
the digests each of its STATEs carries (``digests`` says what they mean).

The first window's start moves from the bookmark back to ``max(bookmark - lookback, from)``: no extra
request, no extra job. With no digests in the state (a state written before this release, or with
``lookback_minutes`` 0) nothing is re-read this time, and the digests are collected for the next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..records import BlockConvert, Row
from ..transforms import format_rfc3339
from ..windows import Window
from .digests import MAX_DIGESTS, Digests, advance, ceil_second, digests_from_state
from .window_filter import WindowFilter, WindowTail

LOGGER = logging.getLogger("airbyte")


class StreamLookback:
    def __init__(
        self,
        stream: str,
        cursor: str,
        lookback: timedelta,
        lower: datetime,
        stream_state: Any = None,
        cap: int | None = None,
    ) -> None:
        self.stream, self.cursor, self.lookback, self.lower = stream, cursor, lookback, lower
        self.cap = cap if cap is not None else MAX_DIGESTS
        try:
            previous = digests_from_state(stream_state, lower)
        except ValueError as error:
            LOGGER.warning(
                f"stream '{stream}': the lookback part of its state cannot be used ({error}); this sync reads "
                f"nothing behind the bookmark again and collects the digests for the next one"
            )
            previous = None
        # Nothing is known of the rows before the bookmark: what cannot be de-duplicated is not re-read.
        self.digests = previous if previous is not None else Digests(lower)
        start = min(lower, ceil_second(max(lower - lookback, self.digests.since)))
        self.first_start = start if previous is not None else lower
        self._warned = False
        self._state: tuple[Digests, dict[str, Any]] | None = None

    @property
    def rereads(self) -> bool:
        return self.first_start < self.lower

    def describe(self) -> str:
        """For the plan line: what the first window reads again."""
        if not self.rereads:
            return ""
        minutes = int((self.lower - self.first_start).total_seconds() // 60)
        return f"; the first window reads the {minutes} minutes before the bookmark again (late rows)"

    def window_filter(
        self, window: Window, convert: BlockConvert, transform: Callable[[Row], Any]
    ) -> WindowFilter:
        """The filter of ``window`` in front of the stream's ``convert``; the first window (it starts
        before the bookmark) leaves out the rows of the re-read span the state knows."""
        tail_from = window.end - self.lookback
        if window.start < self.lower:
            known = self.digests.known(window.start, self.lower)
            return WindowFilter(convert, transform, self.cursor, tail_from, self.lower, known, self.cap)
        return WindowFilter(convert, transform, self.cursor, tail_from, cap=self.cap)

    def delivered(self, end: datetime, tail: WindowTail | None) -> None:
        """A window ending at ``end`` is printed: its tail's digests join the state's, which move on."""
        if tail is None:
            # Rows were printed without their digests: nothing behind the new bookmark is known.
            self.digests = Digests(end)
            return
        if tail.skipped or tail.late:
            LOGGER.info(
                f"stream '{self.stream}': read again from {format_rfc3339(self.first_start)} to the bookmark "
                f"{format_rfc3339(self.lower)}: {tail.skipped} rows delivered by an earlier sync left out, "
                f"{tail.late} rows that were not visible then delivered"
            )
        advanced = advance(self.digests, tail.minutes, end, self.lookback, tail.since, self.cap)
        self.digests = advanced.digests
        if (advanced.dropped or tail.dropped) and not self._warned:
            self._warned = True
            reach = int((end - self.digests.since).total_seconds() // 60)
            LOGGER.warning(
                f"stream '{self.stream}': more than {self.cap:,} rows fell in the {self._minutes} minutes before "
                f"{format_rfc3339(end)}; the state keeps the digests of the newest {reach} minutes "
                f"({self.digests.count:,} rows), so the next sync reads again only from "
                f"{format_rfc3339(self.digests.since)} ({reach} minutes before its bookmark) instead of "
                f"{self._minutes}: rows Iterable makes visible later than that behind the bookmark are not read"
            )

    @property
    def _minutes(self) -> int:
        return int(self.lookback.total_seconds() // 60)

    def state(self, bookmark: datetime) -> dict[str, Any] | None:
        """The ``lookback`` part of the stream's STATE (encoded once per change: every STATE carries
        it); None while it knows nothing behind ``bookmark`` (a state without it means just that)."""
        if not self.digests.minutes and self.digests.since >= bookmark:
            return None
        if self._state is None or self._state[0] is not self.digests:
            self._state = (self.digests, self.digests.to_state())
        return self._state[1]
