"""Pure record transforms: timestamps to RFC 3339 UTC, JSON-string decoding, field renames.

Iterable speaks two timestamp dialects: epoch milliseconds on resources (campaigns, lists,
templates, ...) and ``YYYY-MM-DD HH:MM:SS +00:00`` strings on exports. Destinations want one, so
both become RFC 3339 UTC strings. The export form is normalised by slicing, because it is the
format of nearly every row of a million-row export; anything else goes through a real parser.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FALLBACK_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S")


def format_rfc3339(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, with a fraction only when there is one (3 digits for whole ms)."""
    moment = moment.astimezone(timezone.utc)
    if not moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if moment.microsecond % 1000 == 0:  # epoch-ms sources: keep the form their records use
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (as stored in our state) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def epoch_ms_to_rfc3339(value: Any) -> Any:
    """``1709740000123`` -> ``2024-03-06T15:46:40.123Z``; anything not an integer is left alone."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    ms = int(value)
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def parse_export_time(text: str) -> datetime | None:
    """Parse an export timestamp in any of the forms seen; None when it is not a timestamp."""
    for fmt in _FALLBACK_FORMATS:
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def export_time_to_rfc3339(value: Any) -> Any:
    """``2024-03-06 15:46:40 +00:00`` -> ``2024-03-06T15:46:40Z``.

    Values that are not strings, or strings that are not timestamps, are returned unchanged:
    the row is kept, never dropped.
    """
    if not isinstance(value, str):
        return value
    if len(value) == 26 and value[10] == " " and value.endswith(" +00:00"):
        return f"{value[:10]}T{value[11:19]}Z"
    moment = parse_export_time(value)
    return value if moment is None else format_rfc3339(moment)


def decode_json_string(value: Any) -> Any:
    """``transactionalData`` arrives as a JSON object inside a string; decode it when it is one.

    Anything else (not JSON, or JSON that is not an object) stays the original string, so the value
    keeps one of two declared types and nothing is lost.
    """
    if not isinstance(value, str):
        return value
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, dict) else value


@dataclass(frozen=True)
class RecordTransform:
    """The per-stream list of field conversions, applied in place to each record."""

    epoch_ms_fields: tuple[str, ...] = ()
    export_time_fields: tuple[str, ...] = ()
    json_string_fields: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_identity(self) -> bool:
        return not (
            self.epoch_ms_fields or self.export_time_fields or self.json_string_fields or self.renames
        )

    def __call__(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name in self.export_time_fields:
            if name in record:
                record[name] = export_time_to_rfc3339(record[name])
        for name in self.epoch_ms_fields:
            if name in record:
                record[name] = epoch_ms_to_rfc3339(record[name])
        for name in self.json_string_fields:
            if name in record:
                record[name] = decode_json_string(record[name])
        for old, new in self.renames.items():
            if old in record:
                record[new] = record.pop(old)
        return record
