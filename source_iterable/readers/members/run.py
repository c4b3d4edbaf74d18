"""list_users: the lists, then the members of every static list from one users export and those of
every other list from getUsers, one call a list (5 a minute per project).

Unit 0 reads ``GET /api/lists``; then, in emission order, the users export (when there is a static
list to read) and one getUsers unit per other list. Each runs on its own lane, so the export and the
5-a-minute getUsers budget are spent while every other stream downloads. One list failing (Iterable
answers a persistent 500 for some lists) does not stop the others: every readable list is printed,
then the stream fails naming what it could not read. ``list_users_source: get_users`` sends every list
through getUsers, as before the export existed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import Any

from ...api.errors import ApiError, ConnectorError, FailureType
from ...catalog import StreamSpec
from ...engine.lanes import EXPORT, JOBS, LIST_MEMBERS, RESOURCES
from ...engine.progress import duration
from ...engine.units import EMPTY, Fetched, Plan, StreamRun, Unit, Verdict
from ...state import NO_CURSOR
from ..context import SyncContext, describe
from ..jobs import JobRunner
from ..resources import items_of
from .derive import AUTO, STATIC_LIST_TYPES, ListRef, ListSplit, member_shape, split_lists
from .get_users import member_lines, read_list
from .profiles import ProfileMembers

LOGGER = logging.getLogger("airbyte")
LISTS_PATH = "/api/lists"


class ListMembersRun(StreamRun):
    def __init__(self, spec: StreamSpec, ctx: SyncContext, jobs: JobRunner | None = None) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx, self.jobs = spec, ctx, jobs
        self.shape = member_shape(ctx.config.project_type)
        self.source = ctx.config.list_users_source
        self.split: ListSplit | None = None
        self.profiles: ProfileMembers | None = None
        self.profiles_unit: Unit | None = None
        self.lost = 0  # lists whose members were not emitted
        self.failures: list[str] = []
        self.queue(Unit(spec.name, RESOURCES, "reading the lists", self._lists))

    @property
    def lists(self) -> int | None:
        return None if self.split is None else self.split.total

    def plan(self) -> Plan:
        if self.split is None:
            rest = (
                "one users export for the static lists and one getUsers call per other list"
                if self.source == AUTO
                else "one getUsers call per list"
            )
            return Plan(f"GET {LISTS_PATH}, then {rest}", {RESOURCES: 1})
        requests = {RESOURCES: 1, LIST_MEMBERS: len(self.split.from_get_users)}
        if self.profiles is not None:
            requests[JOBS if self.profiles.through_jobs else EXPORT] = 2 if self.profiles.through_jobs else 1
        return Plan(f"GET {LISTS_PATH}, then {self._paths()}", requests)

    def _paths(self) -> str:
        split = self.split
        assert split is not None
        parts = []
        if split.from_profiles:
            path = (
                "an export job" if self.profiles is not None and self.profiles.through_jobs else "data.json"
            )
            parts.append(
                f"{len(split.from_profiles)} static lists ({', '.join(STATIC_LIST_TYPES)}) from one users "
                f"export of every profile's {self.shape.list_field} through {path}"
            )
        if split.from_get_users:
            parts.append(
                f"{len(split.from_get_users)} through getUsers ({_kinds(split.from_get_users, self.source)})"
            )
        return "; ".join(parts) or "no list to read"

    def _lists(self, unit: Unit) -> Fetched:
        what = describe(self.name, "reading the lists")
        found = items_of(
            self.ctx.client.get_json(LISTS_PATH, what=what), "lists", f"{what}: GET {LISTS_PATH}"
        )
        return Fetched(EMPTY, found=split_lists(found, self.source))

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        if not isinstance(fetched.found, ListSplit):
            return
        split = self.split = fetched.found
        if split.unusable:
            LOGGER.warning(
                f"{describe(self.name)}: {split.unusable} entries of GET {LISTS_PATH} have no list id; they are skipped"
            )
        if split.from_profiles:
            self.profiles = ProfileMembers(self.spec, self.ctx, self.shape, split.static_ids, self.jobs)
            lane = JOBS if self.profiles.through_jobs else EXPORT
            label = f"{len(split.from_profiles)} static lists (one users export)"
            self.profiles_unit = self.queue(Unit(self.name, lane, label, self.profiles.fetch))
        convert_for = partial(member_lines, self.ctx.shaper(self.spec), self.shape)
        for ref in split.from_get_users:
            fetch = partial(
                read_list,
                self.ctx.client,
                self.spec.path,
                self.name,
                self.shape,
                ref.id,
                convert_for(ref.id, self.ctx.started_text),
            )
            self.queue(Unit(self.name, LIST_MEMBERS, f"list {ref.id}", fetch))
        limiter = self.ctx.client.limiter(LIST_MEMBERS)
        calls = len(split.from_get_users)
        LOGGER.info(
            f"plan for stream '{self.name}': {split.total} lists: {self._paths()}; so {calls} {LIST_MEMBERS} "
            f"requests ({limiter.per_minute:g}/min; at least {duration(limiter.minimum_seconds(calls))})"
        )

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        if (
            isinstance(error, ApiError) and error.key_refused
        ) or error.failure_type is FailureType.config_error:
            return Verdict.FAIL_STREAM  # every other list would be refused the same way
        if unit.index == 0:
            return Verdict.FAIL_STREAM  # without the lists there is nothing to read
        if self.profiles is not None and unit is self.profiles_unit:
            static = len(self.profiles.static)
            self.lost += static
            self.failures.append(f"the {static} static lists (one users export): {error.message}")
        else:
            self.lost += 1
            self.failures.append(error.message)
        return Verdict.SKIP

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR

    def final_error(self) -> ConnectorError | None:
        if not self.errors:
            return None
        message = (
            f"{describe(self.name)}: could not read the members of {self.lost} of {self.lists} lists; "
            f"the members of every other list were emitted. Failed: {'; '.join(self.failures or self.errors)}"
        )
        return ConnectorError(message)


def _kinds(refs: tuple[ListRef, ...], source: str) -> str:
    if source != AUTO:
        return "list_users_source is get_users"
    counted = Counter(ref.type for ref in refs)
    return ", ".join(
        f"{count} Dynamic"
        if kind == "Dynamic"
        else f"{count} of listType '{kind}', not known to be static"
        if kind
        else f"{count} without a listType"
        for kind, count in counted.items()
    )
