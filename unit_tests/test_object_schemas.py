"""The schemas of the streams of issue 17: open Draft 7 objects that declare their keys and cursors, whose
date-times are exactly the fields the connector turns into RFC 3339, and which accept the records the
connector emits (the shapes of ../shared/iterable-api-more.md section 6 after the transforms)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.schema_files import stream_schema

from .rfc3339 import FORMAT_CHECKER

# stream -> every path the connector emits as an RFC 3339 date-time (and no other has the format).
DATE_TIMES: dict[str, set[tuple[str, ...]]] = {
    "journeys": {("createdAt",), ("updatedAt",), ("draft", "createdAt"), ("draft", "updatedAt")},
    "catalogs": set(),
    "catalog_items": {("lastModified",)},
    "snippets": {("createdAt",), ("updatedAt",)},
    "webhooks": set(),
    "experiment_metrics": {("creationDate",), ("lastModified",), ("startDateTime",), ("endDateTime",)},
    "forgotten_users": set(),
}
STREAMS = sorted(DATE_TIMES)
EMITTED: dict[str, dict[str, Any]] = {
    "journeys": {
        "id": 30001,
        "name": "Welcome",
        "enabled": True,
        "isArchived": False,
        "journeyType": "Published",
        "startTileId": 700000,
        "triggerEventNames": ["signup"],
        "createdAt": "2024-01-02T03:04:05.006Z",
        "updatedAt": "2024-02-02T03:04:05.000Z",
        "creatorUserId": "marketer@shop.example",
        "draft": {
            "id": 90000,
            "name": "Welcome (draft)",
            "createdAt": "2024-02-03T00:00:00Z",
            "updatedAt": None,
        },
    },
    "catalogs": {"name": "products"},
    "catalog_items": {
        "catalogName": "products",
        "itemId": "pro-00001",
        "size": 13,
        "lastModified": "2019-06-03T15:09:24.000Z",
        "value": {"number": 29, "nested": {"any": ["thing"]}},
    },
    "snippets": {
        "id": 501,
        "name": "footer",
        "description": "",
        "content": "<p>{{city}}</p>",
        "createdAt": "2024-01-05T10:00:00Z",
        "updatedAt": "2024-02-01T08:30:00.250Z",
        "createdBy": "design@shop.example",
        "updatedBy": "design@shop.example",
        "projectId": 2158,
        "variables": ["city"],
    },
    "webhooks": {
        "id": 801,
        "endpoint": "https://hooks.example.com/iterable",
        "authType": "Basic",
        "enabled": True,
        "blastSendEnabled": False,
        "triggeredSendEnabled": True,
        "channelIds": [41001],
        "messageTypeIds": [],
    },
    "experiment_metrics": {
        "campaignId": 176828,
        "experimentId": 12041,
        "templateId": 258425,
        "name": "Variation 1",
        "type": "-",
        "createdBy": "user@example.com",
        "creationDate": "2017-10-06T22:55:34.807Z",
        "lastModified": "2017-10-06T22:55:34.807Z",
        "subject": "Your favorite vehicles",
        "improvement": -3.25,
        "totalEmailSends": 3253,
        "emailDeliveryRate": 0.96,
        "startDateTime": "2017-01-01T00:00:00Z",
        "endDateTime": "2017-10-07T00:00:00Z",
        "_unparsedValues": {"totalEmailsDelivered": "n.a."},
    },
    "forgotten_users": {
        "hash": "92ef0f9fed1bf0281cf94e3e620390821efd9c2f0587dd6413f6375a888ce1a4",
        "identifierTypes": ["email", "userId"],
    },
}


def paths_with(node: Any, key: str, value: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The property paths whose schema has ``key: value``."""
    found: set[tuple[str, ...]] = set()
    if isinstance(node, dict):
        if node.get(key) == value and path:
            found.add(path)
        for name, child in (node.get("properties") or {}).items():
            found |= paths_with(child, key, value, (*path, name))
    return found


def closed(node: Any) -> list[Any]:
    if isinstance(node, dict):
        here = [node] if node.get("additionalProperties") is False else []
        return here + [c for child in node.values() for c in closed(child)]
    if isinstance(node, list):
        return [c for child in node for c in closed(child)]
    return []


@pytest.mark.parametrize("stream", STREAMS)
def test_the_schema_is_an_open_draft7_object_declaring_its_keys_and_cursor(stream: str) -> None:
    schema = stream_schema(stream)
    spec = STREAMS_BY_NAME[stream]

    Draft7Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is True and closed(schema) == []
    for field in (*spec.primary_key, *([spec.cursor] if spec.cursor else [])):
        assert field in schema["properties"], (stream, field)
        assert "null" not in schema["properties"][field].get("type", []) or field == spec.cursor, (
            stream,
            field,
        )


@pytest.mark.parametrize("stream", STREAMS)
def test_date_times_are_exactly_the_converted_fields(stream: str) -> None:
    schema = stream_schema(stream)

    assert paths_with(schema, "format", "date-time") == DATE_TIMES[stream]


@pytest.mark.parametrize("stream", STREAMS)
def test_an_emitted_record_validates_and_a_wrong_type_does_not(stream: str) -> None:
    validator = Draft7Validator(stream_schema(stream), format_checker=FORMAT_CHECKER)
    record = EMITTED[stream]

    assert list(validator.iter_errors(record)) == []
    key = STREAMS_BY_NAME[stream].primary_key[0]
    assert list(validator.iter_errors({**record, key: {"not": "a key"}})) != []
