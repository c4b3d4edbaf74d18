"""Pure: the users schema as the project defines it, from its field list (``fields.py``).

How a users record spells a sub-field is not pinned down: the export flattens Iterable's internal
ones into dotted top-level keys (and a top-level key literally named ``offers.Intro APR`` exists),
while a custom object may arrive nested. So every field is declared at the top level under its full
name, and a sub-field is declared inside its parent as well when the parent is an ``object`` or
``nested`` field: a record validates in either spelling.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ...catalog import STREAMS_BY_NAME
from ...schema_files import stream_schema
from ...transforms import UNPARSED_DATES_FIELD
from .fields import UserFields

# The users row of the stream table: its renames apply to the schema as they do to the records.
USERS_RENAMES: Mapping[str, str] = STREAMS_BY_NAME["users"].transform.renames

FIELD_TYPES = frozenset({"string", "long", "double", "boolean", "date", "geo_location", "object", "nested"})
# Types whose sub-fields (dotted children) are declared inside them.
CONTAINER_TYPES = frozenset({"object", "nested"})


def _nullable(json_type: str) -> dict[str, Any]:
    return {"type": ["null", json_type]}


def value_schema(iterable_type: str) -> dict[str, Any]:
    """The JSON schema of one field of the given Iterable type (always nullable).

    long -> integer, double -> number, boolean -> boolean, string -> string, date -> string with
    ``format: date-time`` (the records carry RFC 3339 UTC), geo_location -> object ``{lat, lon}``,
    object -> object, nested -> array of objects. Any other type is declared permissively (``{}``).
    Iterable also stores arrays in a field of any type and reports them by their element type (its
    own ``emailListIds`` is reported as ``long``); see docs/iterable.md for what that means here.
    """
    description = {"description": f"Iterable type {iterable_type!r} (GET /api/users/getFields)."}
    simple = {"string": "string", "long": "integer", "double": "number", "boolean": "boolean"}
    if iterable_type in simple:
        return {**_nullable(simple[iterable_type]), **description}
    if iterable_type == "date":
        return {**_nullable("string"), "format": "date-time", **description}
    if iterable_type == "geo_location":
        point = {"lat": _nullable("number"), "lon": _nullable("number")}
        return {**_nullable("object"), "additionalProperties": True, "properties": point, **description}
    if iterable_type == "object":
        return {**_nullable("object"), "additionalProperties": True, "properties": {}, **description}
    if iterable_type == "nested":
        item = {"type": ["null", "object"], "additionalProperties": True, "properties": {}}
        return {**_nullable("array"), "items": item, **description}
    return {"description": f"Iterable type {iterable_type or 'unknown'!r}, declared without a type."}


UNPARSED_DATES_SCHEMA: Mapping[str, Any] = {
    "description": (
        "Values of date fields that are not dates, moved here so the date field keeps its date-time "
        "format: one entry per value, with the field's dotted path."
    ),
    "type": ["null", "array"],
    "items": {
        "type": "object",
        # Airbyte's catalog checks refuse additionalProperties false anywhere in a schema.
        "additionalProperties": True,
        "required": ["field", "value"],
        "properties": {"field": {"type": "string"}, "value": {}},
    },
}


def nearest_container(name: str, fields: UserFields) -> tuple[str, str] | None:
    """``(parent, rest)`` for a dotted name whose longest reported prefix is an object or nested field."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:cut])
        if fields.get(parent) in CONTAINER_TYPES:
            return parent, ".".join(parts[cut:])
    return None


def _children(node: dict[str, Any]) -> dict[str, Any] | None:
    """Where the sub-fields of a field's schema go: its properties, or its items' for an array of
    objects; None when the schema holds no objects (a static string field, say)."""
    types = node.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    items = node.get("items")
    if "array" in kinds and isinstance(items, dict):
        node = items
        types = node.get("type")
        kinds = set(types) if isinstance(types, list) else {types}
    if "object" not in kinds:
        return None
    children: dict[str, Any] = node.setdefault("properties", {})
    return children


