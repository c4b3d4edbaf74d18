"""``source.py``: the CDK source's spec, discover of every stream of the table, check's three steps and
its message about the export path, and the in-process read adapter over the engine."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests_mock
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Status,
    SyncMode,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_iterable.catalog import STREAMS, STREAMS_BY_NAME, Kind
from source_iterable.config import PROJECT_TYPES
from source_iterable.schema_files import stream_schema
from source_iterable.source import DeclaredStream, SourceIterable, probe_window

from .builders import (
    BAD_API_KEY_BODY,
    BASE_URL,
    EXPORT_URL,
    NOW,
    config_dict,
    ndjson,
    open_files_in,
    query_of,
    utc,
)

LOGGER = logging.getLogger("airbyte")
CHANNELS_URL = BASE_URL + "/api/channels"
JOBS_URL = BASE_URL + "/api/export/jobs"
FIELDS_URL = BASE_URL + "/api/users/getFields"
CHANNELS_BODY = {"channels": [{"id": 41001, "name": "Marketing Channel", "channelType": "Marketing"}]}
FORBIDDEN_BODY = {"msg": "API key is not allowed to call this endpoint", "code": "Forbidden", "params": None}
JOBS_PATH_MESSAGE = (
    "export path: export jobs for backfills and catch-ups, data.json for a single recent window"
)

# stream -> (primary key, cursor field) as declared in catalog.py and docs/design.md; every other stream
# of the table is an event export stream of another channel: no primary key, cursor createdAt.
EXPECTED: dict[str, tuple[list[str] | None, str | None]] = {
    "campaigns": (["id"], "updatedAt"),
    "campaigns_metrics": (["id"], None),
    "channels": (["id"], None),
    "email_bounce": (None, "createdAt"),
    "email_click": (None, "createdAt"),
    "email_complaint": (None, "createdAt"),
    "email_open": (None, "createdAt"),
    "email_send": (None, "createdAt"),
    "email_send_skip": (None, "createdAt"),
    "email_subscribe": (None, "createdAt"),
    "email_unsubscribe": (None, "createdAt"),
    "list_users": (["email", "listId"], None),
    "lists": (["id"], None),
    "message_types": (["id"], None),
    "metadata": (["table", "key"], None),
    "templates": (["templateId"], "updatedAt"),
    "users": (["email"], "profileUpdatedAt"),
    "journeys": (["id"], "updatedAt"),
    "catalogs": (["name"], None),
    "catalog_items": (["catalogName", "itemId"], "lastModified"),
    "snippets": (["id"], None),
    "webhooks": (["id"], None),
    "experiment_metrics": (["experimentId", "templateId"], None),
    "forgotten_users": (["hash"], None),
}
CHANNEL_EVENT = (None, "createdAt")
# Every setting parse_config reads (config.py).
CONFIG_FIELDS = {
    "api_key",
    "start_date",
    "region",
    "window_in_days",
    "export_lag_minutes",
    "base_url",
    "export_api",
    "max_concurrent_export_jobs",
    "adaptive_windows",
    "read_ahead_windows",
    "read_ahead_mb",
}


def source() -> SourceIterable:
    return SourceIterable(now=lambda: NOW)


def expected(name: str) -> tuple[list[str] | None, str | None]:
    if name in EXPECTED:
        return EXPECTED[name]
    assert STREAMS_BY_NAME[name].kind is Kind.EXPORT, name
    return CHANNEL_EVENT


# ------------------------------------------------------------------ streams and discover


def test_streams_are_every_row_of_the_stream_table_with_their_keys_and_cursors() -> None:
    streams = source().streams(config_dict())

    assert [s.name for s in streams] == [spec.name for spec in STREAMS]
    assert len(streams) == 68 and set(EXPECTED) <= {s.name for s in streams}
    for stream in streams:
        primary_key, cursor = expected(stream.name)
        assert stream.primary_key == primary_key, stream.name
        assert stream.cursor_field == (cursor or []), stream.name


def test_exactly_the_cursor_streams_support_incremental() -> None:
    streams = source().streams(config_dict())

    incremental = {s.name for s in streams if s.supports_incremental}
    assert incremental == {s.name for s in streams if expected(s.name)[1]}
    assert len(incremental) == 57


@pytest.mark.parametrize(
    "project_type,users_key",
    [("email_based", ["email"]), ("hybrid", ["itblUserId"]), ("userid_based", ["itblUserId"])],
)
def test_the_users_key_follows_the_project_type(project_type: str, users_key: list[str]) -> None:
    # given a config naming the project's type
    config = config_dict(project_type=project_type)

    # when the streams are declared
    streams = {stream.name: stream for stream in source().streams(config)}

    # then users is keyed for that type, and a stream without a per-type key keeps its own
    assert streams["users"].primary_key == users_key
    for name, stream in streams.items():
        if not STREAMS_BY_NAME[name].by_project_type:
            assert stream.primary_key == expected(name)[0], name


def test_every_per_project_type_key_names_a_project_type_and_a_declared_field() -> None:
    for spec in STREAMS:
        for project_type, variant in spec.by_project_type.items():
            properties = stream_schema(spec.name, spec.for_project(project_type).schema_folder)["properties"]
            assert project_type in PROJECT_TYPES, (spec.name, project_type)
            key = variant.primary_key
            assert key and all(field in properties for field in key), (spec.name, key)


def test_a_bad_config_is_refused_before_any_stream_is_declared() -> None:
    with pytest.raises(Exception, match="'window_in_days'"):
        source().streams(config_dict(window_in_days=0))


def test_discover_describes_every_stream_with_its_modes_keys_cursor_and_schema(
    api: requests_mock.Mocker,
) -> None:
    # given getFields answering one custom field
    api.get(FIELDS_URL, json={"fields": {"email": "string", "loyaltyPoints": "long"}})

    # when
    catalog = source().discover(LOGGER, config_dict())

    # then every stream is there, as the table declares it
    assert [s.name for s in catalog.streams] == [spec.name for spec in STREAMS]
    for stream in catalog.streams:
        primary_key, cursor = expected(stream.name)
        if cursor:
            assert stream.supported_sync_modes == [SyncMode.full_refresh, SyncMode.incremental], stream.name
            assert stream.source_defined_cursor and stream.default_cursor_field == [cursor], stream.name
        else:
            assert stream.supported_sync_modes == [SyncMode.full_refresh], stream.name
            assert not stream.default_cursor_field, stream.name
        assert stream.source_defined_primary_key == ([[key] for key in primary_key] if primary_key else None)
        if stream.name != "users":
            assert stream.json_schema == stream_schema(stream.name), stream.name
    # and the users schema is the project's, from its one getFields call
    [users] = [s for s in catalog.streams if s.name == "users"]
    assert sorted(users.json_schema["properties"]["loyaltyPoints"]["type"]) == ["integer", "null"]
    assert "loyaltyPoints" not in stream_schema("users")["properties"]
    assert [r.path for r in api.request_history] == ["/api/users/getFields"]


def test_every_stream_has_a_json_schema_with_its_keys(api: requests_mock.Mocker) -> None:
    api.get(FIELDS_URL, status_code=403, json=FORBIDDEN_BODY)

    for stream in source().streams(config_dict()):
        properties = stream.get_json_schema()["properties"]
        primary_key, cursor = expected(stream.name)
        for field in [*(primary_key or []), *([cursor] if cursor else [])]:
            assert field in properties, (stream.name, field)


# ------------------------------------------------------------------ check


def test_a_good_key_passes_after_a_resource_call_an_export_call_and_the_jobs_api(
    api: requests_mock.Mocker, spool_dir: Path
) -> None:
    # given a key every endpoint accepts
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(
        EXPORT_URL, content=ndjson([{"email": "a@example.com", "createdAt": "2024-03-10 11:54:30 +00:00"}])
    )
    api.get(JOBS_URL, json={"jobs": []})

    # when
    result = source().check_connection(LOGGER, config_dict())

    # then it passes, naming the export path the key can use
    assert result == (True, JOBS_PATH_MESSAGE)
    assert [r.path for r in api.request_history] == [
        "/api/channels",
        "/api/export/data.json",
        "/api/export/jobs",
    ]
    # the probe is a one-minute emailSend window just behind the export lag
    assert query_of(api.request_history[1].url) == {
        "dataTypeName": "emailSend",
        "startDateTime": "2024-03-10 11:54:00",
        "endDateTime": "2024-03-10 11:55:00",
    }
    assert open_files_in(spool_dir) == []


def test_the_probe_window_is_the_whole_minute_before_the_lag() -> None:
    window = probe_window(utc(2024, 3, 10, 12, 0, 30).replace(microsecond=250), timedelta(minutes=5))

    assert (window.start, window.end) == (utc(2024, 3, 10, 11, 54, 30), utc(2024, 3, 10, 11, 55, 30))


def test_with_export_api_sync_check_does_not_ask_the_jobs_api(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")

    result = source().check_connection(LOGGER, config_dict(export_api="sync"))

    assert result == (True, "export path: data.json (export_api is 'sync')")
    assert [r.path for r in api.request_history] == ["/api/channels", "/api/export/data.json"]


def test_with_export_api_async_check_names_the_jobs_path(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, json={"jobs": []})

    assert source().check_connection(LOGGER, config_dict(export_api="async")) == (
        True,
        "export path: export jobs (export_api is 'async')",
    )


def test_a_key_the_jobs_api_refuses_passes_in_auto_naming_data_json_with_a_warning(
    api: requests_mock.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, status_code=403, json=FORBIDDEN_BODY)

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        ok, message = source().check_connection(LOGGER, config_dict())

    assert ok is True
    assert message.startswith(
        "export path: data.json only; Iterable refused the export jobs API for this key (HTTP 403)"
    )
    assert "4 requests a minute" in message and "Forbidden" in message
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [message]


def test_a_key_the_jobs_api_refuses_fails_in_async(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, status_code=401, json=BAD_API_KEY_BODY)

    ok, message = source().check_connection(LOGGER, config_dict(export_api="async"))

    assert ok is False
    assert "export_api is 'async' but Iterable refused the export jobs API for this key (HTTP 401)" in message
    assert "set export_api to 'auto' or 'sync'" in message


@pytest.mark.parametrize(("region", "other"), [("US", "EU"), ("EU", "US")])
def test_a_refused_key_on_channels_fails_mentioning_the_region(
    api: requests_mock.Mocker, region: str, other: str
) -> None:
    host = "https://api.iterable.com" if region == "US" else "https://api.eu.iterable.com"
    api.get(host + "/api/channels", status_code=401, json=BAD_API_KEY_BODY)

    ok, message = source().check_connection(LOGGER, config_dict(region=region))

    assert ok is False
    assert f"region {region}" in message
    assert f"set region to {other}" in message
    assert host in message
    assert api.call_count == 1


def test_a_key_refused_only_by_the_export_api_fails_asking_for_a_server_side_key(
    api: requests_mock.Mocker, spool_dir: Path
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, status_code=401, json=BAD_API_KEY_BODY)

    ok, message = source().check_connection(LOGGER, config_dict())

    assert ok is False
    assert "Server-side" in message
    assert "export API" in message
    assert "HTTP 401" in message
    assert api.call_count == 2
    assert open_files_in(spool_dir) == []


def test_a_bad_request_on_check_reports_iterables_message(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, status_code=400, json={"msg": "Bad things", "code": "BadParams", "params": None})

    ok, message = source().check_connection(LOGGER, config_dict())

    assert ok is False
    assert "BadParams: Bad things" in message


def test_check_uses_the_base_url_when_given(api: requests_mock.Mocker) -> None:
    api.get("http://127.0.0.1:8765/api/channels", json=CHANNELS_BODY)
    api.get("http://127.0.0.1:8765/api/export/data.json", content=b"")

    assert source().check_connection(
        LOGGER, config_dict(base_url="http://127.0.0.1:8765", export_api="sync")
    ) == (
        True,
        "export path: data.json (export_api is 'sync')",
    )


def test_check_reports_its_message_as_is_and_a_bad_config_as_a_failed_connection(
    api: requests_mock.Mocker,
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, json={"jobs": []})
    api.get(FIELDS_URL, json={"fields": {"email": "string", "emailListIds": "long"}})

    passed = source().check(LOGGER, config_dict())
    bad = source().check(LOGGER, config_dict(region="APAC"))

    assert (passed.status, passed.message) == (Status.SUCCEEDED, JOBS_PATH_MESSAGE)
    assert bad.status == Status.FAILED and bad.message is not None and "'region'" in bad.message


@pytest.mark.parametrize(
    "project_type,fields,warned",
    [
        ("email_based", {"email": "string", "emailListIds": "long", "itblUserId": "string"}, True),
        ("hybrid", {"email": "string", "emailListIds": "long"}, True),
        ("hybrid", {"email": "string", "userListIds": "long", "itblUserId": "string"}, False),
    ],
)
def test_check_warns_when_the_field_list_contradicts_the_project_type_and_still_passes(
    api: requests_mock.Mocker,
    caplog: pytest.LogCaptureFixture,
    project_type: str,
    fields: dict[str, str],
    warned: bool,
) -> None:
    # given a key every endpoint accepts, and the project's field list
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, json={"jobs": []})
    api.get(FIELDS_URL, json={"fields": fields})

    # when check runs with that project type
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        status = source().check(LOGGER, config_dict(project_type=project_type))

    # then it passes either way, with one warning naming the project type only when they disagree
    assert status.status == Status.SUCCEEDED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.startswith(f"project_type is {project_type}, but") for w in warnings] == (
        [True] if warned else []
    )
    assert api.request_history[-1].path == "/api/users/getFields"


def test_check_passes_when_the_field_list_cannot_be_read(
    api: requests_mock.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(EXPORT_URL, content=b"")
    api.get(JOBS_URL, json={"jobs": []})
    api.get(FIELDS_URL, status_code=403, json=FORBIDDEN_BODY)

    with caplog.at_level(logging.INFO, logger="airbyte"):
        status = source().check(LOGGER, config_dict(project_type="hybrid"))

    assert (status.status, status.message) == (Status.SUCCEEDED, JOBS_PATH_MESSAGE)
    assert any(r.getMessage().startswith("project_type hybrid not verified: ") for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ------------------------------------------------------------------ spec


def test_spec_marks_the_key_secret_and_constrains_start_date() -> None:
    spec = source().spec(LOGGER).connectionSpecification
    properties = spec["properties"]

    assert properties["api_key"]["airbyte_secret"] is True
    assert set(spec["required"]) == {"api_key", "start_date"}
    pattern = re.compile(properties["start_date"]["pattern"])
    for accepted in ("2024-01-01T00:00:00Z", "2024-01-01", "01/31/2024"):
        assert pattern.match(accepted), accepted
    for refused in ("2024/01/01", "2024-01-01T00:00:00", "yesterday", "2024-01-01 00:00:00"):
        assert not pattern.match(refused), refused
    assert properties["region"]["enum"] == ["US", "EU"]


def test_spec_examples_are_accepted_by_the_config_parser() -> None:
    properties = source().spec(LOGGER).connectionSpecification["properties"]

    for example in properties["start_date"]["examples"]:
        assert source().streams(config_dict(start_date=example))
    for example in properties["base_url"]["examples"]:
        assert source().streams(config_dict(base_url=example))


def test_the_spec_declares_every_setting_the_connector_reads() -> None:
    properties = source().spec(LOGGER).connectionSpecification["properties"]

    assert sorted(CONFIG_FIELDS - set(properties)) == []


# ------------------------------------------------------------------ read, in process


def configured(*entries: tuple[str, str]) -> Any:
    return ConfiguredAirbyteCatalogSerializer.load(
        {
            "streams": [
                {
                    "stream": {
                        "name": name,
                        "json_schema": {},
                        "supported_sync_modes": ["full_refresh", "incremental"],
                    },
                    "sync_mode": mode,
                    "destination_sync_mode": "append",
                    **({"cursor_field": [STREAMS_BY_NAME[name].cursor]} if mode == "incremental" else {}),
                }
                for name, mode in entries
            ]
        }
    )


def test_read_in_process_hands_the_engines_lines_over_as_cdk_messages(api: requests_mock.Mocker) -> None:
    # given a channels stream served by Iterable
    api.get(CHANNELS_URL, json=CHANNELS_BODY)

    # when the CDK's read runs it
    found = list(source().read(LOGGER, config_dict(), configured(("channels", "full_refresh"))))

    # then every line is a CDK message: statuses, the record, the final state
    assert all(isinstance(m, AirbyteMessage) for m in found)
    records = [m.record for m in found if m.type is Type.RECORD and m.record is not None]
    assert [(r.stream, r.data) for r in records] == [("channels", CHANNELS_BODY["channels"][0])]
    states = [m.state for m in found if m.type is Type.STATE and m.state is not None]
    assert len(states) == 1 and states[0].stream is not None
    assert states[0].stream.stream_descriptor.name == "channels"
    statuses = [
        m.trace.stream_status.status.value
        for m in found
        if m.type is Type.TRACE and m.trace is not None and m.trace.stream_status is not None
    ]
    assert statuses == ["STARTED", "RUNNING", "COMPLETE"]


def test_read_in_process_passes_the_state_on(api: requests_mock.Mocker) -> None:
    # given a campaigns bookmark between two campaigns' update times
    api.get(
        BASE_URL + "/api/campaigns",
        json={"campaigns": [{"id": 1, "updatedAt": 1709740000000}, {"id": 2, "updatedAt": 1709900000000}]},
    )
    state = [
        AirbyteStateMessageSerializer.load(
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "campaigns"},
                    "stream_state": {"updatedAt": "2024-03-07T00:00:00Z"},
                },
            }
        )
    ]

    found = list(source().read(LOGGER, config_dict(), configured(("campaigns", "incremental")), state))

    assert [m.record.data["id"] for m in found if m.type is Type.RECORD and m.record is not None] == [2]


def test_read_in_process_raises_naming_the_streams_that_failed_after_their_messages(
    api: requests_mock.Mocker,
) -> None:
    # given one stream Iterable serves and one it rejects
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(BASE_URL + "/api/lists", status_code=400, json={"msg": "no", "code": "BadParams", "params": None})
    found: list[AirbyteMessage] = []

    # when
    with pytest.raises(AirbyteTracedException) as caught:
        for message in source().read(
            LOGGER, config_dict(), configured(("channels", "full_refresh"), ("lists", "full_refresh"))
        ):
            found.append(message)

    # then the good stream's record came through, and the failure names the other stream
    assert any(m.type is Type.RECORD for m in found)
    assert caught.value.message == "During the sync, the following streams did not sync successfully: lists"


def test_a_declared_stream_reads_its_records_through_the_engine(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    stream = DeclaredStream(STREAMS_BY_NAME["channels"], config_dict())

    assert list(stream.read_records(SyncMode.full_refresh)) == CHANNELS_BODY["channels"]


def test_a_declared_stream_that_fails_raises_after_its_records(api: requests_mock.Mocker) -> None:
    api.get(BASE_URL + "/api/lists", status_code=400, json={"msg": "no", "code": "BadParams", "params": None})
    stream = DeclaredStream(STREAMS_BY_NAME["lists"], config_dict())

    with pytest.raises(AirbyteTracedException, match="stream 'lists' did not complete"):
        list(stream.read_records(SyncMode.full_refresh))
