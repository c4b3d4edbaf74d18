"""The members of every static list from ONE users export of the whole user base.

No date filter (``range=All``; ``start_date`` does not apply: a member last updated years ago is still
a member) and only the identity and list-ids fields (about 60 bytes a user). Through an export job when
the key may use them (``export_api`` not ``sync``, and not refused), else one data.json request; the
jobs reader falls back to data.json itself when Iterable refuses the jobs API. Rows are turned into
membership records block by block as the spooler parses them: a user base of millions is never held
in memory, only on disk as the records it gives.
"""

from __future__ import annotations

import logging

from ...catalog import StreamSpec
from ...engine.units import Fetched, Unit
from ...records import BlockConvert, Row
from ..context import SyncContext, describe
from ..data_json import read_data_json
from ..export_query import ExportQuery
from ..jobs import JobRunner
from .derive import MemberShape, ProfileCounts, profile_records

LOGGER = logging.getLogger("airbyte")
DATA_JSON_PATH = "/api/export/data.json"
USERS = "user"  # dataTypeName of the users export


class ProfileMembers:
    """An ``ExportTarget`` of the jobs reader: the users export that holds the static lists' members."""

    def __init__(
        self,
        spec: StreamSpec,
        ctx: SyncContext,
        shape: MemberShape,
        static: frozenset[int],
        jobs: JobRunner | None,
    ) -> None:
        self.spec, self.ctx, self.shape, self.static, self.jobs = spec, ctx, shape, static, jobs
        self.query = ExportQuery(spec.name, USERS, None, shape.only_fields)
        self.counts = ProfileCounts()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def through_jobs(self) -> bool:
        return self.jobs is not None and self.ctx.jobs.allowed

    def fetch(self, unit: Unit) -> Fetched:
        self.counts = ProfileCounts()
        if self.jobs is not None and self.through_jobs:
            fetched = self.jobs.read(self, self.query, unit)
        else:
            fetched = self.read_data_json(self.query, unit)
        self._report(fetched)
        return fetched

    def block_convert(self, unit: Unit) -> BlockConvert:
        shaper = self.ctx.shaper(self.spec)
        shape, static, started, counts = self.shape, self.static, self.ctx.started_text, self.counts

        def convert(rows: list[Row]) -> list[bytes]:
            return shaper.held_lines(profile_records(rows, shape, static, started, counts))

        return convert

    def read_data_json(self, query: ExportQuery, unit: Unit) -> Fetched:
        return read_data_json(self.ctx, DATA_JSON_PATH, query, self.block_convert(unit), unit)

    def _report(self, fetched: Fetched) -> None:
        what = describe(self.name, "static lists")
        counts, field = self.counts, self.shape.list_field
        LOGGER.info(
            f"{what}: the users export held {counts.rows:,} profiles, {fetched.rows:,} memberships of "
            f"{len(self.static)} static lists"
        )
        if counts.rows and not counts.with_field:
            LOGGER.warning(
                f"{what}: none of the {counts.rows:,} profiles of the users export carried '{field}', so no "
                f"member of a static list was found there. If project_type is not your project's type, fix it; "
                f"otherwise set list_users_source to get_users"
            )
        if counts.without_identity:
            names = "userId nor email" if self.shape.by_user_id else "email"
            LOGGER.warning(
                f"{what}: {counts.without_identity:,} profiles on a static list had no {names}; their "
                f"memberships were not emitted"
            )
