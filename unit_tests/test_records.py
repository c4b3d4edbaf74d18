"""``records.py``: every top-level key a configured schema does not declare is folded into
``_additional_fields``, so that Airbyte's field selection (which drops undeclared keys) loses nothing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from integration_tests.platform_rule import platform_keeps, unfolded
from source_iterable.catalog import STREAMS, StreamSpec
from source_iterable.records import (
    ADDITIONAL_FIELDS,
    RecordShaper,
    declared_keys,
    fold_undeclared,
)
from source_iterable.schema_files import stream_schema

UNDECLARED = {"brandNewField": "added by Iterable next month", "projectScore": {"tier": 3, "tags": ["a"]}}


def sample_row(spec: StreamSpec, schema: dict[str, Any]) -> dict[str, Any]:
    """A row holding every key the schema declares (a plain value each) plus two it does not."""
    row: dict[str, Any] = {key: f"value of {key}" for key in schema["properties"] if key != ADDITIONAL_FIELDS}
    row.update(copy.deepcopy(UNDECLARED))
    return row


@pytest.mark.parametrize("spec", STREAMS, ids=[spec.name for spec in STREAMS])
def test_every_stream_keeps_every_value_through_the_platforms_field_selection(spec: StreamSpec) -> None:
    # given the stream's discovered schema and a row with keys that schema does not declare
    schema = stream_schema(spec.name)
    row = sample_row(spec, schema)
    shaper = RecordShaper(spec.transform, declared_keys(schema))
    expected = spec.transform(copy.deepcopy(row))

    # when the record is shaped and then trimmed the way Airbyte's platform trims it
    record = orjson.loads(shaper.lines([row])[0])
    delivered = platform_keeps(record, schema)

    # then the platform drops nothing, and the undeclared values sit in _additional_fields
    assert delivered == record
    assert delivered[ADDITIONAL_FIELDS] == UNDECLARED
    assert unfolded(delivered) == expected


def test_a_row_of_declared_keys_only_is_left_as_it_is() -> None:
    declared = frozenset({"email", "createdAt"})
    record = {"email": "a@example.com", "createdAt": "2024-01-01T00:00:00Z"}

    assert fold_undeclared(record, declared) == {
        "email": "a@example.com",
        "createdAt": "2024-01-01T00:00:00Z",
    }
    assert ADDITIONAL_FIELDS not in record


def test_undeclared_keys_move_under_their_own_names_and_nested_values_stay_whole() -> None:
    declared = frozenset({"email", ADDITIONAL_FIELDS})
    record = {"email": "a@example.com", "dataFields": {"plan": "gold"}, "score": 0, "gone": None}

    fold_undeclared(record, declared)

    assert record == {
        "email": "a@example.com",
        ADDITIONAL_FIELDS: {"dataFields": {"plan": "gold"}, "score": 0, "gone": None},
    }


def test_a_row_that_already_carries_additional_fields_keeps_them() -> None:
    declared = frozenset({"id", ADDITIONAL_FIELDS})
    merged = {"id": 1, ADDITIONAL_FIELDS: {"old": 1}, "new": 2}
    kept_inside = {"id": 1, ADDITIONAL_FIELDS: "a string Iterable sent", "new": 2}

    fold_undeclared(merged, declared)
    fold_undeclared(kept_inside, declared)

    assert merged == {"id": 1, ADDITIONAL_FIELDS: {"old": 1, "new": 2}}
    assert kept_inside == {
        "id": 1,
        ADDITIONAL_FIELDS: {"new": 2, ADDITIONAL_FIELDS: "a string Iterable sent"},
    }


def test_an_older_catalog_is_what_the_records_are_judged_against() -> None:
    # given a catalog discovered before "city" was declared
    old_schema: dict[str, Any] = {"properties": {"email": {}, "createdAt": {}, ADDITIONAL_FIELDS: {}}}
    shaper = RecordShaper(lambda row: row, declared_keys(old_schema))

    # when
    record = orjson.loads(shaper.lines([{"email": "a@example.com", "createdAt": "x", "city": "Lyon"}])[0])

    # then the platform's rule on that old schema still delivers the city
    delivered = platform_keeps(record, old_schema)
    assert delivered == {"email": "a@example.com", "createdAt": "x", ADDITIONAL_FIELDS: {"city": "Lyon"}}


@pytest.mark.parametrize("schema", [None, {}, {"type": "object"}, {"properties": "not an object"}])
def test_without_declared_properties_rows_pass_as_they_are(schema: Any) -> None:
    shaper = RecordShaper(lambda row: row, declared_keys(schema))

    assert shaper.declared is None
    assert orjson.loads(shaper.lines([{"a": 1, "b": 2}])[0]) == {"a": 1, "b": 2}


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 1000])
def test_held_lines_are_the_shapers_lines_whatever_the_number_of_records(count: int) -> None:
    # given records encoded a slice at a time for a batch held in memory, some with an undeclared key
    shaper = RecordShaper(lambda row: row, frozenset({"email", "listId", ADDITIONAL_FIELDS}))
    records = [
        {"email": f"u{n}@example.com", "listId": n, **({"extra": n} if n % 7 == 0 else {})}
        for n in range(count)
    ]

    # then the lines are exactly those the shaper makes of the whole block, in order
    whole_block = shaper.lines([dict(r) for r in records])
    assert shaper.held_lines(iter(records)) == whole_block
