"""The JSON resource streams: plain resources, paged resources (client-filtered), metadata fan-out."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import quote

from ..api.budgets import budget_for
from ..api.client import read_json
from ..api.errors import ConnectorError, FailureType
from ..catalog import StreamSpec
from ..engine.lanes import RESOURCES
from ..engine.units import EMPTY, Batch, Fetched, Plan, StreamRun, Unit
from ..records import Row
from ..state import NO_CURSOR
from ..transforms import format_rfc3339
from .context import SyncContext, describe

LOGGER = logging.getLogger("airbyte")
METADATA_VALUES_PER_UNIT = 50  # value calls per unit: enough to amortise, small enough to spread


def unwrapped(payload: Any, key: str) -> Any:
    """The body that holds ``key``: Iterable wraps some answers in ``{"msg", "code", "params": {...}}``
    (catalog items, recorded; the catalog list, which its official client unwraps when present), and
    for the endpoints without a recorded answer (snippets, webhooks, forgotten users) either form is read."""
    if isinstance(payload, dict) and key not in payload:
        inner = payload.get("params")
        if isinstance(inner, dict) and key in inner:
            return inner
    return payload


def budget_of(path: str) -> str | None:
    """The budget a GET of ``path`` draws from (api/budgets.py), the key of a plan's requests."""
    budget = budget_for("GET", path)
    return budget.name if budget is not None else None


