"""The JSON resource streams: plain resources, paged resources, list members, metadata."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .catalog import StreamSpec
from .config import IterableConfig
from .errors import ApiError
from .http import IterableClient, read_json
from .spool import spool_text
from .stream_base import LOGGER, BookmarkedStream, IterableStream, Now
from .transforms import format_rfc3339


def items_of(payload: Any, key: str, what: str) -> list[dict[str, Any]]:
    """The array under ``key``; a body without it is an API change we must not read as "no data"."""
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        shape = sorted(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
        raise AirbyteTracedException(
            message=f"{what}: the response has no '{key}' array (got {shape})",
            failure_type=FailureType.system_error,
        )
    return items


class JsonResourceStream(IterableStream):
    """One GET returning the whole collection: channels, lists, message_types."""

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        what = self.describe()
        payload = self.client.get_json(self.spec.path, what=what)
        transform = self.spec.transform
        for item in items_of(payload, self.spec.data_key or "", f"{what}: GET {self.spec.path}"):
            yield transform(item)


class PagedResourceStream(BookmarkedStream):
    """campaigns and templates: paged, no updated-since filter on the server.

    Everything is read on every sync and filtered here: a record is new when its ``updatedAt`` is
    after the bookmark (at or after start_date on the first sync). The bookmark moves only once the
    whole collection was read, because pages are not ordered by update time.
    """

    page_size = 1000  # the API's maximum

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        incremental = sync_mode == SyncMode.incremental
        after_ms, inclusive = self._lower_bound_ms()
        newest_ms = after_ms if self.bookmark is not None else None
        key_field = self.spec.primary_key[0]
        seen: set[Any] = set()
        transform = self.spec.transform
        cursor = self.spec.cursor or ""
        for params in self.spec.fan_out:
            for item in self._pages(params):
                # A template can be listed under more than one type/medium, and a page can shift
                # while campaigns are created during the read.
                key = item.get(key_field)
                if key in seen:
                    continue
                seen.add(key)
                updated = item.get(cursor)
                if isinstance(updated, int) and not isinstance(updated, bool):
                    newest_ms = updated if newest_ms is None else max(newest_ms, updated)
                    if incremental and (updated < after_ms or (updated == after_ms and not inclusive)):
                        continue
                yield transform(item)
        if incremental and newest_ms is not None:
            self.bookmark = datetime.fromtimestamp(newest_ms / 1000, tz=timezone.utc)

    def _lower_bound_ms(self) -> tuple[int, bool]:
        bound = self.lower_bound()
        return round(bound.timestamp() * 1000), self.bookmark is None

    def _pages(self, params: Mapping[str, str]) -> Iterable[dict[str, Any]]:
        data_key = self.spec.data_key or ""
        total_key = f"total{data_key[:1].upper()}{data_key[1:]}Count"
        page = 1
        while True:
            what = self.describe(", ".join([*(f"{k}={v}" for k, v in params.items()), f"page {page}"]))
            payload = self.client.get_json(
                self.spec.path, {**params, "page": page, "pageSize": self.page_size}, what=what
            )
            items = items_of(payload, data_key, f"{what}: GET {self.spec.path}")
            yield from items
            total = payload.get(total_key)
            if len(items) < self.page_size or (isinstance(total, int) and page * self.page_size >= total):
                return
            page += 1


class ListMembersStream(IterableStream):
    """list_users: one plain-text getUsers call per list, 5 calls a minute per project.

    One list failing (Iterable answers a persistent 500 for some lists) does not stop the others:
    every readable list is emitted, then the stream fails naming the lists it could not read.
    """

    def __init__(self, spec: StreamSpec, client: IterableClient, config: IterableConfig, now: Now) -> None:
        super().__init__(spec, client, config, now)
        self.sync_started = format_rfc3339(now().replace(microsecond=0))

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        what = self.describe("reading the lists")
        lists = items_of(self.client.get_json("/api/lists", what=what), "lists", f"{what}: GET /api/lists")
        failures: list[str] = []
        for entry in lists:
            list_id = entry.get("id")
            try:
                body = self.client.request(
                    self.spec.path,
                    {"listId": list_id},
                    spool_text,
                    what=self.describe(f"list {list_id}"),
                    stream=True,
                )
            except ApiError as error:
                if error.failure_type == FailureType.config_error:
                    raise
                LOGGER.error(error.message)
                failures.append(f"list {list_id} ({error.message})")
                continue
            assert body is not None
            with body:
                for line in body.raw_lines():
                    yield {
                        "email": line.decode("utf-8", "replace"),
                        "listId": list_id,
                        "updatedAt": self.sync_started,
                    }
        if failures:
            message = (
                f"{self.describe()}: could not read the members of {len(failures)} of {len(lists)} lists; "
                f"the members of every other list were emitted. Failed: {'; '.join(failures)}"
            )
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.system_error
            )


class MetadataStream(IterableStream):
    """metadata: list tables, page through each table's keys (nextMarker), fetch each value."""

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        path = self.spec.path
        what = self.describe("listing tables")
        tables = items_of(self.client.get_json(path, what=what), "results", f"{what}: GET {path}")
        for table in tables:
            name = table.get("name")
            if isinstance(name, str):
                yield from self._table(name)

    def _table(self, table: str) -> Iterable[Mapping[str, Any]]:
        table_path = f"{self.spec.path}/{quote(table, safe='')}"
        marker: str | None = None
        transform = self.spec.transform
        while True:
            what = self.describe(f"table {table!r}")
            payload = self.client.get_json(table_path, {"nextMarker": marker} if marker else None, what=what)
            for entry in items_of(payload, "results", f"{what}: GET {table_path}"):
                key = entry.get("key")
                if not isinstance(key, str):
                    continue
                value = self.client.request(
                    f"{table_path}/{quote(key, safe='')}",
                    None,
                    read_json,
                    what=self.describe(f"table {table!r}, key {key!r}"),
                    ignore_statuses=frozenset({404}),
                )
                if value is None:
                    # Deleted between the listing and this call: nothing left to replicate.
                    LOGGER.warning(
                        f"{self.describe()}: key {key!r} of table {table!r} vanished during the sync"
                    )
                    continue
                record = {**entry, **value} if isinstance(value, dict) else {**entry, "value": value}
                record.setdefault("table", table)
                yield transform(record)
            marker = payload.get("nextMarker") if isinstance(payload, dict) else None
            if not marker:
                return
