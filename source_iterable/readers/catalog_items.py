"""catalog_items: the project's catalogs, found at run time, then every page of each one's items.

One unit lists the catalogs (``GET /api/catalogs``); then a unit per catalog reads its first page of
``GET /api/catalogs/{name}/items`` (1000 items), which gives the item count, and further units read the
other pages, 20 a unit, straight into record files: a catalog of millions of items costs neither
memory nor more temporary disk than the read-ahead allows. Both answers may come inside Iterable's ``params`` envelope
(``resources.unwrapped``). A catalog deleted after the listing answers 404: what was read of it is kept,
with one WARN.

Incremental on ``lastModified``, filtered here: the API documents ``orderBy`` but not whether
``lastModified`` may be named there, so every page is read and an item is new when it was modified
after the bookmark (at or after start_date on the first sync). ``lastModified`` is epoch milliseconds
in the recorded answer and the official client, a date-time in the spec: both are read
(``modified_ms``). The bookmark moves once every catalog was read, to the newest modification seen but
never past the sync's start (an item modified during the read may have moved to a page already read).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import quote

from ..api.client import read_json
from ..api.spool import RecordFile
from ..catalog import StreamSpec
from ..engine.lanes import RESOURCES
from ..engine.units import EMPTY, Batch, Fetched, Plan, StreamRun, Unit
from ..records import Row
from ..state import NO_CURSOR
from ..transforms import format_rfc3339, parse_export_time
from .context import SyncContext, describe
from .resources import budget_of, items_of, unwrapped

LOGGER = logging.getLogger("airbyte")
CATALOGS_PATH = "/api/catalogs"
CATALOGS_KEY = "catalogNames"
CATALOGS_PAGE = 100  # the official client's maximum for the catalog list
ITEMS_PAGE = 1000  # and for a catalog's items
# Pages a unit reads: 20,000 items, a few MB of temporary disk; a large catalog is many units, so the
# read-ahead bounds its disk and several of its pages download at once.
PAGES_PER_UNIT = 20


def modified_ms(value: Any) -> int | None:
    """``lastModified`` as epoch milliseconds: an integer (or float) of them, or a date-time string;
    None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        moment = parse_export_time(value.strip())
        return round(moment.timestamp() * 1000) if moment is not None else None
    return None


