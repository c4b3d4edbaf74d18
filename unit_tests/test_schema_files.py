"""``schema_files.py``: every stream schema with its shared references resolved, exactly as the CDK's
schema loader resolves them (the read path does not import the CDK)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from source_iterable import schema_files
from source_iterable.catalog import STREAMS
from source_iterable.records import ADDITIONAL_FIELDS, ADDITIONAL_FIELDS_SCHEMA
from source_iterable.schema_files import stream_schema

SCHEMA_NAMES = sorted(
    entry.name.removesuffix(".json")
    for entry in files("source_iterable").joinpath("schemas").iterdir()
    if entry.name.endswith(".json")
)


def test_there_is_a_schema_file_for_every_stream_and_no_other() -> None:
    assert SCHEMA_NAMES == sorted(spec.name for spec in STREAMS)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_is_the_one_the_cdk_loads_plus_the_additional_fields_object(name: str) -> None:
    # when
    ours = stream_schema(name)
    cdk = ResourceSchemaLoader("source_iterable").get_schema(name)

    # then the files resolve as the CDK resolves them, and every stream declares the object that keeps
    # the fields its schema does not declare (Airbyte drops undeclared top-level keys)
    added = ours["properties"].pop(ADDITIONAL_FIELDS)
    assert ours == cdk
    assert added == dict(ADDITIONAL_FIELDS_SCHEMA)
    assert ADDITIONAL_FIELDS not in cdk["properties"]  # declared in one place, not in 61 files


@pytest.mark.parametrize("name", ["email_send", "users"])
def test_no_reference_is_left_unresolved(name: str) -> None:
    def refs(node: Any) -> int:
        if isinstance(node, dict):
            return int("$ref" in node) + sum(refs(value) for value in node.values())
        if isinstance(node, list):
            return sum(refs(item) for item in node)
        return 0

    assert refs(stream_schema(name)) == 0


def test_each_call_returns_a_new_copy() -> None:
    first = stream_schema("email_send")
    first["properties"]["createdAt"]["type"] = "mangled"
    first["properties"].clear()

    again = stream_schema("email_send")
    assert again["properties"] and again["properties"]["createdAt"]["type"] != "mangled"


def test_a_reference_cycle_is_an_error_not_an_endless_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a shared file that refers to itself
    monkeypatch.setattr(schema_files, "_shared", lambda name: {"loop": {"$ref": "self.json#/loop"}})

    with pytest.raises(ValueError, match="nest too deeply"):
        schema_files._resolve({"$ref": "self.json#/loop"}, 0)


def test_a_pointer_follows_escaped_names() -> None:
    document = {"a/b": {"c~d": 1}}
    assert schema_files._pointer(document, "/a~1b/c~0d") == 1
    assert schema_files._pointer(document, "") == document
