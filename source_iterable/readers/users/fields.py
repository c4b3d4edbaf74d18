"""``GET /api/users/getFields``: the project's own field list, asked once and never raising.

getFields answers ``{"fields": {"<name>": "<type>", ...}}`` with the types ``string, long, double,
boolean, date, geo_location, object, nested``; a sub-field is named by its dotted path and its
parent is listed too (``"phoneNumberDetails": "object", "phoneNumberDetails.updatedAt": "date"``).
Iterable-internal flattened keys come without a parent (``itblInternal.emailDomain``).

``fetch_user_fields`` never raises: a failure is a reason the caller logs (discover falls back to the
static users schema, a sync to the configured catalog's date fields, check skips its project type test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...api.client import IterableClient, read_json
from ...api.errors import ApiError

GET_FIELDS_PATH = "/api/users/getFields"
# A field list is worth a short wait, not the minutes an export window may retry for: discover
# answers within seconds and falls back to the static schema.
GET_FIELDS_ATTEMPTS = 3

UserFields = Mapping[str, str]
"""Field name (dotted path) -> Iterable type, lower case; ``""`` when Iterable gave no usable type."""


class FieldsBodyError(ValueError):
    """A 200 answer to getFields that is not ``{"fields": {...}}``."""


@dataclass(frozen=True)
class FieldsLookup:
    """The outcome of one getFields call: the fields, or why there are none."""

    fields: UserFields | None = None
    failure: str | None = None


def parse_get_fields(body: Any) -> dict[str, str]:
    """The field map of a getFields body; junk entries are tolerated, a body without one is not.

    Names that are not non-empty strings are dropped; a type that is not a string becomes ``""``
    (declared permissively); a nested object of types is read as dotted paths under an ``object``.
    """
    if not isinstance(body, Mapping):
        raise FieldsBodyError(f"the body is a JSON {_json_kind(body)}, not an object")
    raw = body.get("fields")
    if not isinstance(raw, Mapping):
        raise FieldsBodyError("the body has no 'fields' object")
    fields: dict[str, str] = {}
    _flatten(raw, "", fields)
    return fields


def _flatten(raw: Mapping[Any, Any], prefix: str, into: dict[str, str]) -> None:
    for name, kind in raw.items():
        if not isinstance(name, str) or not name:
            continue
        full = prefix + name
        if isinstance(kind, Mapping):
            into.setdefault(full, "object")
            _flatten(kind, full + ".", into)
        else:
            into[full] = kind.strip().lower() if isinstance(kind, str) else ""


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else "value"


def fetch_user_fields(client: IterableClient, what: str = "stream 'users'") -> FieldsLookup:
    """One getFields call through the client (its retries and its 3-a-second limiter); never raises."""
    try:
        body = client.request(
            GET_FIELDS_PATH, None, read_json, what=f"{what}, field list", max_attempts=GET_FIELDS_ATTEMPTS
        )
        return FieldsLookup(fields=parse_get_fields(body))
    except ApiError as error:
        return FieldsLookup(failure=error.message)
    except FieldsBodyError as error:
        return FieldsLookup(failure=f"GET {GET_FIELDS_PATH} answered HTTP 200, but {error}")
    except Exception as error:  # discover must not fail on the field list, whatever went wrong
        return FieldsLookup(
            failure=client.redact(f"GET {GET_FIELDS_PATH} failed: {type(error).__name__}: {error}")
        )
