"""Time helpers shared by the data generator and the server.

Iterable uses two timestamp families (fact sheet section 1): epoch-millisecond integers on resources
(campaigns, lists, templates, metadata) and ``YYYY-MM-DD HH:MM:SS +00:00`` strings on export rows.
"""

from __future__ import annotations

import calendar
import re
import time

EXPORT_TS_FORMAT = "%Y-%m-%d %H:%M:%S +00:00"

# Query dates are documented as ``yyyy-MM-dd HH:mm:ss [ZZ]``. We are lenient on purpose:
# - the offset may be glued on or follow a space, with or without a colon;
# - ``+`` in a query string decodes to a space, so a client that forgot to send ``%2B`` arrives here
#   as ``2024-01-01 00:00:00  00:00``; a bare ``HH:MM`` after the time is read as a positive offset;
# - ISO forms (``T`` separator, ``Z``, fractions) and a bare date are accepted too.
_DATETIME = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?|\d{2}:?\d{2})?\s*$"
)


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """UTC calendar time to epoch seconds."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def epoch_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return epoch(year, month, day, hour, minute, second) * 1000


def export_ts(seconds: int) -> str:
    """Epoch seconds to the export row format ``2024-03-06 15:46:40 +00:00``."""
    return time.strftime(EXPORT_TS_FORMAT, time.gmtime(seconds))


def _offset_seconds(text: str | None) -> int:
    if not text or text in ("Z", "z"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-").replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("bad offset")
    return sign * (hours * 3600 + minutes * 60)


def parse_datetime(text: str) -> float | None:
    """Parse a query-string or row timestamp to epoch seconds (UTC); None when it is not a date."""
    match = _DATETIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        parts = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        if not (1 <= parts[1] <= 12 and 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1]):
            return None
        if parts[3] > 23 or parts[4] > 59 or parts[5] > 59:
            return None
        base = float(epoch(*parts))
        if fraction:
            base += float("0." + fraction)
        return base - _offset_seconds(offset)
    except ValueError:
        return None
