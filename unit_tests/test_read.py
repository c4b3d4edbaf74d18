"""``read.py``: which streams of a configured catalog are read (``select``), and the read command in
process: its plan lines, its output, and how it ends for bad input and a refused key."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
import requests_mock

from source_iterable.api.errors import FailureType
from source_iterable.read import CatalogError, read, select

from .builders import (
    API_KEY,
    BAD_API_KEY_BODY,
    BASE_URL,
    NOW,
    config_dict,
    error_traces,
    records_of,
    statuses_of,
)

CHANNELS = {"channels": [{"id": 41001, "name": "Marketing Channel"}]}
LISTS = {"lists": [{"id": 3301122, "name": "Newsletter", "createdAt": 1617891908857}]}


def entry(name: str, mode: str = "full_refresh", schema: Any = None) -> dict[str, Any]:
    """A configured stream as the protocol requires it; ``schema`` None: one that declares no properties."""
    stream = {
        "name": name,
        "json_schema": {} if schema is None else schema,
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    return {"stream": stream, "sync_mode": mode, "destination_sync_mode": "append"}


def run_read(catalog: Any, state: Any = None, config: Any = None) -> tuple[int, list[dict[str, Any]]]:
    out = io.BytesIO()
    code = read(config if config is not None else config_dict(), catalog, state, out, now=NOW)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def logs(found: list[dict[str, Any]], level: str | None = None) -> list[str]:
    return [m["log"]["message"] for m in found if m["type"] == "LOG" and level in (None, m["log"]["level"])]


# ------------------------------------------------------------------ select


def test_select_keeps_the_catalogs_order_and_returns_the_names_it_does_not_know() -> None:
    selected, unknown = select(
        {"streams": [entry("lists"), entry("retired_stream"), entry("campaigns", "incremental"), entry("x")]}
    )

    assert [(s.spec.name, s.incremental) for s in selected] == [("lists", False), ("campaigns", True)]
    assert unknown == ["retired_stream", "x"]


def test_a_stream_without_a_cursor_is_read_in_full_whatever_the_catalog_asks() -> None:
    [channels], _ = select({"streams": [entry("channels", "incremental")]})
    assert channels.incremental is False


def test_the_configured_schema_is_carried() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string"}}}
    [users, other], _ = select({"streams": [entry("users", "incremental", schema), entry("lists")]})
    assert users.json_schema == schema and other.json_schema == {}


@pytest.mark.parametrize(
    ("catalog", "problem"),
    [
        ([], "'streams' must be a list: a configured catalog is a JSON object with streams"),
        ({"streams": {"lists": {}}}, "'streams' must be a list"),
        ({}, "'streams' must be a list"),
        ({"streams": [entry("lists"), "users"]}, "entry 2: 'stream' is missing"),
        ({"streams": [{"stream": "lists"}]}, "entry 1: 'stream' must be an object"),
        ({"streams": [{"stream": {"name": 7}}]}, "entry 1: 'stream.name' must be the stream's name"),
        (
            {"streams": [entry("lists", schema=[1])]},
            "entry 1 (stream 'lists'): 'stream.json_schema' must be an object",
        ),
        (
            {"streams": [{**entry("lists"), "sync_mode": "INVALID"}]},
            "entry 1 (stream 'lists'): 'sync_mode' is 'INVALID'; it must be one of full_refresh, incremental",
        ),
    ],
)
def test_a_catalog_the_protocol_does_not_allow_is_a_config_error_naming_the_entry_and_field(
    catalog: Any, problem: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        select(catalog)

    assert caught.value.failure_type is FailureType.config_error
    assert caught.value.message.startswith("Invalid configuration: '--catalog' ")
    assert problem in caught.value.message


# ------------------------------------------------------------------ the read command


def test_a_read_prints_the_plan_the_records_the_states_and_a_summary(api: requests_mock.Mocker) -> None:
    # given two resource streams Iterable serves
    api.get(BASE_URL + "/api/channels", json=CHANNELS)
    api.get(BASE_URL + "/api/lists", json=LISTS)

    # when
    code, found = run_read({"streams": [entry("channels"), entry("lists")]})

    # then both streams complete, each planned in a log line first
    assert code == 0
    assert records_of(found, "channels") == CHANNELS["channels"]
    assert records_of(found, "lists") == [{**LISTS["lists"][0], "createdAt": "2021-04-08T14:25:08.857Z"}]
    assert statuses_of(found, "channels") == ["STARTED", "RUNNING", "COMPLETE"]
    assert statuses_of(found, "lists") == ["STARTED", "RUNNING", "COMPLETE"]
    info = logs(found, "INFO")
    assert info[0].startswith(
        "plan for stream 'channels': one GET /api/channels; 1 resources requests (6000/min"
    )
    assert info[1].startswith("plan for stream 'lists': one GET /api/lists;")
    assert "shared by 2 streams: 2 in all" in info[0]
    assert info[2] == "expected minimum wall time: under a minute (no budget needs more than one window)"
    assert info[-1].startswith("sync finished in ") and "2 records" in info[-1]
    assert error_traces(found) == []


def test_an_unknown_stream_is_skipped_with_a_warning(api: requests_mock.Mocker) -> None:
    api.get(BASE_URL + "/api/channels", json=CHANNELS)

    code, found = run_read({"streams": [entry("retired_stream"), entry("channels")]})

    assert code == 0
    assert statuses_of(found, "retired_stream") == ["INCOMPLETE"]
    assert logs(found, "WARN") == [
        "stream 'retired_stream' of the catalog is not a stream of this source; it is skipped"
    ]
    assert statuses_of(found, "channels")[-1] == "COMPLETE"


@pytest.mark.parametrize(
    ("config", "catalog", "state", "names"),
    [
        (config_dict(region="APAC"), {"streams": []}, None, "'region'"),
        (config_dict(), {"streams": "all"}, None, "'--catalog'"),
        (config_dict(), {"streams": []}, {"email_send": {}}, "'--state'"),
    ],
)
def test_bad_input_ends_in_one_config_error_trace_and_no_request(
    api: requests_mock.Mocker, config: Any, catalog: Any, state: Any, names: str
) -> None:
    code, found = run_read(catalog, state, config)

    assert code == 1
    [trace] = error_traces(found)
    assert trace["failure_type"] == "config_error" and names in trace["message"]
    assert [m["type"] for m in found] == ["TRACE"]
    assert api.call_count == 0


def test_a_key_refused_by_a_resource_stops_the_sync_after_one_request_and_is_never_printed(
    api: requests_mock.Mocker,
) -> None:
    # given a key Iterable refuses, echoing it back in its error body
    refused = {**BAD_API_KEY_BODY, "msg": f"Invalid API key {API_KEY}"}
    api.get(BASE_URL + "/api/channels", status_code=401, json=refused)
    api.get(BASE_URL + "/api/lists", status_code=401, json=refused)

    # when
    code, found = run_read({"streams": [entry("channels"), entry("lists")]})

    # then one request, one config_error trace for the sync, every stream incomplete
    assert code == 1
    assert api.call_count == 1
    [trace] = error_traces(found)
    assert trace["failure_type"] == "config_error" and "stream_descriptor" not in trace
    assert "****" in trace["message"]
    assert (
        statuses_of(found, "channels")[-1] == "INCOMPLETE" and statuses_of(found, "lists")[-1] == "INCOMPLETE"
    )
    assert API_KEY not in str(found)
