"""What each kind of stream fetches: one run class per ``catalog.Kind``, built from the table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..api.errors import ConnectorError
from ..catalog import Kind, StreamSpec
from ..engine.lanes import EXPORT, JOBS, LANE_WIDTHS
from ..engine.units import Plan, StreamRun
from ..state import parse_bookmark
from .catalog_items import CatalogItemsRun
from .context import SyncContext
from .exports import ExportRun
from .forgotten import ForgottenUsersRun
from .members import ListMembersRun
from .metrics import MetricsRun
from .resources import JsonResourceRun, MetadataRun, PagedResourceRun
from .users import UsersFields
from .users.run import UsersRun

USERS = "users"  # the stream whose transform waits for the project's field list


@dataclass(frozen=True)
class Selected:
    """A stream of the configured catalog: its declaration and the sync mode asked for."""

    spec: StreamSpec
    incremental: bool
    json_schema: Mapping[str, Any] | None = None  # the configured catalog's schema (from discover)


class BrokenRun(StreamRun):
    """A stream that cannot start (its state is unusable): it fails at once, the others go on."""

    def __init__(self, name: str, error: ConnectorError) -> None:
        super().__init__(name)
        self.error = error

    def plan(self) -> Plan:
        return Plan(f"not read: {self.error.message}", {})

    def final_error(self) -> ConnectorError:
        return self.error


def build_runs(
    selected: list[Selected], ctx: SyncContext, states: Mapping[str, Any], jobs: Any = None
) -> list[StreamRun]:
    exports = [s for s in selected if s.spec.kind is Kind.EXPORT]
    width = ctx.config.max_concurrent_export_jobs if ctx.config.export_api != "sync" else LANE_WIDTHS[EXPORT]
    # A lone export stream may use every slot of its lane; many share them one window at a time,
    # which also lets each window be sized by the one before it.
    parallel = max(1, min(LANE_WIDTHS[EXPORT], width) // max(1, len(exports)))
    runs: list[StreamRun] = []
    for item in selected:
        spec = item.spec
        try:
            bookmark = (
                parse_bookmark(spec.name, spec.cursor, states.get(spec.name))
                if item.incremental and spec.cursor
                else None
            )
        except ConnectorError as error:
            runs.append(BrokenRun(spec.name, error))
            continue
        if spec.kind is Kind.EXPORT:
            lower = bookmark if bookmark is not None else ctx.config.start_date
            prelude = UsersFields(spec, ctx, item.json_schema) if spec.name == USERS else None
            run_class = UsersRun if spec.name == USERS else ExportRun
            previous = states.get(spec.name) if item.incremental else None
            runs.append(run_class(spec, ctx, lower, parallel, jobs, prelude, previous, item.incremental))
        elif spec.kind is Kind.PAGED_RESOURCE:
            runs.append(PagedResourceRun(spec, ctx, item.incremental, bookmark))
        elif spec.kind is Kind.LIST_MEMBERS:
            runs.append(ListMembersRun(spec, ctx, jobs))
        elif spec.kind is Kind.METADATA:
            runs.append(MetadataRun(spec, ctx))
        elif spec.kind is Kind.CAMPAIGN_METRICS:
            runs.append(MetricsRun(spec, ctx))
        elif spec.kind is Kind.CATALOG_ITEMS:
            runs.append(CatalogItemsRun(spec, ctx, item.incremental, bookmark))
        elif spec.kind is Kind.FORGOTTEN_USERS:
            runs.append(ForgottenUsersRun(spec, ctx))
        else:
            runs.append(JsonResourceRun(spec, ctx))
    share_recent_windows([run for run in runs if isinstance(run, ExportRun)], ctx)
    return runs


def share_recent_windows(runs: list[ExportRun], ctx: SyncContext) -> None:
    """In ``auto``, a stream with one recent window to read goes through data.json only while such
    streams fit in one data.json budget window (4 requests, no wait); the others go through export
    jobs, two calls each at 1 a second, instead of waiting minutes for data.json's next window."""
    if ctx.config.export_api != "auto" or not ctx.jobs.allowed:
        return
    room = ctx.client.limiter(EXPORT).capacity
    recent = [run for run in runs if run.jobs is not None and not run.use_jobs and run.lower < run.upper]
    for run in recent[room:]:
        run.use_jobs = True


def lane_widths(ctx: SyncContext) -> dict[str, int]:
    widths = dict(LANE_WIDTHS)
    widths[JOBS] = ctx.config.max_concurrent_export_jobs
    return widths
