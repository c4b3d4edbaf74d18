"""Pure: rows in, the exact JSON of each record out, shaped so that Airbyte's platform keeps every value.

Airbyte's replication worker keeps only the top-level keys that the configured stream's
``json_schema.properties`` declares (``FieldSelector.filterSelectedFields``) and drops the others
without a word. A field Iterable adds next month, a project's own fields on custom events, a users field
created after the last discover: each is a top-level key the configured catalog does not declare. Each
such key is moved into one declared object, ``_additional_fields``, so it reaches the warehouse.

The declared keys are read once per stream from the configured catalog (what the platform filters
with); what a record pays is one subset check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

Row = dict[str, Any]
# Every stream declares it (``schema_files.stream_schema``): undeclared top-level keys go in here.
ADDITIONAL_FIELDS = "_additional_fields"
ADDITIONAL_FIELDS_SCHEMA: Mapping[str, Any] = {
    "type": ["null", "object"],
    "additionalProperties": True,
    "description": (
        "Top-level fields of the Iterable row that this stream's schema (as configured in the catalog) "
        "does not declare, by their original name: fields Iterable added after the schema was discovered, "
        "a project's own fields. Airbyte would otherwise drop them."
    ),
}
BlockConvert = Callable[[list[Row]], list[bytes]]
# orjson 3.13 returns each ``dumps`` result in a buffer of at least 4 KB (100,000 results of a 60-byte
# record hold 390 MB). Lines written to a file at once do not care; lines a batch holds in memory until
# they are printed are encoded this many at a time and each copied to its own size.
HELD_SLICE = 256


def declared_keys(json_schema: Any) -> frozenset[str] | None:
    """The top-level keys a configured stream's schema declares; None when it declares no properties
    (then there is nothing to judge against and rows pass as they are)."""
    properties = json_schema.get("properties") if isinstance(json_schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return None
    return frozenset(key for key in properties if isinstance(key, str))


def fold_undeclared(record: MutableMapping[str, Any], declared: frozenset[str]) -> MutableMapping[str, Any]:
    """Move every top-level key ``declared`` lacks into ``_additional_fields`` (in place).

    A row that already carries ``_additional_fields`` keeps what it holds: an object is merged, any
    other value is kept inside under that name. Nothing is ever dropped.
    """
    if declared.issuperset(record):
        return record
    extra: dict[str, Any] = {}
    for key in [key for key in record if key not in declared and key != ADDITIONAL_FIELDS]:
        extra[key] = record.pop(key)
    if ADDITIONAL_FIELDS in record:
        existing = record[ADDITIONAL_FIELDS]
        if isinstance(existing, dict):
            existing.update(extra)
            return record
        if not extra and ADDITIONAL_FIELDS in declared:
            return record
        extra[ADDITIONAL_FIELDS] = existing
    if extra:
        record[ADDITIONAL_FIELDS] = extra
    return record


@dataclass(frozen=True)
class RecordShaper:
    """One stream's rows to record JSON: its transform, then undeclared keys folded."""

    transform: Callable[[Row], Any]
    declared: frozenset[str] | None = None

    def record(self, row: Row) -> Any:
        record = self.transform(row)
        if self.declared is not None and isinstance(record, dict):
            fold_undeclared(record, self.declared)
        return record

    def lines(self, rows: Iterable[Row]) -> list[bytes]:
        """A block of rows as record JSON lines (the spooler's inner loop: kept flat on purpose)."""
        transform, declared, dumps = self.transform, self.declared, orjson.dumps
        if declared is None:
            return [dumps(transform(row)) for row in rows]
        out: list[bytes] = []
        append = out.append
        for row in rows:
            record = transform(row)
            if not declared.issuperset(record):
                fold_undeclared(record, declared)
            append(dumps(record))
        return out

    def held_lines(self, rows: Iterable[Row]) -> list[bytes]:
        """``lines`` for records held in memory (a resource's batch): each line costs its own size."""
        out: list[bytes] = []
        pending = iter(rows)
        while block := list(islice(pending, HELD_SLICE)):
            out += [b"%b" % line for line in self.lines(block)]  # a copy of exactly the line's size
        return out


def missing_fold_warning(stream: str) -> str:
    return (
        f"stream '{stream}': the configured catalog's schema does not declare '{ADDITIONAL_FIELDS}', so "
        f"Airbyte drops the fields this schema does not declare (fields Iterable added since the schema was "
        f"discovered); refresh the source schema of this connection to keep them"
    )
