"""The export streams of the other channels (issue 11): one per dataTypeName of the export API,
declared in one block of the catalog, with transforms that match their schemas."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from source_iterable import catalog
from source_iterable.catalog import STREAMS, STREAMS_BY_NAME, Kind
from source_iterable.transforms import (
    RecordTransform,
    decode_json_array_string,
    timestamp_to_rfc3339,
)

from .builders import CHANNEL_STREAMS

# The dataTypeName enum of GET /api/export/data.json, verbatim from Iterable's Swagger (fact sheet 4.1).
SPEC_DATA_TYPES = (
    "emailSend emailOpen emailClick hostedUnsubscribeClick emailComplaint emailBounce emailSendSkip "
    "pushSend pushOpen pushUninstall pushBounce pushSendSkip inAppSend inAppOpen inAppClick inAppClose "
    "inAppDelete inAppDelivery inAppSendSkip inAppRecall inboxSession inboxMessageImpression smsSend "
    "smsBounce smsClick smsReceived smsSendSkip webPushSend webPushClick webPushSendSkip rcsSend "
    "rcsSendSkip emailSubscribe emailUnSubscribe purchase customEvent user smsUsageInfo embeddedSend "
    "embeddedSendSkip embeddedClick embeddedReceived embeddedImpression embeddedSession unknownSession "
    "journeyExit whatsAppBounce whatsAppClick whatsAppReceived whatsAppSeen whatsAppSend whatsAppSendSkip "
    "whatsAppUsageInfo"
).split()
BLOCK_START = "    # --- other channels' export events (issue 11) ---"
BLOCK_END = "    # --- end of other channels ---"


def schema(stream: str) -> dict[str, Any]:
    return ResourceSchemaLoader("source_iterable").get_schema(stream)


def test_the_enum_and_the_name_list_have_the_documented_sizes() -> None:
    # given the two reference lists this file checks against
    # then they hold the 53 documented types and the 44 names, each once
    assert len(SPEC_DATA_TYPES) == len(set(SPEC_DATA_TYPES)) == 53
    assert len(CHANNEL_STREAMS) == len(set(CHANNEL_STREAMS)) == 44


def test_the_catalog_has_exactly_one_export_stream_per_data_type_of_the_enum() -> None:
    # given the export streams of the catalog
    exports = [spec for spec in STREAMS if spec.kind is Kind.EXPORT]
    # when counting their dataTypeNames
    counts = Counter(spec.export_type for spec in exports)
    # then every documented type is read by exactly one stream and nothing else is
    assert sorted(counts, key=str) == sorted(SPEC_DATA_TYPES)
    assert set(counts.values()) == {1}
    # and the TS client's alias for unknownSession is not a second stream
    assert "anonSession" not in counts


def test_the_new_streams_are_the_listed_names_in_one_block_after_the_first_seventeen() -> None:
    # given the catalog table
    names = [spec.name for spec in STREAMS]
    # then the 16 first streams and campaigns_metrics come first and the 44 listed names follow, in order
    # (and the 7 streams of issue 17 after them)
    assert len(names) == 17 + 44 + 7
    assert "campaigns_metrics" in names[:17]
    assert names[17 : 17 + 44] == CHANNEL_STREAMS
    assert not set(CHANNEL_STREAMS) & set(names[:17])
    # and in the source they sit between the two marker comments, one row each
    source = Path(catalog.__file__).read_text().splitlines()
    block = source[source.index(BLOCK_START) + 1 : source.index(BLOCK_END)]
    assert [line.split('"')[1] for line in block] == CHANNEL_STREAMS


@pytest.mark.parametrize("name", CHANNEL_STREAMS)
def test_a_new_stream_is_an_incremental_event_export_without_primary_key(name: str) -> None:
    # given a stream of issue 11
    spec = STREAMS_BY_NAME[name]
    # then it reads data.json in windows on createdAt, like the email events
    assert spec.kind is Kind.EXPORT
    assert spec.path == "/api/export/data.json"
    assert spec.cursor == "createdAt"
    assert spec.primary_key == ()
    assert spec.fan_out == ({},)
    assert spec.export_type is not None and spec.export_type in SPEC_DATA_TYPES


@pytest.mark.parametrize("name", CHANNEL_STREAMS)
def test_the_transform_converts_exactly_the_date_times_the_schema_declares(name: str) -> None:
    # given the stream's transform and schema
    transform = STREAMS_BY_NAME[name].transform
    properties = schema(name)["properties"]
    # when listing the fields each side treats as date-times
    declared = {field for field, prop in properties.items() if prop.get("format") == "date-time"}
    converted = {*transform.export_time_fields, *transform.any_time_fields, *transform.epoch_ms_fields}
    # then they are the same fields, createdAt among them
    assert declared == converted
    assert "createdAt" in transform.export_time_fields


@pytest.mark.parametrize("name", CHANNEL_STREAMS)
def test_json_string_fields_are_decoded_where_the_schema_declares_them(name: str) -> None:
    # given the stream's transform and schema
    transform = STREAMS_BY_NAME[name].transform
    properties = schema(name)["properties"]
    payloads = {"transactionalData", "dataFields"} & set(properties)
    # then every payload field it declares is decoded, and declared as object or string
    assert set(transform.json_string_fields) == payloads
    for field in payloads:
        assert set(properties[field]["type"]) == {"null", "object", "string"}
    assert set(transform.json_array_fields) == {"shoppingCartItems"} & set(properties)
    # and every send or skip of a channel carries transactionalData
    if name.endswith(("_send", "_send_skip")):
        assert "transactionalData" in payloads


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-06 15:46:40 +00:00", "2024-03-06T15:46:40Z"),
        ("2024-03-06 17:46:40 +02:00", "2024-03-06T15:46:40Z"),
        ("2024-03-06T15:46:40Z", "2024-03-06T15:46:40Z"),
        (1709740000123, "2024-03-06T15:46:40.123Z"),
        (1709740000000, "2024-03-06T15:46:40.000Z"),
        (1709740000123.0, "2024-03-06T15:46:40.123Z"),
    ],
)
def test_timestamp_to_rfc3339_takes_export_strings_and_epoch_milliseconds(value: Any, expected: str) -> None:
    assert timestamp_to_rfc3339(value) == expected


@pytest.mark.parametrize("value", [None, True, False, "soon", "", {"start": 1}, [1709740000123]])
def test_timestamp_to_rfc3339_leaves_anything_else_unchanged(value: Any) -> None:
    assert timestamp_to_rfc3339(value) == value


def test_decode_json_array_string_decodes_an_array() -> None:
    assert decode_json_array_string('[{"id":"sku-1001","quantity":2}]') == [{"id": "sku-1001", "quantity": 2}]
    assert decode_json_array_string("[]") == []


@pytest.mark.parametrize("value", ["[not json", '{"id": 1}', "42", '"text"', "null", ""])
def test_decode_json_array_string_keeps_the_string_unless_it_is_an_array(value: str) -> None:
    assert decode_json_array_string(value) == value


@pytest.mark.parametrize("value", [None, [{"already": "decoded"}], {"an": "object"}, 3])
def test_decode_json_array_string_leaves_non_strings(value: Any) -> None:
    assert decode_json_array_string(value) == value


def test_record_transform_applies_the_new_conversions_to_the_named_fields_only() -> None:
    # given a transform with flexible timestamps and JSON arrays
    transform = RecordTransform(
        export_time_fields=("createdAt",),
        any_time_fields=("session.start", "sentAt"),
        json_array_fields=("shoppingCartItems",),
    )
    assert not transform.is_identity
    assert not RecordTransform(any_time_fields=("x",)).is_identity
    assert not RecordTransform(json_array_fields=("x",)).is_identity
    record: dict[str, Any] = {
        "createdAt": "2024-03-06 15:46:40 +00:00",
        "session.start": 1709740000123,
        "sentAt": "2024-03-06 15:40:00 +00:00",
        "expiresAt": "2024-06-04 15:46:40 +00:00",
        "shoppingCartItems": '[{"sku":"sku-1001"}]',
        "items": '[{"sku":"sku-1002"}]',
    }
    # when it is applied
    result = transform(record)
    # then the named fields are converted in place and the others are untouched
    assert result is record
    assert record == {
        "createdAt": "2024-03-06T15:46:40Z",
        "session.start": "2024-03-06T15:46:40.123Z",
        "sentAt": "2024-03-06T15:40:00Z",
        "expiresAt": "2024-06-04 15:46:40 +00:00",
        "shoppingCartItems": [{"sku": "sku-1001"}],
        "items": '[{"sku":"sku-1002"}]',
    }


def test_the_purchase_transform_decodes_its_payloads_and_adds_nothing() -> None:
    # given a purchase row whose items and data fields arrive as JSON strings
    row: dict[str, Any] = {
        "email": "jane.doe@example.com",
        "createdAt": "2024-03-06 15:46:40 +00:00",
        "shoppingCartItems": '[{"id":"sku-1001","price":129,"quantity":1}]',
        "dataFields": '{"couponCode":"SPRING10"}',
        "total": 129,
    }
    # when the purchase stream transforms it
    result = STREAMS_BY_NAME["purchase"].transform(row)
    # then both are decoded and the time normalised
    assert result == {
        "email": "jane.doe@example.com",
        "createdAt": "2024-03-06T15:46:40Z",
        "shoppingCartItems": [{"id": "sku-1001", "price": 129, "quantity": 1}],
        "dataFields": {"couponCode": "SPRING10"},
        "total": 129,
    }