def items_of(payload: Any, key: str, what: str) -> list[Row]:
    """The array under ``key``; a body without it is an API change we must not read as "no data"."""
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        shape = sorted(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
        raise ConnectorError(
            f"{what}: the response has no '{key}' array (got {shape})", FailureType.system_error
        )
    return items


class JsonResourceRun(StreamRun):
    """One GET returning the whole collection: channels, lists, message_types."""

    def __init__(self, spec: StreamSpec, ctx: SyncContext) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.queue(Unit(spec.name, RESOURCES, f"GET {spec.path}", self._fetch))

    def plan(self) -> Plan:
        budget = budget_of(self.spec.path)
        return Plan(f"one GET {self.spec.path}", {budget: 1} if budget else {})

    def _fetch(self, unit: Unit) -> Fetched:
        what = describe(self.name)
        payload = self.ctx.client.get_json(self.spec.path, what=what)
        key = self.spec.data_key or ""
        rows = items_of(unwrapped(payload, key), key, f"{what}: GET {self.spec.path}")
        return Fetched(Batch(self.ctx.shaper(self.spec).held_lines(rows)), rows=len(rows))

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR


class PagedResourceRun(StreamRun):
    """campaigns, templates, journeys, catalogs: paged, no updated-since filter on the server.

    Everything is read on every sync and filtered here: a record is new when its cursor (``updatedAt``,
    epoch milliseconds) is after the bookmark (at or after start_date on the first sync). The bookmark
    moves only once the whole collection was read, because pages are not ordered by update time.
    """

    page_size = 1000  # the API's maximum, unless the stream's row names its own

    def __init__(
        self, spec: StreamSpec, ctx: SyncContext, incremental: bool, bookmark: datetime | None
    ) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.incremental = incremental
        self.bookmark = bookmark
        self.newest_ms: int | None = None
        self.queue(Unit(spec.name, RESOURCES, f"GET {spec.path} (every page)", self._fetch))

    def plan(self) -> Plan:
        sets = len(self.spec.fan_out)
        what = f"{sets} parameter sets" if sets > 1 else "one listing"
        filtered = f", filtered on {self.spec.cursor}" if self.spec.cursor else ""
        budget = budget_of(self.spec.path)
        return Plan(f"every page of {self.spec.path} ({what}){filtered}", {budget: sets} if budget else {})

    def _fetch(self, unit: Unit) -> Fetched:
        bound = self.bookmark if self.bookmark is not None else self.ctx.config.start_date
        after_ms, inclusive = round(bound.timestamp() * 1000), self.bookmark is None
        # Never behind the bound: records older than start_date must not come back on the next sync.
        newest = after_ms
        key_field, cursor = self.spec.primary_key[0], self.spec.cursor or ""
        seen: set[Any] = set()
        kept: list[Row] = []
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
                    newest = max(newest, updated)
                    if self.incremental and (updated < after_ms or (updated == after_ms and not inclusive)):
                        continue
                kept.append(item)
            unit.progress.add(0, len(kept) - unit.progress.rows)
        self.newest_ms = newest
        return Fetched(Batch(self.ctx.shaper(self.spec).held_lines(kept)), rows=len(kept))

    def _pages(self, params: Mapping[str, str]) -> Iterable[Row]:
        data_key = self.spec.data_key or ""
        total_key = self.spec.total_key or f"total{data_key[:1].upper()}{data_key[1:]}Count"
        size = self.spec.page_size or self.page_size
        page = 1
        while True:
            what = describe(self.name, ", ".join([*(f"{k}={v}" for k, v in params.items()), f"page {page}"]))
            payload = self.ctx.client.get_json(
                self.spec.path, {**params, "page": page, "pageSize": size}, what=what
            )
            body = unwrapped(payload, data_key)
            items = items_of(body, data_key, f"{what}: GET {self.spec.path}")
            yield from items
            total = body.get(total_key)
            if len(items) < size or (isinstance(total, int) and page * size >= total):
                return
            page += 1

    def final_state(self) -> Mapping[str, Any]:
        if not self.incremental or self.newest_ms is None:
            return {}
        # A record changed while the pages were read may have moved to a page already read: the next
        # sync must still see it, so the bookmark never passes the sync's start.
        newest = min(self.newest_ms, round(self.ctx.started.timestamp() * 1000))
        moment = datetime.fromtimestamp(newest / 1000, tz=timezone.utc)
        return {self.spec.cursor or "": format_rfc3339(moment)}


class MetadataRun(StreamRun):
    """metadata: list tables, page through each table's keys (nextMarker), fetch each value.

    The key listings and the value calls are separate units, so several tables and several chunks of
    values download at once; they are printed in the order they were planned.
    """

    def __init__(self, spec: StreamSpec, ctx: SyncContext) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.queue(Unit(spec.name, RESOURCES, "listing tables", self._tables))

    def plan(self) -> Plan:
        return Plan(
            "the table list, each table's keys, then one call per key (counts known as they come)", {}
        )

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        found = fetched.found
        if isinstance(found, _Tables):
            for table in found.names:
                self.queue(Unit(self.name, RESOURCES, f"table {table!r} keys", partial(self._keys, table)))
        elif isinstance(found, _Keys):
            for start in range(0, len(found.entries), METADATA_VALUES_PER_UNIT):
                chunk = found.entries[start : start + METADATA_VALUES_PER_UNIT]
                label = f"table {found.table!r} values {start + 1}-{start + len(chunk)}"
                self.queue(Unit(self.name, RESOURCES, label, partial(self._values, found.table, chunk)))

    def _tables(self, unit: Unit) -> Fetched:
        path = self.spec.path
        what = describe(self.name, "listing tables")
        tables = items_of(self.ctx.client.get_json(path, what=what), "results", f"{what}: GET {path}")
        names = [t["name"] for t in tables if isinstance(t.get("name"), str)]
        return Fetched(EMPTY, found=_Tables(names))

    def _keys(self, table: str, unit: Unit) -> Fetched:
        table_path = f"{self.spec.path}/{quote(table, safe='')}"
        marker: str | None = None
        entries: list[Row] = []
        while True:
            what = describe(self.name, f"table {table!r}")
            payload = self.ctx.client.get_json(
                table_path, {"nextMarker": marker} if marker else None, what=what
            )
            listed = items_of(payload, "results", f"{what}: GET {table_path}")
            entries += [entry for entry in listed if isinstance(entry.get("key"), str)]
            marker = payload.get("nextMarker") if isinstance(payload, dict) else None
            if not marker:
                return Fetched(EMPTY, found=_Keys(table, entries))

    def _values(self, table: str, entries: list[Row], unit: Unit) -> Fetched:
        table_path = f"{self.spec.path}/{quote(table, safe='')}"
        records: list[Row] = []
        for entry in entries:
            key = entry["key"]
            value = self.ctx.client.request(
                f"{table_path}/{quote(key, safe='')}",
                None,
                read_json,
                what=describe(self.name, f"table {table!r}, key {key!r}"),
                ignore_statuses=frozenset({404}),
            )
            if value is None:
                # Deleted between the listing and this call: nothing left to replicate.
                LOGGER.warning(
                    f"{describe(self.name)}: key {key!r} of table {table!r} vanished during the sync"
                )
                continue
            record = {**entry, **value} if isinstance(value, dict) else {**entry, "value": value}
            record.setdefault("table", table)
            records.append(record)
            unit.progress.add(0, 1)
        return Fetched(Batch(self.ctx.shaper(self.spec).held_lines(records)), rows=len(records))

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR


@dataclass(frozen=True)
class _Tables:
    names: list[str]


@dataclass(frozen=True)
class _Keys:
    table: str
    entries: list[Row]
