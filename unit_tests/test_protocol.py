"""``protocol.py``: the RECORD, STATE, TRACE and LOG lines we write as bytes are the protocol's messages:
the CDK's serializer loads them, and they are the JSON the CDK writes for the same message."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateStats,
    AirbyteStateType,
    AirbyteStreamState,
    AirbyteStreamStatus,
    AirbyteStreamStatusReason,
    AirbyteStreamStatusReasonType,
    AirbyteStreamStatusTraceMessage,
    AirbyteTraceMessage,
    Level,
    StreamDescriptor,
    TraceType,
    Type,
)
from airbyte_cdk.models import FailureType as CdkFailureType
from airbyte_protocol_dataclasses.models import AirbyteStreamStatusRateLimitedReason

from source_iterable import protocol
from source_iterable.api.errors import FailureType
from source_iterable.protocol import Status

EMITTED_AT = 1710072000000
RECORDS = [
    pytest.param(
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:47:02Z",
            "campaignId": 7013000,
            "transactionalData": {
                "orderId": "A-1001",
                "total": 59.9,
                "items": [{"sku": "sku-1001", "note": None}],
            },
            "isVip": False,
            "city": "São Paulo ✓",
        },
        id="export-row",
    ),
    pytest.param({"email": "a@example.com", "big": 2**53 + 1, "neg": -1.25e-7}, id="numbers"),
    pytest.param({"text": 'quote " backslash \\ newline \n tab \t'}, id="escapes"),
    pytest.param({}, id="empty"),
]


def cdk_line(message: AirbyteMessage) -> dict[str, Any]:
    """What the CDK writes for ``message``, parsed."""
    parsed: dict[str, Any] = json.loads(AirbyteEntrypoint.airbyte_message_to_string(message))
    return parsed


def one_line(data: bytes) -> dict[str, Any]:
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    parsed: dict[str, Any] = orjson.loads(data)
    return parsed


def loads(data: bytes) -> AirbyteMessage:
    return AirbyteMessageSerializer.load(orjson.loads(data))


# ------------------------------------------------------------------ RECORD


@pytest.mark.parametrize("data", RECORDS)
def test_a_record_line_is_the_json_the_cdk_writes(data: dict[str, Any]) -> None:
    # given the CDK's message for the record
    expected = AirbyteMessage(
        type=Type.RECORD, record=AirbyteRecordMessage(stream="email_send", data=data, emitted_at=EMITTED_AT)
    )

    # when we write it
    line = protocol.record("email_send", data, EMITTED_AT)

    # then it is one line, loaded by the CDK's serializer, and equal to what the CDK writes
    assert one_line(line) == cdk_line(expected)
    assert loads(line) == expected


def test_a_block_of_records_is_one_record_line_per_row() -> None:
    rows = [{"n": n, "email": f"u{n}@example.com"} for n in range(3)]

    block = protocol.record_block("email_open", [orjson.dumps(row) for row in rows], EMITTED_AT)

    lines = block.splitlines(keepends=True)
    assert len(lines) == 3 and block.endswith(b"\n")
    for line, row in zip(lines, rows, strict=True):
        expected = AirbyteMessage(
            type=Type.RECORD,
            record=AirbyteRecordMessage(stream="email_open", data=row, emitted_at=EMITTED_AT),
        )
        assert one_line(line) == cdk_line(expected)


def test_an_empty_block_writes_nothing() -> None:
    assert protocol.record_block("email_open", []) == b""


def test_a_record_without_a_time_is_stamped_now() -> None:
    before = protocol.now_ms()
    stamped = one_line(protocol.record("s", {"a": 1}))["record"]["emitted_at"]
    assert before <= stamped <= protocol.now_ms()


def test_a_stream_name_is_escaped_like_any_json_string() -> None:
    line = protocol.record('odd "name"', {"a": 1}, EMITTED_AT)
    assert loads(line).record is not None and loads(line).record.stream == 'odd "name"'  # type: ignore[union-attr]


# ------------------------------------------------------------------ STATE


@pytest.mark.parametrize(
    "stream_state",
    [
        {"createdAt": "2024-03-07T00:00:00Z"},
        {
            "createdAt": "2024-01-01T00:00:00Z",
            "jobs": [{"id": 7, "start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"}],
        },
        {"__ab_no_cursor_state_message": True},
        {},
    ],
)
def test_a_state_line_is_the_json_the_cdk_writes(stream_state: dict[str, Any]) -> None:
    expected = AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name="email_send"),
                stream_state=AirbyteStateBlob(stream_state),
            ),
            sourceStats=AirbyteStateStats(recordCount=42.0),
        ),
    )

    line = protocol.state("email_send", stream_state, 42)

    assert one_line(line) == cdk_line(expected)
    loaded = loads(line)
    assert loaded.type is Type.STATE and loaded.state is not None and loaded.state.sourceStats is not None
    assert loaded.state.sourceStats.recordCount == 42.0


# ------------------------------------------------------------------ TRACE


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (FailureType.config_error, CdkFailureType.config_error),
        (FailureType.system_error, CdkFailureType.system_error),
        (FailureType.transient_error, CdkFailureType.transient_error),
    ],
)
def test_an_error_trace_is_the_json_the_cdk_writes(ours: FailureType, theirs: CdkFailureType) -> None:
    line = protocol.error_trace("stream 'users' failed", ours, "users", stack_trace="Traceback ...")
    emitted = one_line(line)["trace"]["emitted_at"]
    expected = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=emitted,
            error=AirbyteErrorTraceMessage(
                message="stream 'users' failed",
                internal_message="stream 'users' failed",
                failure_type=theirs,
                stack_trace="Traceback ...",
                stream_descriptor=StreamDescriptor(name="users"),
            ),
        ),
    )

    assert one_line(line) == cdk_line(expected)
    assert loads(line) == expected


def test_an_error_trace_of_the_whole_sync_names_no_stream_and_has_no_stack_trace() -> None:
    line = protocol.error_trace("Invalid configuration: 'api_key' is required", FailureType.config_error)
    emitted = one_line(line)["trace"]["emitted_at"]
    expected = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=emitted,
            error=AirbyteErrorTraceMessage(
                message="Invalid configuration: 'api_key' is required",
                internal_message="Invalid configuration: 'api_key' is required",
                failure_type=CdkFailureType.config_error,
            ),
        ),
    )

    assert one_line(line) == cdk_line(expected)
    assert "stream_descriptor" not in one_line(line)["trace"]["error"]
    assert "stack_trace" not in one_line(line)["trace"]["error"]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Status.STARTED, AirbyteStreamStatus.STARTED),
        (Status.RUNNING, AirbyteStreamStatus.RUNNING),
        (Status.COMPLETE, AirbyteStreamStatus.COMPLETE),
        (Status.INCOMPLETE, AirbyteStreamStatus.INCOMPLETE),
    ],
)
def test_a_stream_status_is_the_json_the_cdk_writes(ours: Status, theirs: AirbyteStreamStatus) -> None:
    line = protocol.stream_status("lists", ours)
    emitted = one_line(line)["trace"]["emitted_at"]
    expected = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.STREAM_STATUS,
            emitted_at=emitted,
            stream_status=AirbyteStreamStatusTraceMessage(
                stream_descriptor=StreamDescriptor(name="lists"), status=theirs
            ),
        ),
    )

    assert one_line(line) == cdk_line(expected)
    assert loads(line) == expected


def test_a_rate_limited_status_is_the_protocols_running_status_with_its_reason_and_quota_reset() -> None:
    # given the protocol's RUNNING status with one RATE_LIMITED reason that says when the budget reopens
    line = protocol.rate_limited("email_send", 1710072061000)
    emitted = one_line(line)["trace"]["emitted_at"]
    expected = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.STREAM_STATUS,
            emitted_at=emitted,
            stream_status=AirbyteStreamStatusTraceMessage(
                stream_descriptor=StreamDescriptor(name="email_send"),
                status=AirbyteStreamStatus.RUNNING,
                reasons=[
                    AirbyteStreamStatusReason(
                        type=AirbyteStreamStatusReasonType.RATE_LIMITED,
                        rate_limited=AirbyteStreamStatusRateLimitedReason(quota_reset=1710072061000),
                    )
                ],
            ),
        ),
    )

    # then it is what the CDK writes, and the platform finds one RATE_LIMITED reason with its quota_reset
    assert one_line(line) == cdk_line(expected)
    assert loads(line) == expected
    reasons = one_line(line)["trace"]["stream_status"]["reasons"]
    assert reasons == [{"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1710072061000}}]


# ------------------------------------------------------------------ LOG and others


@pytest.mark.parametrize(
    ("ours", "theirs"), [("INFO", Level.INFO), ("WARN", Level.WARN), ("ERROR", Level.ERROR)]
)
def test_a_log_line_is_the_json_the_cdk_writes(ours: str, theirs: Level) -> None:
    expected = AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=theirs, message="plan: ✓ 4 windows"))

    line = protocol.log(ours, "plan: ✓ 4 windows")

    assert one_line(line) == cdk_line(expected)
    assert loads(line) == expected


def test_any_message_can_be_written_as_one_line() -> None:
    message = {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "FAILED", "message": "no"}}
    assert one_line(protocol.dumps_line(message)) == message
    assert loads(protocol.dumps_line(message)).type is Type.CONNECTION_STATUS
