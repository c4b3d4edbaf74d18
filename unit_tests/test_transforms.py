from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from source_iterable import transforms
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.transforms import (
    RecordTransform,
    decode_json_string,
    epoch_ms_to_rfc3339,
    export_time_to_rfc3339,
    format_rfc3339,
    parse_rfc3339,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # the export form: the fast path
        ("2024-03-06 15:46:40 +00:00", "2024-03-06T15:46:40Z"),
        # another offset is converted to UTC
        ("2024-03-06 15:46:40 +02:00", "2024-03-06T13:46:40Z"),
        ("2024-03-06 23:30:00 -01:00", "2024-03-07T00:30:00Z"),
        # with a fraction of a second
        ("2024-03-06 15:46:40.123 +00:00", "2024-03-06T15:46:40.123Z"),
        # without an offset (UTC)
        ("2024-03-06 15:46:40", "2024-03-06T15:46:40Z"),
        # ISO forms with a T
        ("2024-03-06T15:46:40+00:00", "2024-03-06T15:46:40Z"),
        ("2024-03-06T15:46:40Z", "2024-03-06T15:46:40Z"),
        ("2023-12-19T10:12:28.214-06:00", "2023-12-19T16:12:28.214Z"),
    ],
)
def test_export_time_to_rfc3339(value: str, expected: str) -> None:
    assert export_time_to_rfc3339(value) == expected


def test_the_export_form_takes_the_fast_path_without_a_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parser(text: str) -> None:
        raise AssertionError(f"the fast path should not parse {text!r}")

    monkeypatch.setattr(transforms, "parse_export_time", no_parser)

    assert export_time_to_rfc3339("2024-03-06 15:46:40 +00:00") == "2024-03-06T15:46:40Z"
    assert export_time_to_rfc3339("1999-12-31 23:59:59 +00:00") == "1999-12-31T23:59:59Z"


@pytest.mark.parametrize("value", ["not a date", "", "N/A", "2024-13-45 99:99:99 +00:00x"])
def test_export_time_keeps_a_string_that_is_not_a_timestamp(value: str) -> None:
    assert export_time_to_rfc3339(value) == value


@pytest.mark.parametrize("value", [None, 1709740000123, 1.5, True, {"a": 1}, ["2024-03-06 15:46:40 +00:00"]])
def test_export_time_keeps_a_value_that_is_not_a_string(value: Any) -> None:
    assert export_time_to_rfc3339(value) is value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1709740000123, "2024-03-06T15:46:40.123Z"),
        (1709740000000, "2024-03-06T15:46:40.000Z"),
        (1709740000007, "2024-03-06T15:46:40.007Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1617891908857.0, "2021-04-08T14:25:08.857Z"),
    ],
)
def test_epoch_ms_to_rfc3339_always_has_three_fraction_digits(value: float, expected: str) -> None:
    assert epoch_ms_to_rfc3339(value) == expected


@pytest.mark.parametrize("value", [True, False, None, "1709740000123", [1]])
def test_epoch_ms_keeps_a_value_that_is_not_a_number(value: Any) -> None:
    assert epoch_ms_to_rfc3339(value) is value


def test_decode_json_string_decodes_an_object() -> None:
    assert decode_json_string('{"data":[],"orderId":"A-1"}') == {"data": [], "orderId": "A-1"}


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", "42", '"text"', "null", ""])
def test_decode_json_string_keeps_the_original_string_unless_it_is_an_object(value: str) -> None:
    assert decode_json_string(value) == value


@pytest.mark.parametrize("value", [None, {"already": "decoded"}, 3])
def test_decode_json_string_leaves_non_strings(value: Any) -> None:
    assert decode_json_string(value) == value


def test_users_renames_exactly_the_two_clashing_fields() -> None:
    transform = STREAMS_BY_NAME["users"].transform
    record = {
        "email": "jane.doe@example.com",
        "Industry": "Retail",
        "industry": "retail (lower case)",
        "offers.Intro APR": 0.0,
        "offers.intro apr": "kept",
        "itblInternal.emailDomain": "example.com",
        "favoriteColor": "green",
    }

    result = transform(dict(record))

    assert result == {
        "email": "jane.doe@example.com",
        "_industry": "Retail",
        "industry": "retail (lower case)",
        "_offers.intro APR": 0.0,
        "offers.intro apr": "kept",
        "itblInternal.emailDomain": "example.com",
        "favoriteColor": "green",
    }


