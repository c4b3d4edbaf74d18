"""Pure: is a configured catalog one the Airbyte protocol allows? Every problem names its entry and field.

``read`` checks the catalog before any request and answers a malformed one with one config_error, as
the CDK's entry point does (its pydantic model refuses the same catalogs): a sync_mode of "INVALID"
must not be read as a full refresh, nor skipped with a warning. A stream name this source does not
know is not a problem here: the protocol allows it, and ``read`` reports it as a skipped stream.

The rules are the protocol's ``ConfiguredAirbyteCatalog`` (airbyte-protocol, airbyte_protocol.yaml):
each entry has a ``stream`` (``name``, a ``json_schema`` object, a non-empty ``supported_sync_modes``),
a ``sync_mode`` and a ``destination_sync_mode``; ``cursor_field`` is a path of strings and
``primary_key`` a list of them. Of the destination modes, the platform sends a source only append,
overwrite and append_dedup (it rewrites the others before serializing the catalog for a source).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SYNC_MODES = ("full_refresh", "incremental")
DESTINATION_SYNC_MODES = ("append", "overwrite", "append_dedup")
MAX_LISTED = 5  # problems spelt out in the message; the rest are counted


@dataclass(frozen=True)
class Problem:
    entry: int  # 1-based place in the catalog's streams; 0 for the catalog itself
    stream: str | None
    field: str  # "sync_mode", "stream.json_schema", ...
    problem: str

    def __str__(self) -> str:
        if self.entry == 0:
            return f"'{self.field}' {self.problem}"
        named = f" (stream '{self.stream}')" if self.stream else ""
        return f"entry {self.entry}{named}: '{self.field}' {self.problem}"


def _is_path(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(part, str) for part in value)


def _name(entry: Any) -> str | None:
    stream = entry.get("stream") if isinstance(entry, Mapping) else None
    name = stream.get("name") if isinstance(stream, Mapping) else None
    return name if isinstance(name, str) and name else None


def _one_of(value: Any, allowed: tuple[str, ...]) -> str | None:
    if value in allowed:
        return None
    shown = "missing" if value is None else f"{value!r}"
    return f"is {shown}; it must be one of {', '.join(allowed)}"


def _entry_problems(number: int, entry: Any, cursors: Mapping[str, str | None]) -> list[Problem]:
    if not isinstance(entry, Mapping):
        return [Problem(number, None, "stream", "is missing: each entry must be an object with a stream")]
    stream = entry.get("stream")
    if not isinstance(stream, Mapping):
        return [
            Problem(
                number, None, "stream", "must be an object with name, json_schema and supported_sync_modes"
            )
        ]
    name = _name(entry)
    if name is None:
        return [Problem(number, None, "stream.name", "must be the stream's name, a non-empty string")]

    found: list[Problem] = []

    def add(field: str, problem: str) -> None:
        found.append(Problem(number, name, field, problem))

    if not isinstance(stream.get("json_schema"), Mapping):
        add("stream.json_schema", "must be an object (the stream's JSON schema)")
    modes = stream.get("supported_sync_modes")
    if not isinstance(modes, list) or not modes or any(mode not in SYNC_MODES for mode in modes):
        add("stream.supported_sync_modes", f"must be a non-empty list of {', '.join(SYNC_MODES)}")
    sync_mode = entry.get("sync_mode")
    if (problem := _one_of(sync_mode, SYNC_MODES)) is not None:
        add("sync_mode", problem)
    if (problem := _one_of(entry.get("destination_sync_mode"), DESTINATION_SYNC_MODES)) is not None:
        add("destination_sync_mode", problem)
    cursor_field = entry.get("cursor_field")
    if cursor_field is not None and not _is_path(cursor_field):
        add("cursor_field", "must be a list of strings (the path of the cursor)")
    elif cursor_field and sync_mode == "incremental" and cursors.get(name):
        # Every incremental stream of this source defines its cursor: another one cannot be honoured.
        if cursor_field != [cursors[name]]:
            add(
                "cursor_field",
                f"is {cursor_field}; stream '{name}' defines its cursor as ['{cursors[name]}']",
            )
    primary_key = entry.get("primary_key")
    if primary_key is not None and not (isinstance(primary_key, list) and all(map(_is_path, primary_key))):
        add("primary_key", "must be a list of paths, each a list of strings")
    return found


def catalog_problems(catalog: Any, cursors: Mapping[str, str | None]) -> list[Problem]:
    """Every problem of ``catalog``; ``cursors`` maps each known stream to its cursor (None: none)."""
    streams = catalog.get("streams") if isinstance(catalog, Mapping) else None
    if not isinstance(streams, list):
        return [
            Problem(0, None, "streams", "must be a list: a configured catalog is a JSON object with streams")
        ]
    found: list[Problem] = []
    first_entry: dict[str, int] = {}
    for number, entry in enumerate(streams, start=1):
        problems = _entry_problems(number, entry, cursors)
        found.extend(problems)
        name = _name(entry)
        if name is not None:
            if name in first_entry:
                found.append(
                    Problem(number, name, "stream.name", f"is configured twice (entry {first_entry[name]})")
                )
            first_entry.setdefault(name, number)
    return found


def describe(problems: list[Problem]) -> str:
    """One message for all of them: the first few spelt out, the rest counted."""
    listed = "; ".join(str(problem) for problem in problems[:MAX_LISTED])
    rest = len(problems) - MAX_LISTED
    return listed + (f"; and {rest} more" if rest > 0 else "")