def later_pages(
    total: int | None, first_full: bool, pages_per_unit: int = PAGES_PER_UNIT
) -> list[tuple[int, int | None]]:
    """The page ranges after page 1, a unit each, from the item count page 1 gave (and whether page 1
    was full). The last range reads on until a short page: items added during the read push the last
    ones further. Without a count, one range reads every later page."""
    if total is None:
        return [(2, None)] if first_full else []
    pages = -(-total // ITEMS_PAGE)
    if pages <= 1:
        return []
    ranges: list[tuple[int, int | None]] = [
        (start, min(start + pages_per_unit - 1, pages)) for start in range(2, pages + 1, pages_per_unit)
    ]
    ranges[-1] = (ranges[-1][0], None)
    return ranges


def is_new(modified: int | None, after_ms: int, inclusive: bool) -> bool:
    """Whether an item modified at ``modified`` is past the bound; an item without a usable time is
    always emitted (never lost for want of a cursor)."""
    return modified is None or modified > after_ms or (inclusive and modified == after_ms)


class CatalogItemsRun(StreamRun):
    def __init__(
        self, spec: StreamSpec, ctx: SyncContext, incremental: bool, bookmark: datetime | None
    ) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.incremental = incremental
        bound = bookmark if bookmark is not None else ctx.config.start_date
        self.after_ms, self.inclusive = round(bound.timestamp() * 1000), bookmark is None
        # Never behind the bound: items older than start_date must not come back on the next sync.
        self.newest_ms = self.after_ms
        self.catalogs: int | None = None
        self._lock = threading.Lock()
        self._gone: set[str] = set()  # catalogs that answered 404, warned about once
        self.queue(Unit(spec.name, RESOURCES, "listing catalogs", self._catalogs))

    def plan(self) -> Plan:
        filtered = f", filtered on {self.spec.cursor}" if self.incremental else ""
        count = "each catalog" if self.catalogs is None else f"{self.catalogs} catalogs"
        budget = budget_of(CATALOGS_PATH)
        return Plan(
            f"GET {CATALOGS_PATH}, then every page of {count}'s items{filtered}",
            {budget: 1} if budget else {},
        )

    def _catalogs(self, unit: Unit) -> Fetched:
        names: list[str] = []
        page = 1
        while True:
            what = describe(self.name, f"listing catalogs, page {page}")
            payload = self.ctx.client.get_json(
                CATALOGS_PATH, {"page": page, "pageSize": CATALOGS_PAGE}, what=what
            )
            body = unwrapped(payload, CATALOGS_KEY)
            listed = items_of(body, CATALOGS_KEY, f"{what}: GET {CATALOGS_PATH}")
            names += [entry["name"] for entry in listed if isinstance(entry.get("name"), str)]
            total = body.get("totalCatalogsCount")
            if len(listed) < CATALOGS_PAGE or (isinstance(total, int) and page * CATALOGS_PAGE >= total):
                return Fetched(EMPTY, found=list(dict.fromkeys(names)))
            page += 1

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        found = fetched.found
        if unit.index == 0 and isinstance(found, list):
            self.catalogs = len(found)
            LOGGER.info(f"plan for stream '{self.name}': {self.catalogs} catalogs")
            for name in found:
                self.queue(Unit(self.name, RESOURCES, f"catalog {name!r}", partial(self._items, name, 1, 1)))
        elif isinstance(found, _FirstPage):
            for first, last in later_pages(found.total, found.full):
                label = f"catalog {found.name!r} pages {first}-{last or 'end'}"
                self.queue(Unit(self.name, RESOURCES, label, partial(self._items, found.name, first, last)))

    def _items(self, name: str, first: int, last: int | None, unit: Unit) -> Fetched:
        """Pages ``first`` to ``last`` of a catalog (to its end when ``last`` is None) into a record file."""
        path = f"{CATALOGS_PATH}/{quote(name, safe='')}/items"
        data_key = self.spec.data_key or ""
        shaper = self.ctx.shaper(self.spec)
        out = RecordFile(stream=self.name)
        newest: int | None = None
        total: int | None = None
        full = False
        try:
            page = first
            while last is None or page <= last:
                what = describe(self.name, f"catalog {name!r}, page {page}")
                payload = self.ctx.client.request(
                    path,
                    {"page": page, "pageSize": ITEMS_PAGE},
                    read_json,
                    what=what,
                    ignore_statuses=frozenset({404}),
                )
                if payload is None:
                    self._vanished(name, page)
                    break
                body = unwrapped(payload, data_key)
                items = items_of(body, data_key, f"{what}: GET {path}")
                kept: list[Row] = []
                for item in items:
                    modified = modified_ms(item.get(self.spec.cursor or ""))
                    if modified is not None:
                        newest = modified if newest is None else max(newest, modified)
                    if not self.incremental or is_new(modified, self.after_ms, self.inclusive):
                        kept.append(item)
                out.write_lines(shaper.lines(kept))
                unit.progress.add(0, len(kept))
                counted = body.get("totalItemsCount")
                total = counted if isinstance(counted, int) and not isinstance(counted, bool) else None
                full = len(items) >= ITEMS_PAGE
                if not full or (total is not None and page * ITEMS_PAGE >= total):
                    break
                page += 1
        except BaseException:
            out.close()
            raise
        if newest is not None:
            with self._lock:
                self.newest_ms = max(self.newest_ms, newest)
        found = _FirstPage(name, total, full) if first == 1 and last == 1 else None
        return Fetched(Batch(files=[out]), rows=out.count, found=found)

    def _vanished(self, name: str, page: int) -> None:
        with self._lock:
            first = name not in self._gone
            self._gone.add(name)
        if first:
            LOGGER.warning(
                f"{describe(self.name)}: catalog {name!r} answered 404 on page {page} (deleted during the sync?); "
                "the items read before are emitted"
            )

    def final_state(self) -> Mapping[str, Any]:
        if not self.incremental:
            return NO_CURSOR
        newest = min(self.newest_ms, round(self.ctx.started.timestamp() * 1000))
        moment = datetime.fromtimestamp(newest / 1000, tz=timezone.utc)
        return {self.spec.cursor or "": format_rfc3339(moment)}


@dataclass(frozen=True)
class _FirstPage:
    name: str
    total: int | None  # totalItemsCount, when the answer had one
    full: bool
