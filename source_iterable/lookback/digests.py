"""Pure: what a stream's state remembers of the rows it delivered last, so that the next sync can read
the lookback span behind its bookmark again and deliver only the rows it had not delivered.

Iterable makes some rows exportable minutes after their cursor time (late indexing), and custom events
and purchases may be tracked with any past ``createdAt``. Each sync therefore reads again the
``lookback`` before its bookmark, folded into its first window. Export rows carry no id, so a row's
identity is its content: an 8-byte BLAKE2b digest of the record the stream's transform makes (before the
fold into ``_additional_fields``, which depends on the catalog), with its keys sorted at every level,
because data.json and export job files need not agree on key order.

The state keeps the digests by minute of cursor time, and ``from``: every row delivered with a cursor in
``[from, bookmark)`` has its digest there, as often as it was delivered (two identical rows are two
digests). The next sync re-reads from ``max(bookmark - lookback, from)``, never further back: a row it
could not tell from one it delivered, it does not read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from ..transforms import format_rfc3339, parse_export_time, parse_rfc3339

STATE_KEY = "lookback"  # the key of a stream's state that holds the digests
DIGEST_SIZE = 8  # bytes: a collision needs about 4 billion rows in one lookback span
# About 1.07 MB of state (8 bytes, base64, per row). Past it the newest minutes that fit are kept and
# the next re-read reaches back only to the oldest of them.
MAX_DIGESTS = 100_000
ONE_MINUTE = timedelta(minutes=1)


def row_digest(record: Mapping[str, Any]) -> bytes:
    """The identity of a record: its canonical JSON (keys sorted at every level) hashed to 8 bytes."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=DIGEST_SIZE).digest()


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def cursor_moment(value: Any) -> datetime | None:
    """A record's cursor value (RFC 3339 after the transform, or any export form) as UTC; None if none."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        found = parse_export_time(value)
        if found is None:
            return None
        moment = found if found.tzinfo is not None else found.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def count_of(minutes: Mapping[datetime, Sized]) -> int:
    return sum(len(blob) for blob in minutes.values()) // DIGEST_SIZE


@dataclass(frozen=True)
class Digests:
    """The digests of the rows delivered with a cursor in ``[since, bookmark)``, by minute."""

    since: datetime
    minutes: Mapping[datetime, bytes] = field(default_factory=dict)  # minute -> DIGEST_SIZE-byte digests

    @property
    def count(self) -> int:
        return count_of(self.minutes)

    def known(self, start: datetime, end: datetime) -> dict[bytes, int]:
        """How often each digest was delivered in the minutes that meet ``[start, end)``."""
        found: dict[bytes, int] = {}
        first = floor_minute(start)
        for minute, blob in self.minutes.items():
            if first <= minute < end:
                for at in range(0, len(blob), DIGEST_SIZE):
                    digest = blob[at : at + DIGEST_SIZE]
                    found[digest] = found.get(digest, 0) + 1
        return found

    def to_state(self) -> dict[str, Any]:
        return {
            "from": format_rfc3339(self.since),
            "digests": {
                format_rfc3339(minute): base64.b64encode(blob).decode("ascii")
                for minute, blob in sorted(self.minutes.items())
            },
        }


def digests_from_state(stream_state: Any, bookmark: datetime) -> Digests | None:
    """The digests a stream's state holds; None when it holds none (a state written before lookback
    existed, or with lookback off). Raises ValueError naming what is wrong with a malformed one."""
    raw = stream_state.get(STATE_KEY) if isinstance(stream_state, Mapping) else None
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("from"), str):
        raise ValueError(f"'{STATE_KEY}' must be an object with 'from' and 'digests'")
    since = _moment(raw["from"], "from")
    if since > bookmark:
        raise ValueError(f"'{STATE_KEY}.from' {raw['from']} is after the bookmark")
    blobs = raw.get("digests", {})
    if not isinstance(blobs, Mapping):
        raise ValueError(f"'{STATE_KEY}.digests' must be an object of minute -> base64")
    minutes: dict[datetime, bytes] = {}
    for key, text in blobs.items():
        minute = _moment(key, "digests") if isinstance(key, str) else None
        try:
            blob = base64.b64decode(text, validate=True) if isinstance(text, str) else None
        except (binascii.Error, ValueError):
            blob = None
        if minute is None or minute != floor_minute(minute) or blob is None or len(blob) % DIGEST_SIZE:
            raise ValueError(f"'{STATE_KEY}.digests' has an unreadable entry for {key!r}")
        minutes[minute] = blob
    return Digests(since, minutes)


def _moment(text: str, where: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise ValueError(f"'{STATE_KEY}.{where}' holds {text!r}, not an RFC 3339 timestamp") from None


@dataclass(frozen=True)
class Advanced:
    digests: Digests
    dropped: int  # digests left out to stay within the cap (0: every one kept)


def advance(
    held: Digests,
    collected: Mapping[datetime, bytes],
    end: datetime,
    lookback: timedelta,
    collected_since: datetime | None = None,
    cap: int = MAX_DIGESTS,
) -> Advanced:
    """The digests once a window ending at ``end`` is delivered: what was held, with the digests the
    window ``collected`` (every delivered row of it from ``collected_since`` on), kept from the minute of
    ``end - lookback`` on. Past ``cap`` the newest minutes that fit are kept and ``since`` moves up to
    the oldest of them (to ``end`` when not even the newest fits)."""
    since = max(held.since, floor_minute(end - lookback), collected_since or held.since)
    first = floor_minute(since)
    merged: dict[datetime, bytes] = {m: blob for m, blob in held.minutes.items() if m >= first}
    for minute, blob in collected.items():
        if minute >= first and blob:
            merged[minute] = merged.get(minute, b"") + blob
    total = count_of(merged)
    if total <= cap:
        return Advanced(Digests(since, merged), 0)
    kept: dict[datetime, bytes] = {}
    room = cap * DIGEST_SIZE
    for minute in sorted(merged, reverse=True):
        if len(merged[minute]) > room:
            break
        kept[minute] = merged[minute]
        room -= len(merged[minute])
    since = max(since, min(kept)) if kept else end
    return Advanced(Digests(since, kept), total - count_of(kept))
