"""The users schema from GET /api/users/getFields: parsing, type mapping, merge, renames, collisions,
date paths, the fetch (requests-mock) and the users stream's use of them."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import pytest
import requests_mock

from source_iterable.api.budgets import project_limiters
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.readers.users.fields import (
    GET_FIELDS_ATTEMPTS,
    GET_FIELDS_PATH,
    FieldsBodyError,
    fetch_user_fields,
    parse_get_fields,
)
from source_iterable.readers.users.schema import (
    USERS_RENAMES,
    build_users_schema,
    case_collisions,
    date_paths,
    date_paths_from_schema,
    static_users_schema,
    value_schema,
)
from source_iterable.source import SourceIterable, UsersStream
from source_iterable.transforms import UNPARSED_DATES_FIELD

from .builders import (
    API_KEY,
    BASE_URL,
    GENERIC_ERROR_BODY,
    NOW,
    FakeClock,
    client,
    config_dict,
    iterable_config,
)
from .rfc3339 import FORMAT_CHECKER, closed

FIELDS_URL = BASE_URL + GET_FIELDS_PATH
FORBIDDEN_BODY = {"msg": "API key is not allowed to call this endpoint", "code": "Forbidden", "params": None}

# A real answer (a 2021 recording of a live project, nock fixture), cut down, plus custom fields of
# every type as a project would define them.
GET_FIELDS_BODY: dict[str, Any] = {
    "fields": {
        "email": "string",
        "userId": "string",
        "signupDate": "date",
        "profileUpdatedAt": "date",
        "emailListIds": "long",
        "itblInternal.emailDomain": "string",
        "devices": "object",
        "devices.token": "string",
        "devices.endpointEnabled": "boolean",
        "phoneNumberDetails": "object",
        "phoneNumberDetails.carrier": "string",
        "phoneNumberDetails.updatedAt": "date",
        "loyaltyPoints": "long",
        "lifetimeValue": "double",
        "isVip": "boolean",
        "favoriteCategory": "string",
        "lastPurchaseDate": "date",
        "homeLocation": "geo_location",
        "membership": "object",
        "membership.since": "date",
        "membership.benefits": "object",
        "membership.benefits.freeShipping": "boolean",
        "orders": "nested",
        "orders.placedAt": "date",
        "orders.total": "double",
        "Industry": "string",
        "industry": "string",
        "offers.Intro APR": "long",
        "offers.intro APR": "long",
        "customerId": "string",
        "CustomerId": "string",
    }
}


@pytest.fixture(scope="module")
def static() -> dict[str, Any]:
    return static_users_schema()


@pytest.fixture(scope="module")
def schema(static: dict[str, Any]) -> dict[str, Any]:
    return build_users_schema(static, parse_get_fields(GET_FIELDS_BODY))


def types_of(node: dict[str, Any]) -> list[str]:
    return sorted(node["type"])


# --- parsing --------------------------------------------------------------------------------------


def test_a_getfields_body_becomes_a_map_of_lower_case_types() -> None:
    # given a body with a type in capitals and one with spaces around it
    body = {"fields": {"email": "string", "score": "LONG", "seen": " date "}}

    # when
    fields = parse_get_fields(body)

    # then
    assert fields == {"email": "string", "score": "long", "seen": "date"}


def test_junk_entries_are_tolerated_and_unusable_types_become_empty() -> None:
    # given names that are not strings or empty, and types that are not strings
    body = {"fields": {"": "string", "7": "long", "flags": None, "weird": ["string"], "ok": "boolean"}}

    # when
    fields = parse_get_fields(body)

    # then the unusable names are dropped and the unusable types are kept as ""
    assert fields == {"7": "long", "flags": "", "weird": "", "ok": "boolean"}


def test_a_nested_object_of_types_is_read_as_dotted_paths() -> None:
    # given a body that nests sub-fields instead of naming them by dotted path
    body = {"fields": {"custom": {"nested": "long", "deeper": {"leaf": "date"}}}}

    # when
    fields = parse_get_fields(body)

    # then
    assert fields == {
        "custom": "object",
        "custom.nested": "long",
        "custom.deeper": "object",
        "custom.deeper.leaf": "date",
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([{"email": "string"}], "not an object"),
        ("maintenance", "not an object"),
        (None, "not an object"),
        ({"msg": "Success", "code": "Success"}, "no 'fields' object"),
        ({"fields": ["email"]}, "no 'fields' object"),
    ],
)
def test_a_body_without_a_fields_object_is_an_error_that_says_so(body: Any, problem: str) -> None:
    # given / when / then
    with pytest.raises(FieldsBodyError, match=problem):
        parse_get_fields(body)


# --- type mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iterable_type", "json_types", "extra"),
    [
        ("string", ["null", "string"], {}),
        ("long", ["integer", "null"], {}),
        ("double", ["null", "number"], {}),
        ("boolean", ["boolean", "null"], {}),
        ("date", ["null", "string"], {"format": "date-time"}),
        ("geo_location", ["null", "object"], {"additionalProperties": True}),
        ("object", ["null", "object"], {"additionalProperties": True, "properties": {}}),
        ("nested", ["array", "null"], {}),
    ],
)
def test_each_iterable_type_maps_to_its_nullable_json_type(
    iterable_type: str, json_types: list[str], extra: dict[str, Any]
) -> None:
    # when
    node = value_schema(iterable_type)

    # then
    assert types_of(node) == json_types
    for key, value in extra.items():
        assert node[key] == value


def test_a_geo_location_is_an_object_of_lat_and_lon() -> None:
    # when
    node = value_schema("geo_location")

    # then
    assert node["properties"] == {"lat": {"type": ["null", "number"]}, "lon": {"type": ["null", "number"]}}
    assert jsonschema.Draft7Validator(node).is_valid({"lat": 37.77, "lon": -122.42})
    assert not jsonschema.Draft7Validator(node).is_valid({"lat": "north"})


def test_a_nested_field_is_an_array_of_objects() -> None:
    # when
    node = value_schema("nested")

    # then
    validator = jsonschema.Draft7Validator(node)
    assert validator.is_valid([{"sku": "A"}, {"sku": "B"}])
    assert not validator.is_valid([1, 2])
    assert not validator.is_valid({"sku": "A"})


@pytest.mark.parametrize("iterable_type", ["", "unknown", "integer", "text"])
def test_an_unknown_type_is_declared_permissively(iterable_type: str) -> None:
    # when
    node = value_schema(iterable_type)

    # then it has no type: any value validates
    assert "type" not in node
    for value in (None, 1, "x", [1], {"a": 1}):
        assert jsonschema.Draft7Validator(node).is_valid(value)


# --- merge ----------------------------------------------------------------------------------------


def test_every_custom_field_is_declared_at_the_top_level_with_its_type(schema: dict[str, Any]) -> None:
    properties = schema["properties"]

    assert types_of(properties["loyaltyPoints"]) == ["integer", "null"]
    assert types_of(properties["lifetimeValue"]) == ["null", "number"]
    assert types_of(properties["isVip"]) == ["boolean", "null"]
    assert types_of(properties["favoriteCategory"]) == ["null", "string"]
    assert properties["lastPurchaseDate"]["format"] == "date-time"
    assert types_of(properties["homeLocation"]) == ["null", "object"]
    assert types_of(properties["orders"]) == ["array", "null"]
    assert types_of(properties["customerId"]) == types_of(properties["CustomerId"]) == ["null", "string"]
    # dotted sub-fields are declared at the top level under their full name as well
    assert properties["membership.since"]["format"] == "date-time"
    assert types_of(properties["membership.benefits.freeShipping"]) == ["boolean", "null"]
    assert properties["orders.placedAt"]["format"] == "date-time"
    assert properties["phoneNumberDetails.updatedAt"]["format"] == "date-time"


def test_a_sub_field_is_declared_inside_its_object_or_nested_parent(schema: dict[str, Any]) -> None:
    properties = schema["properties"]

    membership = properties["membership"]["properties"]
    assert membership["since"]["format"] == "date-time"
    assert types_of(membership["benefits"]["properties"]["freeShipping"]) == ["boolean", "null"]
    orders = properties["orders"]["items"]["properties"]
    assert orders["placedAt"]["format"] == "date-time"
    assert types_of(orders["total"]) == ["null", "number"]
    assert properties["phoneNumberDetails"]["properties"]["updatedAt"]["format"] == "date-time"


def test_our_declared_fields_keep_their_precise_types(static: dict[str, Any], schema: dict[str, Any]) -> None:
    # getFields reports arrays by element type (emailListIds: long) and devices as an object
    for name in (
        "email",
        "emailListIds",
        "devices",
        "profileUpdatedAt",
        "signupDate",
        "itblInternal.emailDomain",
    ):
        assert schema["properties"][name] == static["properties"][name], name
    assert types_of(schema["properties"]["emailListIds"]) == ["array", "null"]


def test_a_static_parent_keeps_its_declaration_and_gains_the_reported_sub_fields(
    static: dict[str, Any],
) -> None:
    # given sub-fields of devices (an array of objects we declare) and of profile (an object we declare
    # without properties), one of them already declared by us
    fields = {
        "devices": "object",
        "devices.appBuild": "string",
        "devices.token": "long",
        "profile": "object",
        "profile.age": "long",
    }

    # when
    schema = build_users_schema(static, fields)

    # then
    devices = schema["properties"]["devices"]
    assert types_of(devices) == ["array", "null"]
    assert (
        devices["items"]["properties"]["token"]
        == static["properties"]["devices"]["items"]["properties"]["token"]
    )
    assert types_of(devices["items"]["properties"]["appBuild"]) == ["null", "string"]
    profile = schema["properties"]["profile"]
    assert types_of(profile) == ["null", "object"]
    assert types_of(profile["properties"]["age"]) == ["integer", "null"]


def test_the_two_renames_apply_to_the_schema(static: dict[str, Any], schema: dict[str, Any]) -> None:
    properties = schema["properties"]

    assert "Industry" not in properties and "offers.Intro APR" not in properties
    assert properties["_industry"] == static["properties"]["_industry"]
    assert properties["_offers.intro APR"] == static["properties"]["_offers.intro APR"]
    assert properties["industry"] == static["properties"]["industry"]


def test_the_renames_are_the_users_row_of_the_stream_table() -> None:
    assert USERS_RENAMES is STREAMS_BY_NAME["users"].transform.renames
    assert dict(USERS_RENAMES) == {"Industry": "_industry", "offers.Intro APR": "_offers.intro APR"}


def test_a_renamed_custom_field_is_declared_under_its_new_name_only(static: dict[str, Any]) -> None:
    # given a rename of a field the static schema does not declare
    fields = {"Score": "double", "score": "long"}

    # when
    schema = build_users_schema(static, fields, renames={"Score": "_score"})

    # then
    assert types_of(schema["properties"]["_score"]) == ["null", "number"]
    assert "Score" not in schema["properties"]
    assert types_of(schema["properties"]["score"]) == ["integer", "null"]


def test_the_schema_still_allows_additional_properties(schema: dict[str, Any]) -> None:
    assert schema["additionalProperties"] is True
    assert jsonschema.Draft7Validator(schema).is_valid({"email": "a@example.com", "fieldAddedLater": 1})


def test_the_static_schema_is_not_changed(static: dict[str, Any]) -> None:
    # given
    before = {name: dict(node) for name, node in static["properties"].items()}

    # when
    build_users_schema(static, parse_get_fields(GET_FIELDS_BODY))

    # then
    assert static["properties"] == before
    assert "loyaltyPoints" not in static["properties"]


def test_a_record_validates_with_sub_fields_nested_or_flattened(schema: dict[str, Any]) -> None:
    # given the schema closed to undeclared fields, and the same profile spelled both ways
    validator = jsonschema.Draft7Validator(closed(schema), format_checker=FORMAT_CHECKER)
    nested = {
        "email": "a@example.com",
        "membership": {"since": "2022-05-01T08:00:00Z", "benefits": {"freeShipping": True}},
        "orders": [{"placedAt": "2024-02-01T10:00:00Z", "total": 12.5}],
        "homeLocation": {"lat": 38.72, "lon": -9.14},
    }
    flattened = {
        "email": "a@example.com",
        "membership.since": "2022-05-01T08:00:00Z",
        "membership.benefits.freeShipping": True,
        "phoneNumberDetails.updatedAt": "2024-01-01T00:00:00Z",
    }

    # then both validate, and a wrong type or an unconverted date does not
    assert [e.message for e in validator.iter_errors(nested)] == []
    assert [e.message for e in validator.iter_errors(flattened)] == []
    assert not validator.is_valid({"membership": {"since": "2022-05-01 08:00:00 +00:00"}})
    assert not validator.is_valid({"orders": [{"total": "twelve"}]})
    assert not validator.is_valid({"notReported": 1})


def test_the_unparsed_dates_holder_is_declared_only_when_there_are_date_fields(
    static: dict[str, Any],
) -> None:
    # given / when
    with_dates = build_users_schema(static, {"lastSeen": "date"})
    without = build_users_schema(static, {"score": "long", "profileUpdatedAt": "date"})

    # then
    holder = with_dates["properties"][UNPARSED_DATES_FIELD]
    assert jsonschema.Draft7Validator(holder).is_valid([{"field": "lastSeen", "value": "13/11/2015"}])
    assert UNPARSED_DATES_FIELD not in without["properties"]


def test_an_empty_field_list_gives_the_static_schema(static: dict[str, Any]) -> None:
    assert build_users_schema(static, {})["properties"] == static["properties"]


# --- collisions and date paths --------------------------------------------------------------------


def test_case_collisions_are_found_after_the_renames(schema: dict[str, Any]) -> None:
    # when
    groups = case_collisions(schema["properties"])

    # then Industry/industry and the offers pair no longer clash; the custom pair does
    assert groups == [("CustomerId", "customerId")]


def test_case_collisions_group_every_spelling() -> None:
    assert case_collisions(["Tier", "tier", "TIER", "other", "Plan", "plan"]) == [
        ("Plan", "plan"),
        ("TIER", "Tier", "tier"),
    ]
    assert case_collisions(["a", "b"]) == []


def test_date_paths_are_the_date_fields_the_static_schema_does_not_convert(static: dict[str, Any]) -> None:
    # when
    paths = date_paths(parse_get_fields(GET_FIELDS_BODY), static["properties"])

    # then profileUpdatedAt and signupDate (static, converted by the stream table) are not among them
    assert paths == (
        "lastPurchaseDate",
        "membership.since",
        "orders.placedAt",
        "phoneNumberDetails.updatedAt",
    )


def test_the_date_paths_can_be_read_back_from_the_built_schema(
    static: dict[str, Any], schema: dict[str, Any]
) -> None:
    # given the schema discover put in the catalog
    fields = parse_get_fields(GET_FIELDS_BODY)

    # when a sync has no field list and reads the date paths from its catalog
    paths = date_paths_from_schema(schema, static["properties"])

    # then they are the ones getFields would have given
    assert paths == date_paths(fields, static["properties"])
    assert date_paths_from_schema(static, static["properties"]) == ()


# --- fetch ----------------------------------------------------------------------------------------


def test_the_fetch_returns_the_fields(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given
    api.get(FIELDS_URL, json=GET_FIELDS_BODY)

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then
    assert lookup.failure is None
    assert lookup.fields is not None and lookup.fields["orders"] == "nested"
    assert api.call_count == 1
    assert api.request_history[0].headers["Api-Key"] == API_KEY


def test_a_persistent_500_is_a_failure_reason_after_the_retries(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given
    api.get(FIELDS_URL, status_code=500, json=GENERIC_ERROR_BODY)

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then
    assert lookup.fields is None and lookup.failure is not None
    assert api.call_count == GET_FIELDS_ATTEMPTS
    assert "HTTP 500" in lookup.failure and "GenericError" in lookup.failure
    assert f"after {GET_FIELDS_ATTEMPTS} attempts" in lookup.failure
    assert "Traceback" not in lookup.failure


def test_a_403_is_a_failure_reason_without_retries(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given
    api.get(FIELDS_URL, status_code=403, json=FORBIDDEN_BODY)

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then
    assert lookup.fields is None
    assert lookup.failure is not None and "HTTP 403" in lookup.failure and "Forbidden" in lookup.failure
    assert api.call_count == 1


@pytest.mark.parametrize(
    ("response", "says"),
    [
        ({"json": ["email"]}, "not an object"),
        ({"json": {"code": "Success"}}, "no 'fields' object"),
        ({"text": "<html>Maintenance</html>", "headers": {"Content-Type": "text/html"}}, "not JSON"),
    ],
)
def test_a_200_that_is_not_a_field_list_is_a_failure_reason(
    api: requests_mock.Mocker, clock: FakeClock, response: dict[str, Any], says: str
) -> None:
    # given
    api.get(FIELDS_URL, status_code=200, **response)

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then
    assert lookup.fields is None
    assert lookup.failure is not None and says in lookup.failure


def test_an_unexpected_error_is_a_failure_reason_too(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a transport that fails in a way the client does not know
    api.get(FIELDS_URL, exc=RuntimeError(f"socket layer broke with key {API_KEY}"))

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then nothing escapes, and the key is not in the reason
    assert lookup.fields is None
    assert lookup.failure is not None and "RuntimeError" in lookup.failure
    assert API_KEY not in lookup.failure


def test_an_echoed_key_never_reaches_the_failure_reason(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given an error body that quotes the key
    api.get(FIELDS_URL, status_code=401, json={"msg": f"Invalid API key {API_KEY}", "code": "BadApiKey"})

    # when
    lookup = fetch_user_fields(client(clock, iterable_config()))

    # then
    assert lookup.failure is not None and "BadApiKey" in lookup.failure
    assert API_KEY not in lookup.failure


def test_getfields_has_its_own_budget_of_180_a_minute() -> None:
    limiter = project_limiters("api.iterable.com", API_KEY).for_request("GET", GET_FIELDS_PATH)

    assert limiter is not None and limiter.name == "getFields" and limiter.per_minute == 180.0


# --- the users stream in discover (the CDK wiring) -----------------------------------------------


@pytest.fixture
def users() -> UsersStream:
    return UsersStream(STREAMS_BY_NAME["users"], config_dict())


def test_declaring_the_streams_does_no_io(api: requests_mock.Mocker) -> None:
    # given
    api.get(FIELDS_URL, json=GET_FIELDS_BODY)

    # when the source lists its streams
    streams = SourceIterable(now=lambda: NOW).streams(config_dict())

    # then the users stream is the one that follows getFields, and nothing was requested yet
    assert [type(s) for s in streams if s.name == "users"] == [UsersStream]
    assert api.call_count == 0


def test_discover_calls_getfields_once_and_warns_about_the_case_collisions_once(
    api: requests_mock.Mocker, users: UsersStream, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    api.get(FIELDS_URL, json=GET_FIELDS_BODY)

    # when the stream is described twice
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        stream = users.as_airbyte_stream()
        again = users.as_airbyte_stream()

    # then getFields was called once, the schema is typed, and the collision is told once
    assert api.call_count == 1
    assert api.request_history[0].headers["Api-Key"] == API_KEY
    assert types_of(stream.json_schema["properties"]["loyaltyPoints"]) == ["integer", "null"]
    assert again.json_schema == stream.json_schema
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'CustomerId' / 'customerId'" in warnings[0]


def test_discover_falls_back_to_the_static_schema_with_one_warning(
    api: requests_mock.Mocker,
    users: UsersStream,
    static: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    api.get(FIELDS_URL, status_code=403, json=FORBIDDEN_BODY)

    # when
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        stream = users.as_airbyte_stream()

    # then
    assert stream.json_schema["properties"] == static["properties"]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "custom fields are not typed" in warning.getMessage() and "HTTP 403" in warning.getMessage()
    assert warning.exc_info is None
    assert API_KEY not in warning.getMessage()
