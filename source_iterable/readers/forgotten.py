"""forgotten_users: the users Iterable was asked to forget (GDPR), as hashes a warehouse can match.

``GET /api/users/forgotten`` answers ``{"hashedEmails": [...]}`` in email-based and hybrid projects,
``GET /api/users/forgottenUserIds`` answers ``{"hashedUserIds": [...]}`` in userID-based and hybrid ones;
each endpoint answers an error in the other project type. Each hash is the SHA-256 of the lower-cased,
trimmed email or userId (docs/iterable.md shows how to match it). Neither endpoint is paged or filtered,
so the stream is a full refresh: one unit asks the endpoints of the configured project type.

One record per hash: ``{"hash", "identifierTypes"}``; a hash in both lists (a userId spelled like an
address) is one record with both types, so ``hash`` stays a primary key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..api.errors import ApiError, FailureType
from ..catalog import StreamSpec
from ..engine.lanes import RESOURCES
from ..engine.units import Batch, Fetched, Plan, StreamRun, Unit
from ..state import NO_CURSOR
from .context import SyncContext, describe
from .resources import budget_of, items_of, unwrapped

LOGGER = logging.getLogger("airbyte")


@dataclass(frozen=True)
class HashList:
    path: str
    key: str  # the array in the answer
    identifier: str  # what was hashed
    project_types: tuple[str, ...]  # where Iterable answers it


EMAILS = HashList("/api/users/forgotten", "hashedEmails", "email", ("email_based", "hybrid"))
USER_IDS = HashList("/api/users/forgottenUserIds", "hashedUserIds", "userId", ("hybrid", "userid_based"))
HASH_LISTS = (EMAILS, USER_IDS)


def lists_for(project_type: str) -> tuple[HashList, ...]:
    return tuple(hashes for hashes in HASH_LISTS if project_type in hashes.project_types)


def forgotten_records(found: Mapping[HashList, list[Any]]) -> tuple[list[dict[str, Any]], int]:
    """One record per hash, in first-seen order, with the identifier types it was listed for; and how
    many entries were not strings (not emitted). Hashes are lower-cased: SQL's hex digests are."""
    types: dict[str, list[str]] = {}
    skipped = 0
    for hashes, values in found.items():
        for value in values:
            if not isinstance(value, str) or not value.strip():
                skipped += 1
                continue
            listed = types.setdefault(value.strip().lower(), [])
            if hashes.identifier not in listed:
                listed.append(hashes.identifier)
    return [{"hash": digest, "identifierTypes": kinds} for digest, kinds in types.items()], skipped


class ForgottenUsersRun(StreamRun):
    def __init__(self, spec: StreamSpec, ctx: SyncContext) -> None:
        super().__init__(spec.name)
        self.spec, self.ctx = spec, ctx
        self.lists = lists_for(ctx.config.project_type)
        self.queue(Unit(spec.name, RESOURCES, "forgotten users", self._fetch))

    def plan(self) -> Plan:
        paths = " and ".join(f"GET {hashes.path}" for hashes in self.lists)
        budget = budget_of(EMAILS.path)
        return Plan(f"{paths} ({self.ctx.config.project_type})", {budget: len(self.lists)} if budget else {})

    def _fetch(self, unit: Unit) -> Fetched:
        found: dict[HashList, list[Any]] = {}
        for hashes in self.lists:
            what = describe(self.name, hashes.key)
            try:
                payload = self.ctx.client.get_json(hashes.path, what=what)
            except ApiError as error:
                if error.status not in (400, 404):
                    raise
                # Iterable answers an error where the project type does not have the list: a wrong
                # project_type is the likely cause, and the message says so.
                raise ApiError(
                    f"{error.message}. Iterable answers {hashes.path} only in "
                    f"{' and '.join(hashes.project_types)} projects: check that project_type "
                    f"({self.ctx.config.project_type}) is the project's type",
                    FailureType.config_error,
                    error.status,
                    False,
                    error.path,
                    error.budget,
                ) from None
            found[hashes] = items_of(unwrapped(payload, hashes.key), hashes.key, f"{what}: GET {hashes.path}")
        records, skipped = forgotten_records(found)
        if skipped:
            LOGGER.warning(f"{describe(self.name)}: {skipped} entries that are not hashes (not text) skipped")
        lines = self.ctx.shaper(self.spec).held_lines(records)
        return Fetched(Batch(lines), rows=len(lines))

    def final_state(self) -> Mapping[str, Any]:
        return NO_CURSOR
