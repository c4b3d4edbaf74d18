"""Pure record transforms: timestamps to RFC 3339 UTC, JSON-string decoding, field renames.

Iterable speaks two timestamp dialects: epoch milliseconds on resources (campaigns, lists,
templates, ...) and ``YYYY-MM-DD HH:MM:SS +00:00`` strings on exports. Destinations want one, so
both become RFC 3339 UTC strings. The export form is normalised by slicing, because it is the
format of nearly every row of a million-row export; anything else goes through a real parser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
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
    return _decoded_if(value, dict)


def decode_json_array_string(value: Any) -> Any:
    """``shoppingCartItems`` sent as a JSON array inside a string becomes the array.

    The same contract as ``decode_json_string``, for arrays: a value already decoded, a string that
    is not JSON, or JSON that is not an array comes back unchanged.
    """
    return _decoded_if(value, list)


def _decoded_if(value: Any, kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    """The JSON inside a string when it decodes to ``kind``; anything else comes back as it was."""
    if not isinstance(value, str):
        return value
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, kind) else value


def timestamp_to_rfc3339(value: Any) -> Any:
    """A timestamp whose wire form is not pinned down: an export string or epoch milliseconds.

    ``2024-03-06 15:46:40 +00:00`` -> ``2024-03-06T15:46:40Z`` (as ``export_time_to_rfc3339``);
    ``1709740000123`` -> ``2024-03-06T15:46:40.123Z`` (as ``epoch_ms_to_rfc3339``). Anything else,
    booleans included, is returned unchanged.
    """
    if isinstance(value, str):
        return export_time_to_rfc3339(value)
    return epoch_ms_to_rfc3339(value)


# Where a users record keeps a date-field value that is not a date (see ``convert_date_paths``).
UNPARSED_DATES_FIELD = "_unparsed_dates"


def date_to_rfc3339(value: Any) -> str | None:
    """The value of a field Iterable types ``date`` as RFC 3339 UTC, or None when it is not a date.

    Strings convert in every form ``parse_export_time`` reads: the export form, with a fraction or
    another offset, without an offset (UTC), ISO forms with a ``T``, and a bare ``YYYY-MM-DD``
    (midnight UTC). Numbers are epoch milliseconds, as Iterable's date fields accept them. Anything
    else (booleans, objects, text that is not a date, a year outside 1000-9999) gives None.
    """
    if isinstance(value, str):
        if (
            len(value) == 26
            and value.endswith(" +00:00")
            and value[10] == " "
            and value[4] == value[7] == "-"
            and value[13] == value[16] == ":"
        ):
            # The export form, by far the most common: checked by the C parser, then sliced.
            try:
                datetime.fromisoformat(value[:19])
            except ValueError:
                return None
            return f"{value[:10]}T{value[11:19]}Z"
        moment = parse_export_time(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = _EPOCH + timedelta(milliseconds=int(value))
        except (OverflowError, ValueError):  # inf, nan, or beyond year 9999
            return None
    else:
        return None
    if moment is None:
        return None
    try:
        moment = moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    if not 1000 <= moment.year <= 9999:
        return None
    return format_rfc3339(moment)


@lru_cache(maxsize=4096)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def convert_date_paths(record: MutableMapping[str, Any], paths: Iterable[str]) -> None:
    """Convert, in place, every value at the dotted ``paths`` to RFC 3339 UTC (``date_to_rfc3339``).

    Iterable names a nested field by its dotted path (``membership.since``); in a record it may be a
    top-level key spelled with the dots, nested objects, arrays of objects (``nested`` fields), or a
    mix (``{"a": {"b.c": ...}}``). Every spelling is looked for. A value that is not a date is moved,
    with its path, to ``_unparsed_dates`` (``[{"field": path, "value": value}]``): the row and the
    value are kept, and the date field's declared ``date-time`` format still holds. Inside an array
    of dates, elements that are dates convert and the others stay where they are.
    """
    unparsed: list[dict[str, Any]] = []
    for path in paths:
        _convert_at(record, _path_parts(path), 0, path, unparsed)
    if unparsed:
        earlier = record.get(UNPARSED_DATES_FIELD)
        if isinstance(earlier, list):
            earlier.extend(unparsed)
        else:
            record[UNPARSED_DATES_FIELD] = unparsed


def _convert_at(
    node: MutableMapping[str, Any],
    parts: tuple[str, ...],
    start: int,
    path: str,
    unparsed: list[dict[str, Any]],
) -> None:
    last = len(parts) - 1
    key = parts[start]
    for end in range(start, len(parts)):
        if end > start:
            key = f"{key}.{parts[end]}"
        if key not in node:
            continue
        value = node[key]
        if end == last:
            _convert_leaf(node, key, value, path, unparsed)
        elif isinstance(value, dict):
            _convert_at(value, parts, end + 1, path, unparsed)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _convert_at(item, parts, end + 1, path, unparsed)


def _convert_leaf(
    node: MutableMapping[str, Any], key: str, value: Any, path: str, unparsed: list[dict[str, Any]]
) -> None:
    if value is None:
        return
    if isinstance(value, list):
        node[key] = [
            converted if (converted := date_to_rfc3339(item)) is not None else item for item in value
        ]
        return
    converted = date_to_rfc3339(value)
    if converted is None:
        del node[key]
        unparsed.append({"field": path, "value": value})
    else:
        node[key] = converted


_ABSENT = object()


@dataclass(frozen=True)
class RecordTransform:
    """The per-stream list of field conversions, applied in place to each record."""

    epoch_ms_fields: tuple[str, ...] = ()
    export_time_fields: tuple[str, ...] = ()
    json_string_fields: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)
    # Timestamps that may come as export strings or as epoch milliseconds (``timestamp_to_rfc3339``).
    any_time_fields: tuple[str, ...] = ()
    # JSON arrays that may come inside a string (``decode_json_array_string``).
    json_array_fields: tuple[str, ...] = ()
    # Dotted paths of date fields (users: from getFields), converted wherever they occur in the
    # record, nested objects and arrays included (``convert_date_paths``).
    date_paths: tuple[str, ...] = ()
    _steps: tuple[tuple[str, Callable[[Any], Any]], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _renames: tuple[tuple[str, str], ...] = field(default=(), init=False, repr=False, compare=False)

    @property
    def is_identity(self) -> bool:
        return not (
            self.epoch_ms_fields
            or self.export_time_fields
            or self.json_string_fields
            or self.renames
            or self.any_time_fields
            or self.json_array_fields
            or self.date_paths
        )

    def __post_init__(self) -> None:
        # The conversions as one flat list, in the order below: a million-row export calls this once a
        # row, and looping over the empty field lists of every conversion kind cost a third of it.
        steps: list[tuple[str, Callable[[Any], Any]]] = []
        for names, convert in (
            (self.export_time_fields, export_time_to_rfc3339),
            (self.epoch_ms_fields, epoch_ms_to_rfc3339),
            (self.any_time_fields, timestamp_to_rfc3339),
            (self.json_string_fields, decode_json_string),
            (self.json_array_fields, decode_json_array_string),
        ):
            steps += [(name, convert) for name in names]
        object.__setattr__(self, "_steps", tuple(steps))
        object.__setattr__(self, "_renames", tuple(self.renames.items()))

    def __call__(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name, convert in self._steps:
            value = record.get(name, _ABSENT)
            if value is not _ABSENT:
                record[name] = convert(value)
        if self.date_paths:
            convert_date_paths(record, self.date_paths)
        for old, new in self._renames:
            if old in record:
                record[new] = record.pop(old)
        return record