def test_record_transform_converts_only_the_named_fields_in_place() -> None:
    transform = RecordTransform(
        epoch_ms_fields=("createdAt",),
        export_time_fields=("profileUpdatedAt",),
        json_string_fields=("transactionalData",),
    )
    record: dict[str, Any] = {
        "createdAt": 1709740000123,
        "updatedAt": 1709740000123,
        "profileUpdatedAt": "2024-03-06 15:46:40 +00:00",
        "signupDate": "2024-03-06 15:46:40 +00:00",
        "transactionalData": '{"orderId":"A-1"}',
    }

    result = transform(record)

    assert result is record
    assert record == {
        "createdAt": "2024-03-06T15:46:40.123Z",
        "updatedAt": 1709740000123,
        "profileUpdatedAt": "2024-03-06T15:46:40Z",
        "signupDate": "2024-03-06 15:46:40 +00:00",
        "transactionalData": {"orderId": "A-1"},
    }


def test_record_transform_adds_no_missing_field() -> None:
    transform = STREAMS_BY_NAME["email_send"].transform

    assert transform({"email": "a@example.com"}) == {"email": "a@example.com"}


def test_identity_transform() -> None:
    assert RecordTransform().is_identity
    assert STREAMS_BY_NAME["channels"].transform.is_identity
    assert not STREAMS_BY_NAME["users"].transform.is_identity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T00:00:00Z", datetime(2024, 1, 31, tzinfo=timezone.utc)),
        ("2024-01-31T00:00:00z", datetime(2024, 1, 31, tzinfo=timezone.utc)),
        ("2024-01-31T00:00:00.123000Z", datetime(2024, 1, 31, 0, 0, 0, 123000, tzinfo=timezone.utc)),
        ("2024-01-31T02:00:00+02:00", datetime(2024, 1, 31, tzinfo=timezone.utc)),
        ("2024-01-31T00:00:00", datetime(2024, 1, 31, tzinfo=timezone.utc)),
    ],
)
def test_parse_rfc3339_gives_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)

    assert parsed == expected
    assert parsed.tzinfo == timezone.utc


def test_parse_rfc3339_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_rfc3339("garbage")


def test_format_rfc3339_round_trips_and_shows_a_fraction_only_when_present() -> None:
    whole = datetime(2024, 1, 31, tzinfo=timezone.utc)
    millis = whole.replace(microsecond=123_000)
    micros = whole.replace(microsecond=123_456)

    assert format_rfc3339(whole) == "2024-01-31T00:00:00Z"
    assert format_rfc3339(millis) == "2024-01-31T00:00:00.123Z"
    assert format_rfc3339(micros) == "2024-01-31T00:00:00.123456Z"
    for moment in (whole, millis, micros):
        assert parse_rfc3339(format_rfc3339(moment)) == moment


# --- users date fields (issue 10): date_to_rfc3339 and RecordTransform.date_paths ------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-06 15:46:40 +00:00", "2024-03-06T15:46:40Z"),  # the export form
        ("2024-03-06 15:46:40 +02:00", "2024-03-06T13:46:40Z"),
        ("2024-03-06 15:46:40.250 +00:00", "2024-03-06T15:46:40.250Z"),
        ("2024-03-06 15:46:40", "2024-03-06T15:46:40Z"),
        ("2024-03-06T15:46:40Z", "2024-03-06T15:46:40Z"),
        ("2023-12-19T10:12:28.214-06:00", "2023-12-19T16:12:28.214Z"),
        ("2015-11-13", "2015-11-13T00:00:00Z"),  # a bare date is midnight UTC
        (1709740000123, "2024-03-06T15:46:40.123Z"),  # epoch milliseconds
        (1709740000000.0, "2024-03-06T15:46:40Z"),
    ],
)
def test_a_date_field_value_becomes_rfc3339_utc(value: Any, expected: str) -> None:
    assert transforms.date_to_rfc3339(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "13/11/2015",
        "soon",
        "",
        "2024-13-45 99:99:99 +00:00",  # the export form's shape, not a date
        "0999-01-01 00:00:00 +01:00",  # outside the years RFC 3339 output can carry here
        True,
        {"at": "2024-03-06"},
        float("nan"),
        10**20,
    ],
)
def test_a_value_that_is_not_a_date_gives_none(value: Any) -> None:
    assert transforms.date_to_rfc3339(value) is None


