"""Schema validation for the tests: a strict RFC 3339 ``date-time`` check for jsonschema, and a way
to close a schema to undeclared fields. Shared by the schema, users and end-to-end tests.

jsonschema only checks ``date-time`` when the optional rfc3339-validator is installed; this
registers our own check so validation never silently skips the format.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from jsonschema import FormatChecker

_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))"
)


def is_rfc3339_date_time(value: object) -> bool:
    """Strict RFC 3339 `date-time` (section 5.6); non-strings are left to the `type` keyword."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    try:
        date.fromisoformat(match["date"])
    except ValueError:
        return False
    offset_ok = match["off_hour"] is None or (int(match["off_hour"]) <= 23 and int(match["off_minute"]) <= 59)
    time_ok = int(match["hour"]) <= 23 and int(match["minute"]) <= 59 and int(match["second"]) <= 60
    return time_ok and offset_ok


# jsonschema only checks date-time when rfc3339-validator is installed; register our own check either way.
FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checks("date-time")(is_rfc3339_date_time)


def closed(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever it declares properties: a field that
    the source reported but the schema missed fails validation."""
    if isinstance(node, dict):
        out = {key: closed(value) for key, value in node.items()}
        if isinstance(out.get("properties"), dict):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [closed(item) for item in node]
    return node
