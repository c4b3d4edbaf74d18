from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import requests_mock

from source_iterable.source import SourceIterable

from .builders import BAD_API_KEY_BODY, BASE_URL, EXPORT_URL, NOW, config_dict, ndjson, query_of

LOGGER = logging.getLogger("airbyte")
CHANNELS_URL = BASE_URL + "/api/channels"
CHANNELS_BODY = {"channels": [{"id": 41001, "name": "Marketing Channel", "channelType": "Marketing"}]}

# stream -> (primary key, cursor field) as declared in catalog.py and docs/design.md
EXPECTED: dict[str, tuple[list[str] | None, str | None]] = {
    "campaigns": (["id"], "updatedAt"),
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
}


def source() -> SourceIterable:
    return SourceIterable(now=lambda: NOW)


def test_streams_are_exactly_the_sixteen_with_their_keys_and_cursors() -> None:
    streams = source().streams(config_dict())

    assert sorted(s.name for s in streams) == sorted(EXPECTED)
    assert len(streams) == 16
    for stream in streams:
        primary_key, cursor = EXPECTED[stream.name]
        assert stream.primary_key == primary_key, stream.name
        assert stream.cursor_field == (cursor or []), stream.name


def test_exactly_the_eleven_cursor_streams_support_incremental() -> None:
    streams = source().streams(config_dict())

    incremental = {s.name for s in streams if s.supports_incremental}
    assert incremental == {name for name, (_, cursor) in EXPECTED.items() if cursor}
    assert len(incremental) == 11


def test_every_stream_has_a_json_schema_with_its_keys() -> None:
    for stream in source().streams(config_dict()):
        properties = stream.get_json_schema()["properties"]
        primary_key, cursor = EXPECTED[stream.name]
        for field in [*(primary_key or []), *([cursor] if cursor else [])]:
            assert field in properties, (stream.name, field)


def test_all_streams_share_one_client() -> None:
    streams = source().streams(config_dict())

    assert len({id(s.client) for s in streams}) == 1  # type: ignore[attr-defined]


def test_a_good_key_passes_after_one_resource_call_and_one_export_call(
    api: requests_mock.Mocker, spool_dir: Path
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.get(
        EXPORT_URL, content=ndjson([{"email": "a@example.com", "createdAt": "2024-03-10 11:54:30 +00:00"}])
    )

    result = source().check_connection(LOGGER, config_dict())

    assert result == (True, None)
    assert [r.path for r in api.request_history] == ["/api/channels", "/api/export/data.json"]
    # the probe is a one-minute emailSend window just behind the export lag
    assert query_of(api.request_history[1].url) == {
        "dataTypeName": "emailSend",
        "startDateTime": "2024-03-10 11:54:00",
        "endDateTime": "2024-03-10 11:55:00",
    }
    assert list(spool_dir.iterdir()) == []


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
    assert list(spool_dir.iterdir()) == []


def test_a_bad_request_on_check_reports_iterables_message(api: requests_mock.Mocker) -> None:
    api.get(CHANNELS_URL, status_code=400, json={"msg": "Bad things", "code": "BadParams", "params": None})

    ok, message = source().check_connection(LOGGER, config_dict())

    assert ok is False
    assert "BadParams: Bad things" in message


def test_check_uses_the_base_url_when_given(api: requests_mock.Mocker, spool_dir: Path) -> None:
    api.get("http://127.0.0.1:8765/api/channels", json=CHANNELS_BODY)
    api.get("http://127.0.0.1:8765/api/export/data.json", content=b"")

    assert source().check_connection(LOGGER, config_dict(base_url="http://127.0.0.1:8765")) == (True, None)


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
