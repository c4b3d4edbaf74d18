"""Airbyte protocol messages, built as bytes: the JSON lines a sync prints on stdout.

RECORD lines are written a block at a time: the record JSON of each row is already on disk (see
``api.spool``), and a block of them becomes RECORD messages with one ``join``. Everything else
(STATE, TRACE, LOG) is one ``orjson.dumps`` of the protocol's shape, the same JSON the CDK writes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

import orjson

from .api.errors import FailureType

NEWLINE = orjson.OPT_APPEND_NEWLINE


class Status(str, Enum):
    STARTED = "STARTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    INCOMPLETE = "INCOMPLETE"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def record_block(stream: str, data_lines: list[bytes], emitted_at: int | None = None) -> bytes:
    """RECORD messages for ``data_lines`` (each the JSON of one record), newline-terminated."""
    if not data_lines:
        return b""
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(stream) + b',"data":'
    tail = b',"emitted_at":%d}}\n' % (now_ms() if emitted_at is None else emitted_at)
    return head + (tail + head).join(data_lines) + tail


def record(stream: str, data: Mapping[str, Any], emitted_at: int | None = None) -> bytes:
    return record_block(stream, [orjson.dumps(data)], emitted_at)


def state(stream: str, stream_state: Mapping[str, Any], record_count: int) -> bytes:
    """A per-stream checkpoint; ``record_count`` is the stream's records since its previous STATE."""
    return orjson.dumps(
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": stream}, "stream_state": stream_state},
                "sourceStats": {"recordCount": float(record_count)},
            },
        },
        option=NEWLINE,
    )


def stream_status(stream: str, status: Status) -> bytes:
    return _status_line({"stream_descriptor": {"name": stream}, "status": status.value})


def rate_limited(stream: str, quota_reset_ms: int) -> bytes:
    """RUNNING with reason RATE_LIMITED: Airbyte's UI shows the stream as rate limited, "restarting
    in ..." until ``quota_reset_ms`` (epoch ms), or until the stream's next record."""
    reason = {"type": "RATE_LIMITED", "rate_limited": {"quota_reset": quota_reset_ms}}
    return _status_line(
        {"stream_descriptor": {"name": stream}, "status": Status.RUNNING.value, "reasons": [reason]}
    )


def _status_line(stream_status: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "type": "TRACE",
            "trace": {"type": "STREAM_STATUS", "emitted_at": float(now_ms()), "stream_status": stream_status},
        },
        option=NEWLINE,
    )


def error_trace(
    message: str,
    failure_type: FailureType,
    stream: str | None = None,
    internal_message: str | None = None,
    stack_trace: str | None = None,
) -> bytes:
    error: dict[str, Any] = {
        "message": message,
        "internal_message": internal_message or message,
        "failure_type": failure_type.value,
    }
    if stack_trace:
        error["stack_trace"] = stack_trace
    if stream is not None:
        error["stream_descriptor"] = {"name": stream}
    return orjson.dumps(
        {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": float(now_ms()), "error": error}},
        option=NEWLINE,
    )


def dumps_line(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps(message, option=NEWLINE)


def log(level: str, message: str) -> bytes:
    return orjson.dumps({"type": "LOG", "log": {"level": level, "message": message}}, option=NEWLINE)
