"""list_users: the lists, then one plain-text getUsers call per list (5 calls a minute per project).

Each list is its own unit on the getUsers lane, so the 5-a-minute budget is spent while every other
stream downloads. One list failing (Iterable answers a persistent 500 for some lists) does not stop
the others: every readable list is printed, then the stream fails naming the lists it could not read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson

from ..api.errors import ApiError, ConnectorError
from ..api.spool import RecordFile, spool_lines
from ..catalog import StreamSpec
from ..engine.lanes import LIST_MEMBERS, RESOURCES
from ..engine.progress import duration
from ..engine.units import EMPTY, Batch, Fetched, Plan, StreamRun, Unit, Verdict
from ..state import NO_CURSOR
from .context import SyncContext, describe
from .resources import items_of

LOGGER = logging.getLogger("airbyte")
LISTS_PATH = "/api/lists"
MEMBER_KEYS = ("email", "listId", "updatedAt")


class ListMembersRun(StreamRun):
    def __init__(self, spec: StreamSpec, ctx: SyncContext) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.lists: int | None = None
        self.queue(Unit(spec.name, RESOURCES, "reading the lists", self._lists))

    def plan(self) -> Plan:
        count = "one per list" if self.lists is None else f"{self.lists}"
        return Plan(f"GET {LISTS_PATH}, then {count} getUsers calls", {RESOURCES: 1})

    def _lists(self, unit: Unit) -> Fetched:
        what = describe(self.name, "reading the lists")
        found = items_of(
            self.ctx.client.get_json(LISTS_PATH, what=what), "lists", f"{what}: GET {LISTS_PATH}"
        )
        return Fetched(EMPTY, found=[entry.get("id") for entry in found])

    def fetched(self, unit: Unit, fetched: Fetched) -> None:
        if isinstance(fetched.found, list):
            self.lists = len(fetched.found)
            limiter = self.ctx.client.limiter(LIST_MEMBERS)
            LOGGER.info(
                f"plan for stream '{self.name}': {self.lists} lists, so {self.lists} {LIST_MEMBERS} requests "
                f"({limiter.per_minute:g}/min; at least {duration(limiter.minimum_seconds(self.lists))})"
            )
            for list_id in fetched.found:
                self.queue(Unit(self.name, LIST_MEMBERS, f"list {list_id}", partial(self._members, list_id)))

    def _members(self, list_id: Any, unit: Unit) -> Fetched:
        body = self.ctx.client.request(
            self.spec.path,
            {"listId": list_id},
            partial(spool_lines, progress=unit.progress),
            what=describe(self.name, f"list {list_id}"),
            stream=True,
        )
        assert body is not None
        out = RecordFile(stream=self.name)
        shaper = self.ctx.shaper(self.spec)
        if shaper.declared is not None and not shaper.declared.issuperset(MEMBER_KEYS):
            # A catalog older than these keys: the slow path folds what it does not declare.
            return self._shaped_members(list_id, body, out)
        try:
            head = b'{"email":'
            tail = (
                b',"listId":'
                + orjson.dumps(list_id)
                + b',"updatedAt":'
                + orjson.dumps(self.ctx.started_text)
                + b"}"
            )
            for block in body.blocks():
                out.write_lines(
                    [head + orjson.dumps(line.decode("utf-8", "replace")) + tail for line in block]
                )
        except BaseException:
            out.close()
            raise
        finally:
            body.close()
        return Fetched(Batch(files=[out]), rows=out.count)

    def _shaped_members(self, list_id: Any, body: RecordFile, out: RecordFile) -> Fetched:
        shaper = self.ctx.shaper(self.spec)
        try:
            for block in body.blocks():
                rows = [
                    {
                        "email": line.decode("utf-8", "replace"),
                        "listId": list_id,
                        "updatedAt": self.ctx.started_text,
                    }
                    for line in block
                ]
                out.write_lines(shaper.lines(rows))
        except BaseException:
            out.close()
            raise
        finally:
            body.close()
        return Fetched(Batch(files=[out]), rows=out.count)

    def failed(self, unit: Unit, error: ConnectorError) -> Verdict:
        if isinstance(error, ApiError) and error.key_refused:
            return Verdict.FAIL_STREAM  # every other list would be refused the same way
        if unit.index == 0:
            return Verdict.FAIL_STREAM  # without the lists there is nothing to read
        return Verdict.SKIP

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR

    def final_error(self) -> ConnectorError | None:
        if not self.errors:
            return None
        message = (
            f"{describe(self.name)}: could not read the members of {len(self.errors)} of {self.lists} lists; "
            f"the members of every other list were emitted. Failed: {'; '.join(self.errors)}"
        )
        return ConnectorError(message)
