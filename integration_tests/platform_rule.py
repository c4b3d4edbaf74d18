"""What Airbyte's platform does to a record between the source and the destination, as a test helper.

The replication worker keeps only the top-level keys that the configured stream's
``json_schema.properties`` declares (airbyte-platform ``FieldSelector.filterSelectedFields``, run on
every record in the default orchestrator mode). Whatever a test reads after this rule is what reaches
the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from source_iterable.records import ADDITIONAL_FIELDS


def platform_keeps(record: Mapping[str, Any], json_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the destination receives it: undeclared top-level keys dropped."""
    declared = json_schema.get("properties") or {}
    return {key: value for key, value in record.items() if key in declared}


def unfolded(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with ``_additional_fields`` put back at the top level: the row as Iterable sent it
    (after our conversions), for comparing what a warehouse holds with what was read."""
    out = {key: value for key, value in record.items() if key != ADDITIONAL_FIELDS}
    extra = record.get(ADDITIONAL_FIELDS)
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            assert key not in out, f"{key!r} is both declared and folded"
            out[key] = value
    return out
