"""The NDJSON export streams: the eight ``email_*`` event types and ``users``.

Each slice is one date window ``[start, end)``. A window is downloaded whole (to disk) before any of
its rows is emitted, and the bookmark moves to the window's end only after its last row: an
interrupted sync resumes at the first unfinished window and never emits a row twice. Rows arrive
in no particular order, so the bookmark is the window end, never "the newest row seen".

A window that keeps failing (cut bodies, bad lines, timeouts, 5xx) is split in halves, each half
downloaded on its own, down to ``SPLIT_FLOOR``; the window's rows are still emitted only once every
piece is complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, SyncMode, Type

from .errors import ApiError
from .spool import SpooledBody, spool_ndjson
from .stream_base import LOGGER, BookmarkedStream
from .transforms import format_rfc3339, parse_rfc3339
from .windows import DEFAULT_SPLIT_FLOOR, Window, api_datetime, date_windows, export_upper_bound, split_window

# Attempts at one window before it is split: enough to ride out a blip, few enough that a window
# Iterable cannot serve in one piece is split while the budget of 4 requests a minute lasts.
ATTEMPTS_BEFORE_SPLIT = 3


class ExportStream(BookmarkedStream):
    split_floor: timedelta = DEFAULT_SPLIT_FLOOR
    # The CDK would otherwise checkpoint every N records with an unchanged bookmark; ours moves per window.
    state_checkpoint_interval = None

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        start = self.lower_bound() if sync_mode == SyncMode.incremental else self.config.start_date
        upper = export_upper_bound(self.now(), self.config.export_lag)
        for window in date_windows(start, upper, self.config.window):
            yield {"start": format_rfc3339(window.start), "end": format_rfc3339(window.end)}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        if not stream_slice:
            return
        window = Window(parse_rfc3339(stream_slice["start"]), parse_rfc3339(stream_slice["end"]))
        pieces = self.download(window)
        try:
            yield from self._rows(pieces)
        finally:
            for piece in pieces:
                piece.close()
        if self.bookmark is None or window.end > self.bookmark:
            self.bookmark = window.end

    def _rows(self, pieces: list[SpooledBody]) -> Iterator[AirbyteMessage]:
        """RECORD messages built here rather than by the CDK: its generic path copies each row and
        checks its type on the way, the largest per-row cost of a million-row export."""
        transform = self.spec.transform
        name = self.name
        for piece in pieces:
            for block in piece.json_blocks():
                emitted_at = time.time_ns() // 1_000_000
                for row in block:
                    record = AirbyteRecordMessage(stream=name, data=transform(row), emitted_at=emitted_at)
                    yield AirbyteMessage(type=Type.RECORD, record=record)

    def download(self, window: Window) -> list[SpooledBody]:
        """Every row of ``window`` on disk, in one piece or several; all or nothing."""
        pieces: list[SpooledBody] = []
        try:
            self._download_into(window, pieces)
        except BaseException:
            for piece in pieces:
                piece.close()
            raise
        return pieces

    def _download_into(self, window: Window, pieces: list[SpooledBody]) -> None:
        try:
            body = self.client.request(
                self.spec.path,
                self.request_params(window),
                spool_ndjson,
                what=self.describe(f"window {window}"),
                stream=True,
                max_attempts=ATTEMPTS_BEFORE_SPLIT,
            )
        except ApiError as error:
            # Only a window too big to serve is helped by asking for less; a refused key or a
            # spent rate budget is not.
            if not error.transient or error.status == 429:
                raise
            halves = split_window(window, self.split_floor)
            if halves is None:
                # error.message already names the stream and this smallest piece.
                raise ApiError(
                    f"{error.message} (this piece of {window.width} is the smallest window we split to: "
                    f"a window is not split below {self.split_floor})",
                    error.failure_type,
                    error.status,
                    transient=True,
                ) from None
            LOGGER.warning(f"{self.describe(f'window {window}')}: splitting into {halves[0]} and {halves[1]}")
            for half in halves:
                self._download_into(half, pieces)
            return
        assert body is not None
        pieces.append(body)

    def request_params(self, window: Window) -> dict[str, str]:
        return {
            "dataTypeName": self.spec.export_type or "",
            "startDateTime": api_datetime(window.start),
            "endDateTime": api_datetime(window.end),
        }


def probe_window(now: datetime, lag: timedelta) -> Window:
    """A one-minute window just behind the indexing lag: the cheapest possible export request."""
    end = export_upper_bound(now, lag)
    return Window(end - timedelta(minutes=1), end)
