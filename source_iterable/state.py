"""Incoming state: the ``--state`` file's per-stream dicts, and each stream's bookmark as a datetime.

State is one dict per stream, ``{<cursor field>: <RFC 3339 UTC>}``. Export streams may add the digests of
the rows delivered behind the bookmark (``lookback``, read by ``lookback.digests``) and the export jobs
and job intents they had under way (``jobs``, ``intents``, read by ``readers.job_states``). It is parsed when it arrives and compared as a datetime;
a state we cannot parse stops that stream with a message naming the stream and the value, rather
than silently starting over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .api.errors import ConnectorError, FailureType
from .transforms import parse_export_time

NO_CURSOR = {"__ab_no_cursor_state_message": True}  # the CDK's terminal state of a full-refresh stream


class StateError(ConnectorError):
    def __init__(self, stream: str, problem: str) -> None:
        super().__init__(
            f"Invalid state for stream '{stream}': {problem}. Fix or remove this stream's state to re-sync it.",
            FailureType.config_error,
        )
        self.stream = stream


class StateFileError(ConnectorError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"Invalid configuration: '--state' {problem}", FailureType.config_error)


def stream_states(raw: Any) -> dict[str, Any]:
    """``{stream name: stream_state}`` from the state file's content: a list of per-stream STATE
    messages (the protocol's form); an empty file or list means no state. A message for an unknown
    stream is kept (the caller ignores it); a malformed message is an error naming what is wrong."""
    if raw is None or raw == [] or raw == {}:
        return {}
    if not isinstance(raw, list):
        raise StateFileError("must be a JSON list of per-stream STATE messages")
    found: dict[str, Any] = {}
    for number, message in enumerate(raw, start=1):
        if not isinstance(message, Mapping):
            raise StateFileError(f"entry {number} is not a JSON object")
        kind = message.get("type", "STREAM")
        if kind != "STREAM":
            raise StateFileError(
                f"entry {number} has type {kind!r}; only per-stream (STREAM) state is supported"
            )
        stream = message.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, Mapping) else None
        name = descriptor.get("name") if isinstance(descriptor, Mapping) else None
        if not isinstance(name, str) or not isinstance(stream, Mapping):
            raise StateFileError(f"entry {number} has no stream.stream_descriptor.name")
        found[name] = stream.get("stream_state")
    return found


def parse_bookmark(stream: str, cursor: str, value: Any) -> datetime | None:
    """The datetime a stream has read up to, from its state dict; None when there is no state."""
    if not value or value == NO_CURSOR:
        return None
    if not isinstance(value, Mapping):
        raise StateError(stream, f"expected an object like {{{cursor!r}: '2024-01-31T00:00:00Z'}}")
    raw = value.get(cursor)
    if raw is None:
        # A state written for another cursor (or by another connector) cannot tell us where we are.
        raise StateError(stream, f"it has no '{cursor}' value (got keys {sorted(value)})")
    moment = parse_export_time(raw) if isinstance(raw, str) else None
    if moment is None:
        raise StateError(stream, f"'{cursor}' is {raw!r}, not an RFC 3339 timestamp")
    return moment
