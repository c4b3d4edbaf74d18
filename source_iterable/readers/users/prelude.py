"""users: one getFields call before the first window, so read converts the same date fields discover
declared. When getFields fails, the date fields the configured catalog's users schema declares are
converted instead (that schema came from discover), with one WARN."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...catalog import StreamSpec
from ...engine.lanes import RESOURCES
from ...engine.units import EMPTY, Fetched, Unit
from ..context import SyncContext, describe
from .fields import fetch_user_fields
from .schema import date_paths, date_paths_from_schema, read_fallback_warning, static_users_schema

LOGGER = logging.getLogger("airbyte")


class UsersFields:
    """The prelude unit of the users stream and what its answer changes."""

    def __init__(
        self, spec: StreamSpec, ctx: SyncContext, configured_schema: Mapping[str, Any] | None
    ) -> None:
        self.spec, self.ctx = spec, ctx
        self.configured_schema = configured_schema or {}

    def unit(self) -> Unit:
        return Unit(self.spec.name, RESOURCES, "field list (GET /api/users/getFields)", self._fetch)

    def _fetch(self, unit: Unit) -> Fetched:
        return Fetched(EMPTY, found=fetch_user_fields(self.ctx.client, describe(self.spec.name)))

    def apply(self, fetched: Fetched) -> None:
        """Runs on the main thread before any window is planned: every window uses the result."""
        lookup = fetched.found
        static_names = static_users_schema().get("properties", {}).keys()
        renames = self.spec.transform.renames
        if lookup.fields is not None:
            paths = date_paths(lookup.fields, static_names, renames)
        else:
            paths = date_paths_from_schema(self.configured_schema, static_names, renames)
            LOGGER.warning(read_fallback_warning(lookup.failure or "unknown failure", paths))
        if paths:
            LOGGER.info(
                f"{describe(self.spec.name)}: converting {len(paths)} date fields to RFC 3339: {', '.join(paths)}"
            )
        transforms = dict(self.ctx.transforms)
        transforms[self.spec.name] = replace(self.spec.transform, date_paths=paths)
        self.ctx.transforms = transforms