def test_date_paths_convert_top_level_nested_and_array_spellings() -> None:
    # given a date field at the top level, inside an object, inside a nested array, and flattened
    transform = RecordTransform(date_paths=("lastPurchaseDate", "membership.since", "orders.placedAt"))
    record: dict[str, Any] = {
        "lastPurchaseDate": "2024-02-01 10:00:00 +00:00",
        "membership": {"since": "2022-05-01 08:00:00 +00:00", "tier": "gold"},
        "orders": [{"placedAt": "2024-01-02 03:04:05 +00:00"}, {"placedAt": None}, "not an object"],
        "membership.since": "2021-01-01 00:00:00 +00:00",
    }

    # when
    result = transform(record)

    # then every spelling is converted, in place, and nothing else changes
    assert result is record
    assert record == {
        "lastPurchaseDate": "2024-02-01T10:00:00Z",
        "membership": {"since": "2022-05-01T08:00:00Z", "tier": "gold"},
        "orders": [{"placedAt": "2024-01-02T03:04:05Z"}, {"placedAt": None}, "not an object"],
        "membership.since": "2021-01-01T00:00:00Z",
    }


def test_a_dotted_key_inside_an_object_is_found_too() -> None:
    # given a path a.b.c spelled {"a": {"b.c": ...}}
    record: dict[str, Any] = {"a": {"b.c": "2024-03-06 15:46:40 +00:00"}}

    # when
    transforms.convert_date_paths(record, ["a.b.c"])

    # then
    assert record == {"a": {"b.c": "2024-03-06T15:46:40Z"}}


def test_a_value_that_is_not_a_date_moves_to_unparsed_dates_and_the_row_is_kept() -> None:
    # given
    transform = RecordTransform(date_paths=("lastPurchaseDate", "orders.placedAt"))
    record: dict[str, Any] = {
        "email": "a@example.com",
        "lastPurchaseDate": "13/11/2015",
        "orders": [{"placedAt": "yesterday", "sku": "A"}, {"placedAt": "2024-01-02 03:04:05 +00:00"}],
    }

    # when
    transform(record)

    # then the values are kept with their paths, and the date fields hold only dates
    assert record == {
        "email": "a@example.com",
        "orders": [{"sku": "A"}, {"placedAt": "2024-01-02T03:04:05Z"}],
        transforms.UNPARSED_DATES_FIELD: [
            {"field": "lastPurchaseDate", "value": "13/11/2015"},
            {"field": "orders.placedAt", "value": "yesterday"},
        ],
    }


def test_an_array_of_dates_converts_what_parses_and_keeps_the_rest() -> None:
    # given
    record: dict[str, Any] = {"visits": ["2024-03-06 15:46:40 +00:00", "later", 1709740000123]}

    # when
    transforms.convert_date_paths(record, ["visits"])

    # then
    assert record == {"visits": ["2024-03-06T15:46:40Z", "later", "2024-03-06T15:46:40.123Z"]}


def test_a_record_without_the_date_fields_is_left_alone() -> None:
    # given
    record: dict[str, Any] = {"email": "a@example.com", "membership": "gold", "orders": 3}

    # when
    transforms.convert_date_paths(record, ["membership.since", "orders.placedAt", "lastPurchaseDate"])

    # then
    assert record == {"email": "a@example.com", "membership": "gold", "orders": 3}


def test_date_paths_run_before_the_renames_and_keep_the_other_conversions() -> None:
    # given the users row of the stream table with a date field of the project added
    users = STREAMS_BY_NAME["users"].transform
    transform = RecordTransform(
        export_time_fields=users.export_time_fields, renames=users.renames, date_paths=("Industry",)
    )

    # when
    record = transform(
        {"Industry": "2024-03-06 15:46:40 +00:00", "profileUpdatedAt": "2024-03-06 15:46:40 +00:00"}
    )

    # then
    assert record == {"_industry": "2024-03-06T15:46:40Z", "profileUpdatedAt": "2024-03-06T15:46:40Z"}
    assert not RecordTransform(date_paths=("a",)).is_identity
