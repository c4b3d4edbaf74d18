"""campaigns_metrics and experiment_metrics: every campaign id, then batches of ids (as many as fit
Iterable's 2048-character URI limit) against the stream's CSV endpoint, one unit per batch on the
endpoint's lane. See ``docs/api-campaigns-metrics.md`` for the facts; the pure parts are ``batches``
and ``csv_body``, the two endpoints ``endpoints``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import requests

from ...api.errors import BodyError
from ...catalog import StreamSpec
from ...engine.lanes import RESOURCES
from ...engine.progress import duration
from ...engine.units import EMPTY, Batch, Fetched, Plan, StreamRun, Unit
from ...state import NO_CURSOR
from ..context import SyncContext, describe
from ..resources import items_of
from .batches import DateRange, batch_ids, metrics_params
from .csv_body import CsvLayout, MetricsBodyError, ParsedMetrics, parse_metrics_csv
from .endpoints import ENDPOINTS

LOGGER = logging.getLogger("airbyte")
CAMPAIGNS_PATH = "/api/campaigns"
PAGE_SIZE = 1000


class MetricsRun(StreamRun):
    def __init__(self, spec: StreamSpec, ctx: SyncContext) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.endpoint = ENDPOINTS[spec.path]
        self.range = DateRange.full_refresh(ctx.config.start_date, ctx.started)
        self.queue(Unit(spec.name, RESOURCES, "listing campaign ids", self._ids))

    def plan(self) -> Plan:
        return Plan(
            f"every campaign id from {CAMPAIGNS_PATH}, then batches of ids to {self.spec.path} sized to "
            "the URI limit",
            {},
        )

    def _ids(self, unit: Unit) -> Fetched:
        ids: list[int] = []
        page = 1
        while True:
            what = describe(self.name, f"listing campaigns, page {page}")
            payload = self.ctx.client.get_json(
                CAMPAIGNS_PATH, {"page": page, "pageSize": PAGE_SIZE}, what=what
            )
            items = items_of(payload, "campaigns", f"{what}: GET {CAMPAIGNS_PATH}")
            ids += [
                c["id"] for c in items if isinstance(c.get("id"), int) and not isinstance(c.get("id"), bool)
            ]
            if len(items) < PAGE_SIZE:
                batches = batch_ids(self.ctx.client.base_url, self.spec.path, ids, self.range)
                return Fetched(EMPTY, found=batches)
            page += 1

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        if unit.index != 0 or not isinstance(fetched.found, list):
            return
        limiter = self.ctx.client.limiter(self.endpoint.lane)
        batches = fetched.found
        LOGGER.info(
            f"plan for stream '{self.name}': {sum(map(len, batches))} campaigns in {len(batches)} requests "
            f"({limiter.per_minute:g}/min; at least {duration(limiter.minimum_seconds(len(batches)))})"
        )
        for number, batch in enumerate(batches, start=1):
            label = f"campaigns batch {number} of {len(batches)} ({batch[0]}..{batch[-1]})"
            self.queue(Unit(self.name, self.endpoint.lane, label, partial(self._metrics, batch)))

    def _metrics(self, batch: list[int], unit: Unit) -> Fetched:
        what = describe(self.name, unit.label)
        parsed = self.ctx.client.request(
            self.spec.path,
            metrics_params(batch, self.range),
            partial(_parse, layout=self.endpoint.layout, date_range=self.range),
            what=what,
        )
        assert parsed is not None
        if parsed.unparsed_cells or parsed.skipped_rows or parsed.ignored_columns:
            LOGGER.warning(f"{what}: {parsed.summary()}")
        lines = self.ctx.shaper(self.spec).held_lines(parsed.records)
        return Fetched(Batch(lines), rows=len(lines))

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR


def _parse(response: requests.Response, layout: CsvLayout, date_range: DateRange) -> ParsedMetrics:
    try:
        return parse_metrics_csv(response.content, layout, date_range)
    except MetricsBodyError as error:
        raise BodyError(str(error)) from None  # retried like any unusable body
