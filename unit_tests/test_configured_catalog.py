"""``configured_catalog``: the configured catalogs the protocol allows, and a problem per entry and field
for the others; ``read`` refuses them with one config_error before any request."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
import requests_mock
from airbyte_cdk.models import (
    ConfiguredAirbyteCatalogSerializer,
)

from source_iterable.configured_catalog import MAX_LISTED, Problem, catalog_problems, describe
from source_iterable.read import read

from .builders import NOW, cdk_bad_catalog, config_dict

CURSORS = {"campaigns": "updatedAt", "email_send": "createdAt", "lists": None}


def entry(name: str = "campaigns", **overrides: Any) -> dict[str, Any]:
    configured: dict[str, Any] = {
        "stream": {"name": name, "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh",
        "destination_sync_mode": "append",
    }
    for key, value in overrides.items():
        if key.startswith("stream_"):
            configured["stream"][key.removeprefix("stream_")] = value
        else:
            configured[key] = value
    return configured


def problems(*entries: Any) -> list[str]:
    return [str(problem) for problem in catalog_problems({"streams": list(entries)}, CURSORS)]


# ------------------------------------------------------------------ what is allowed


@pytest.mark.parametrize(
    "configured",
    [
        pytest.param(entry(), id="full refresh"),
        pytest.param(
            entry(sync_mode="incremental", cursor_field=["updatedAt"]), id="incremental with its cursor"
        ),
        pytest.param(entry(sync_mode="incremental"), id="incremental, cursor left to the source"),
        pytest.param(entry(sync_mode="incremental", cursor_field=[]), id="incremental, empty cursor"),
        pytest.param(entry(destination_sync_mode="overwrite"), id="overwrite"),
        pytest.param(entry(destination_sync_mode="append_dedup", primary_key=[["id"]]), id="append_dedup"),
        pytest.param(entry(cursor_field=None, primary_key=None), id="nulls for optional fields"),
        pytest.param(entry("not_ours", sync_mode="incremental", cursor_field=["x"]), id="unknown stream"),
        pytest.param(entry(generation_id=3, minimum_generation_id=0, sync_id=9), id="refresh fields"),
        pytest.param(entry(stream_json_schema={}), id="a schema without properties"),
    ],
)
def test_a_catalog_the_protocol_allows_has_no_problem(configured: dict[str, Any]) -> None:
    assert problems(configured) == []


def test_an_empty_catalog_is_allowed() -> None:
    assert catalog_problems({"streams": []}, CURSORS) == []


# ------------------------------------------------------------------ what is not


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (entry(sync_mode="INVALID"), "'sync_mode' is 'INVALID'; it must be one of full_refresh, incremental"),
        (entry(sync_mode=None), "'sync_mode' is missing; it must be one of"),
        (entry(destination_sync_mode="INVALID"), "'destination_sync_mode' is 'INVALID'"),
        # the platform rewrites these two before a source sees them: from anyone else they are a mistake
        (entry(destination_sync_mode="update"), "'destination_sync_mode' is 'update'"),
        (entry(destination_sync_mode="soft_delete"), "'destination_sync_mode' is 'soft_delete'"),
        (entry(stream_json_schema=None), "'stream.json_schema' must be an object"),
        (entry(stream_json_schema="{}"), "'stream.json_schema' must be an object"),
        (entry(stream_supported_sync_modes=[]), "'stream.supported_sync_modes' must be a non-empty list"),
        (entry(stream_supported_sync_modes=["INVALID"]), "'stream.supported_sync_modes' must be"),
        (entry(stream_supported_sync_modes=None), "'stream.supported_sync_modes' must be"),
        (entry(cursor_field="updatedAt"), "'cursor_field' must be a list of strings"),
        (entry(cursor_field=[1]), "'cursor_field' must be a list of strings"),
        (
            entry(sync_mode="incremental", cursor_field=["createdAt"]),
            "'cursor_field' is ['createdAt']; stream 'campaigns' defines its cursor as ['updatedAt']",
        ),
        (entry(primary_key=["id"]), "'primary_key' must be a list of paths"),
        (entry(primary_key="id"), "'primary_key' must be a list of paths"),
    ],
)
def test_each_problem_names_the_entry_the_stream_and_the_field(
    configured: dict[str, Any], expected: str
) -> None:
    found = problems(entry("lists"), configured)

    assert len(found) == 1
    assert found[0].startswith("entry 2 (stream 'campaigns'): ")
    assert expected in found[0]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("campaigns", "entry 1: 'stream' is missing: each entry must be an object"),
        ({"sync_mode": "full_refresh"}, "entry 1: 'stream' must be an object"),
        ({"stream": "campaigns"}, "entry 1: 'stream' must be an object"),
        ({"stream": {"json_schema": {}}}, "entry 1: 'stream.name' must be the stream's name"),
        ({"stream": {"name": ""}}, "entry 1: 'stream.name' must be the stream's name"),
    ],
)
def test_an_entry_without_a_stream_name_is_named_by_its_place(configured: Any, expected: str) -> None:
    found = problems(configured)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize("catalog", [[], {}, {"streams": {"campaigns": {}}}, "streams", None])
def test_a_catalog_without_a_list_of_streams_is_one_problem(catalog: Any) -> None:
    assert [str(p) for p in catalog_problems(catalog, CURSORS)] == [
        "'streams' must be a list: a configured catalog is a JSON object with streams"
    ]


def test_a_stream_configured_twice_is_a_problem_of_the_second_entry() -> None:
    assert problems(entry(), entry("lists"), entry(sync_mode="incremental")) == [
        "entry 3 (stream 'campaigns'): 'stream.name' is configured twice (entry 1)"
    ]


def test_the_cdks_bad_catalog_has_both_of_its_modes_named() -> None:
    found = catalog_problems(cdk_bad_catalog(), CURSORS)

    assert [(p.entry, p.stream, p.field) for p in found] == [
        (1, "__AIRBYTE__stream_that_does_not_exist", "sync_mode"),
        (1, "__AIRBYTE__stream_that_does_not_exist", "destination_sync_mode"),
    ]


def test_a_long_list_of_problems_is_spelt_out_in_part_and_counted() -> None:
    found = [Problem(n, f"s{n}", "sync_mode", "is missing") for n in range(1, MAX_LISTED + 4)]

    message = describe(found)

    assert message.count("'sync_mode' is missing") == MAX_LISTED
    assert message.endswith("; and 3 more")


# ------------------------------------------------------------------ read refuses them


def read_lines(catalog: Any) -> tuple[int, list[dict[str, Any]]]:
    out = io.BytesIO()
    code = read(config_dict(), catalog, None, out, now=NOW)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    "catalog",
    [
        pytest.param(cdk_bad_catalog(), id="cdk bad catalog"),
        pytest.param(
            {"streams": [entry("lists", sync_mode="INVALID")]}, id="a known stream with sync_mode INVALID"
        ),
        pytest.param(
            {"streams": [entry("lists"), entry("channels", destination_sync_mode=None)]},
            id="a valid entry beside an invalid one",
        ),
    ],
)
def test_read_answers_a_malformed_catalog_with_one_config_error_and_no_request(catalog: Any) -> None:
    with requests_mock.Mocker() as api:
        code, found = read_lines(catalog)

    assert code == 1
    assert api.call_count == 0
    # one message: the error trace, naming entry and field; no stream was started
    assert [message["type"] for message in found] == ["TRACE"]
    error = found[0]["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith("Invalid configuration: '--catalog' entry ")
    assert "sync_mode' is" in error["message"]


def test_read_of_an_unknown_stream_alone_stays_a_warning_and_an_incomplete_status() -> None:
    with requests_mock.Mocker() as api:
        code, found = read_lines({"streams": [entry("__AIRBYTE__stream_that_does_not_exist")]})

    assert code == 0
    assert api.call_count == 0
    assert [m["trace"]["stream_status"]["status"] for m in found if m["type"] == "TRACE"] == ["INCOMPLETE"]
    assert any(m["type"] == "LOG" and m["log"]["level"] == "WARN" for m in found)


def test_the_cdks_serializer_accepts_what_we_accept() -> None:
    """Our entries are the protocol's: the CDK's own model loads every catalog we allow."""
    allowed = {
        "streams": [entry(), entry("lists", destination_sync_mode="append_dedup", primary_key=[["id"]])]
    }
    assert catalog_problems(allowed, CURSORS) == []
    loaded = ConfiguredAirbyteCatalogSerializer.load(allowed)
    assert [stream.stream.name for stream in loaded.streams] == ["campaigns", "lists"]
