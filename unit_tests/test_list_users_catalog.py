"""list_users as discover declares it per project type (``catalog.ProjectVariant``): email-based projects
keep the seed's ``[email, listId]``; hybrid and userID-based ones key on ``[userKey, listId]``, never null,
and the records of both sources validate against the schema discovered for them."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock
from jsonschema import Draft7Validator

from source_iterable.catalog import STREAMS, STREAMS_BY_NAME
from source_iterable.schema_files import stream_schema
from source_iterable.source import SourceIterable

from .builders import BASE_URL, NOW, config_dict

LOGGER = logging.getLogger("airbyte")
STARTED = "2024-03-10T12:00:00Z"


def discovered(project_type: str) -> Any:
    catalog = SourceIterable(now=lambda: NOW).discover(LOGGER, config_dict(project_type=project_type))
    return {stream.name: stream for stream in catalog.streams}


def test_an_email_based_project_keeps_the_seed_key_and_schema(api: requests_mock.Mocker) -> None:
    api.get(BASE_URL + "/api/users/getFields", json={"fields": {"email": "string"}})

    found = discovered("email_based")["list_users"]

    assert found.source_defined_primary_key == [["email"], ["listId"]]
    assert sorted(found.json_schema["properties"]) == ["_additional_fields", "email", "listId", "updatedAt"]
    assert found.json_schema["properties"]["email"]["type"] == "string"


@pytest.mark.parametrize("project_type", ["hybrid", "userid_based"])
def test_where_email_is_not_the_key_list_users_is_keyed_on_user_key_and_list_id(
    api: requests_mock.Mocker, project_type: str
) -> None:
    api.get(BASE_URL + "/api/users/getFields", json={"fields": {"email": "string"}})

    streams = discovered(project_type)

    found = streams["list_users"]
    assert found.source_defined_primary_key == [["userKey"], ["listId"]]
    properties = found.json_schema["properties"]
    assert sorted(properties) == ["_additional_fields", "email", "listId", "updatedAt", "userId", "userKey"]
    assert properties["userKey"]["type"] == "string"  # a key part: never null
    assert properties["email"]["type"] == ["null", "string"] == properties["userId"]["type"]
    # and no other stream changed with the project type here
    assert streams["lists"].source_defined_primary_key == [["id"]]


def test_a_project_type_without_a_variant_leaves_the_row_as_it_is() -> None:
    spec = STREAMS_BY_NAME["list_users"]

    assert spec.for_project("email_based") is spec
    hybrid = spec.for_project("hybrid")
    assert (hybrid.name, hybrid.primary_key, hybrid.schema_folder) == (
        "list_users",
        ("userKey", "listId"),
        "by_user_id",
    )
    assert all(s.for_project("hybrid") is s for s in STREAMS if not s.by_project_type)


@pytest.mark.parametrize(
    "record",
    [
        {
            "userKey": "u-1",
            "userId": "u-1",
            "email": "ana.silva@example.com",
            "listId": 3301122,
            "updatedAt": STARTED,
        },
        {"userKey": "u-2", "userId": "u-2", "email": None, "listId": 3301122, "updatedAt": STARTED},
        {"userKey": "bo@example.org", "userId": None, "email": None, "listId": 3301150, "updatedAt": STARTED},
    ],
)
def test_user_id_records_of_either_source_validate(record: dict[str, Any]) -> None:
    Draft7Validator(stream_schema("list_users", "by_user_id")).validate(record)


@pytest.mark.parametrize(
    "record",
    [
        {"userKey": None, "userId": None, "email": "x@example.com", "listId": 1, "updatedAt": STARTED},
        {"userKey": "u-1", "userId": None, "email": None, "listId": "1", "updatedAt": STARTED},
    ],
)
def test_a_null_key_or_a_string_list_id_does_not_validate(record: dict[str, Any]) -> None:
    assert list(Draft7Validator(stream_schema("list_users", "by_user_id")).iter_errors(record))
