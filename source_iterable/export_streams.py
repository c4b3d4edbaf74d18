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

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStream,
    ConfiguredAirbyteStream,
    SyncMode,
    Type,
)
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig
from airbyte_cdk.sources.utils.slice_logger import SliceLogger

from .catalog import StreamSpec
from .config import IterableConfig
from .errors import ApiError
from .http import IterableClient
from .spool import SpooledBody, spool_ndjson
from .stream_base import LOGGER, BookmarkedStream, Now
from .transforms import format_rfc3339, parse_rfc3339
from .user_fields import (
    FieldsLookup,
    build_users_schema,
    case_collisions,
    collision_warning,
    date_paths,
    date_paths_from_schema,
    fetch_user_fields,
    read_fallback_warning,
    schema_fallback_warning,
)
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


class UsersExportStream(ExportStream):
    """``users``: its schema and its date conversions follow the project's own field list.

    One ``GET /api/users/getFields`` per instance, and the CDK builds new instances for each command:
    discover calls it in ``as_airbyte_stream``, a sync in ``read`` before the stream's first request.
    ``get_json_schema`` does no I/O: it answers the static schema until the fields are known.
    """

    def __init__(self, spec: StreamSpec, client: IterableClient, config: IterableConfig, now: Now) -> None:
        super().__init__(spec, client, config, now)
        self._lookup: FieldsLookup | None = None
        self._static: Mapping[str, Any] | None = None
        self._schema: Mapping[str, Any] | None = None

    def user_fields(self) -> FieldsLookup:
        if self._lookup is None:
            self._lookup = fetch_user_fields(self.client, self.describe())
        return self._lookup

    def static_schema(self) -> Mapping[str, Any]:
        if self._static is None:
            self._static = super().get_json_schema()
        return self._static

    # The CDK caches its version per instance (lru_cache); this one changes once the fields are known.
    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]
        if self._schema is None:
            fields = self._lookup.fields if self._lookup is not None else None
            if fields is None:
                return self.static_schema()
            self._schema = build_users_schema(self.static_schema(), fields, self.spec.transform.renames)
        return self._schema

    def as_airbyte_stream(self) -> AirbyteStream:
        """discover: the field list once, and one WARN when it failed or when names clash by case."""
        lookup = self.user_fields()
        if lookup.failure is not None:
            LOGGER.warning(schema_fallback_warning(lookup.failure))
        elif groups := case_collisions(self.get_json_schema().get("properties", {})):
            LOGGER.warning(collision_warning(groups))
        return super().as_airbyte_stream()

    def read(
        self,
        configured_stream: ConfiguredAirbyteStream,
        logger: logging.Logger,
        slice_logger: SliceLogger,
        stream_state: MutableMapping[str, Any],
        state_manager: Any,
        internal_config: InternalConfig,
    ) -> Iterator[StreamData]:
        self.prepare_sync(configured_stream.stream.json_schema)
        yield from super().read(
            configured_stream, logger, slice_logger, stream_state, state_manager, internal_config
        )

    def prepare_sync(self, configured_schema: Mapping[str, Any]) -> None:
        """Before a sync reads users: the date paths of this sync, from getFields (one call), else from
        the schema discover gave the configured catalog; the stream's transform then converts them."""
        lookup = self.user_fields()
        static_names = self.static_schema().get("properties", {}).keys()
        renames = self.spec.transform.renames
        if lookup.fields is not None:
            paths = date_paths(lookup.fields, static_names, renames)
        else:
            paths = date_paths_from_schema(configured_schema, static_names, renames)
            LOGGER.warning(read_fallback_warning(lookup.failure or "unknown failure", paths))
            if isinstance(configured_schema.get("properties"), Mapping):
                # The catalog's schema is this sync's schema (and keeps the CDK from calling the
                # project's fields "deprecated" for being missing from the static one).
                self._schema = configured_schema
        if paths:
            LOGGER.info(
                f"{self.describe()}: converting {len(paths)} date fields to RFC 3339: {', '.join(paths)}"
            )
            self.spec = replace(self.spec, transform=replace(self.spec.transform, date_paths=paths))