def build_users_schema(
    static_schema: Mapping[str, Any], fields: UserFields, renames: Mapping[str, str] = USERS_RENAMES
) -> dict[str, Any]:
    """The static users schema plus every reported field; the static declarations win.

    Each field is declared at the top level under its name after ``renames`` (the records are
    renamed the same way), and inside its nearest ``object``/``nested`` parent under the rest of its
    path (not renamed: renames apply to top-level keys only). A parent the static schema declares
    (``devices``, ``profile``) keeps its type and its own sub-fields and gains the reported others.
    Additional properties stay allowed. When there are date fields to convert, ``_unparsed_dates``
    is declared too.
    """
    schema = copy.deepcopy(dict(static_schema))
    properties: dict[str, Any] = schema.setdefault("properties", {})
    static_names = frozenset(properties)
    nodes = {name: value_schema(kind) for name, kind in fields.items()}
    for name in sorted(nodes):
        found = nearest_container(name, fields)
        if found is None:
            continue
        parent, rest = found
        # A static parent keeps its declaration and its own sub-fields, and gains the others.
        holder = (
            properties.get(renames.get(parent, parent))
            if renames.get(parent, parent) in static_names
            else None
        )
        children = _children(holder if isinstance(holder, dict) else nodes[parent])
        if children is not None:
            children.setdefault(rest, nodes[name])
    for name in sorted(nodes):
        top = renames.get(name, name)
        if top not in properties:  # static fields keep their precise types; the first spelling wins
            properties[top] = nodes[name]
    if date_paths(fields, static_names, renames):
        properties.setdefault(UNPARSED_DATES_FIELD, copy.deepcopy(dict(UNPARSED_DATES_SCHEMA)))
    schema["additionalProperties"] = True
    # Nodes are shared between their top-level and nested places: give every place its own copy.
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(schema))
    return loaded


def date_paths(
    fields: UserFields, static_names: Iterable[str], renames: Mapping[str, str] = USERS_RENAMES
) -> tuple[str, ...]:
    """The dotted paths the users transform converts: every ``date`` field the static schema does not
    already declare (those, ``profileUpdatedAt`` and the like, have their own conversion)."""
    static = frozenset(static_names)
    return tuple(
        sorted(
            name for name, kind in fields.items() if kind == "date" and renames.get(name, name) not in static
        )
    )


def date_paths_from_schema(
    schema: Mapping[str, Any], static_names: Iterable[str], renames: Mapping[str, str] = USERS_RENAMES
) -> tuple[str, ...]:
    """The date paths a schema built by ``build_users_schema`` declares (every field is declared at the
    top level under its full name): what a sync converts when getFields fails, from its catalog."""
    static = frozenset(static_names)
    original = {new: old for old, new in renames.items()}
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    found = [
        original.get(str(name), str(name))
        for name, node in properties.items()
        if name not in static and isinstance(node, Mapping) and node.get("format") == "date-time"
    ]
    return tuple(sorted(found))


def case_collisions(names: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of names that differ only by letter case, each sorted, in name order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.casefold(), []).append(name)
    return sorted(tuple(sorted(group)) for group in groups.values() if len(group) > 1)


def collision_warning(groups: list[tuple[str, ...]]) -> str:
    listed = "; ".join(" / ".join(f"'{name}'" for name in group) for group in groups)
    return (
        f"stream 'users': {len(groups)} group(s) of fields differ only by letter case and can clash in "
        f"case-insensitive destinations: {listed}. They are declared and emitted under their own names; "
        "only 'Industry' and 'offers.Intro APR' are renamed."
    )


def schema_fallback_warning(failure: str) -> str:
    return (
        "stream 'users': the project's custom fields are not typed in this catalog, because the field "
        f"list could not be read: {failure}. The users stream is declared with its static schema; custom "
        "fields still arrive in the records as undeclared additional properties. Run discover again once "
        "GET /api/users/getFields answers."
    )


def read_fallback_warning(failure: str, paths: tuple[str, ...]) -> str:
    if paths:
        source = f"the date fields the configured catalog declares are converted ({len(paths)}: {', '.join(paths)})"
    else:
        source = (
            "the configured catalog declares no custom date field, so only Iterable's own dates are converted"
        )
    return f"stream 'users': the field list could not be read: {failure}. In this sync {source}."


def static_users_schema() -> dict[str, Any]:
    """``schemas/users.json`` with its ``$ref`` resolved."""
    return stream_schema("users")
