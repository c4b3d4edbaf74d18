"""The stream schemas in ``schemas/``, with their ``$ref``s to ``schemas/shared/`` resolved.

A reference names a shared file and optionally a JSON pointer into it
(``email_event.json#/properties/createdAt``), the convention the CDK's schema loader uses; resolving
them here keeps the read path free of the CDK's import.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from typing import Any

import orjson

from .records import ADDITIONAL_FIELDS, ADDITIONAL_FIELDS_SCHEMA

MAX_DEPTH = 20  # a reference cycle is a bug in a schema file, not an endless loop


@cache
def _shared(name: str) -> Any:
    return orjson.loads(files("source_iterable").joinpath("schemas", "shared", name).read_bytes())


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in [p for p in pointer.split("/") if p]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _resolve(node: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("schema references nest too deeply (a cycle?)")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name, _, pointer = ref.partition("#")
            target = _pointer(_shared(name), pointer)
            return _resolve(copy.deepcopy(target), depth + 1)
        return {key: _resolve(value, depth) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, depth) for item in node]
    return node


def stream_schema(stream: str, folder: str | None = None) -> dict[str, Any]:
    """The JSON schema of ``stream``, every reference resolved (a new copy each call), with the object
    every stream declares for the fields its schema does not (``records.ADDITIONAL_FIELDS``).
    ``folder``: a project type's variant (``catalog.ProjectVariant``), ``schemas/<folder>/<stream>.json``."""
    root = files("source_iterable").joinpath("schemas")
    raw = orjson.loads((root.joinpath(folder) if folder else root).joinpath(f"{stream}.json").read_bytes())
    resolved: dict[str, Any] = _resolve(raw, 0)
    resolved.setdefault("properties", {})[ADDITIONAL_FIELDS] = copy.deepcopy(dict(ADDITIONAL_FIELDS_SCHEMA))
    return resolved
