"""One export window's rows, with the lookback's two jobs done on the way to the stream's converter: rows of
the re-read span already delivered are left out, and the digests of the window's tail span are collected
for the state.

A window ``[start, end)`` collects the digest of every row it delivers with a cursor at or after
``floor_minute(end - lookback)`` (its tail span). The stream's first window of a sync may start before
the bookmark (the re-read span): a row there whose digest the state holds is not delivered again, as
many times as the state holds it. Every other row pays one string comparison of its raw cursor (the
export writes ``YYYY-MM-DD HH:MM:SS +00:00``), so the record path keeps its speed; the rows that remain
go to the stream's own converter (``records.RecordShaper`` and whatever a run adds to it).

A window is read in attempts (a data.json body, a piece of a split window, an export job's file), and an
attempt may be thrown away (a body cut mid-stream, a failed job's files): what an attempt skipped and
collected counts only while its record file is kept, so a row read twice is judged once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from operator import itemgetter
from typing import Any

import orjson
import requests

from ..api.spool import Progress, RecordFile, spool_records
from ..records import BlockConvert, Row
from .digests import (
    DIGEST_SIZE,
    MAX_DIGESTS,
    ONE_MINUTE,
    ceil_second,
    count_of,
    cursor_moment,
    floor_minute,
    row_digest,
)

Spool = Callable[[requests.Response], RecordFile]
_EXPORT_FORM_LENGTH = {len("2024-03-06 15:46:40 +00:00")}
_EXPORT_FORM_END = " +00:00\n"


@dataclass
class WindowTail:
    """What a window's filter learned from the files it kept."""

    since: datetime  # every row the window delivered with a cursor at or after this has its digest here
    minutes: dict[datetime, bytes]
    rows: int = 0  # rows read, delivered or not (what the window held, for sizing the next one)
    skipped: int = 0  # rows of the re-read span delivered by an earlier sync
    late: int = 0  # rows of the re-read span delivered now (not visible to the earlier sync)
    dropped: int = 0  # digests left out while collecting, to stay within the cap


@dataclass
class _Attempt:
    file: RecordFile | None = None
    rows: int = 0
    skipped: int = 0
    late: int = 0
    taken: Counter[bytes] = field(default_factory=Counter)
    collected: dict[datetime, bytearray] = field(default_factory=dict)
    count: int = 0
    since: datetime | None = None  # raised when the collection outgrew the cap
    dropped: int = 0


def export_form(moment: datetime) -> str:
    """A moment as the export writes cursor values: ``2024-03-06 15:46:40 +00:00``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +00:00")


class WindowFilter:
    """A block converter (``records.BlockConvert``) for one window, in front of the stream's own
    ``convert``; ``transform`` makes the record a digest is taken of. Read bodies through ``spool``."""

    def __init__(
        self,
        convert: BlockConvert,
        transform: Callable[[Row], Any],
        cursor: str,
        tail_from: datetime,
        bookmark: datetime | None = None,
        known: Mapping[bytes, int] | None = None,
        cap: int = MAX_DIGESTS,
    ) -> None:
        self._convert, self._transform = convert, transform
        self._cursor = cursor
        self._tail_from = floor_minute(tail_from)
        self._bookmark = ceil_second(bookmark) if bookmark is not None else None
        # Raw cursor values in the export's form are compared as strings: the rows between the two
        # bounds pay nothing more.
        self._low = export_form(self._bookmark) if self._bookmark is not None else ""
        self._high = export_form(self._tail_from)
        self._get_cursor = itemgetter(cursor)
        self._known = dict(known or {})
        self._cap = cap
        self._attempts: list[_Attempt] = []
        self._attempt: _Attempt | None = None
        self._taken: Counter[bytes] = Counter()

    # ------------------------------------------------------------------ attempts

    def spool(
        self, response: requests.Response, progress: Progress | None = None, stream: str | None = None
    ) -> RecordFile:
        """``spool_records`` with this filter, as one attempt that counts while its file is kept."""
        # Attempts whose files were thrown away since (closed) no longer count.
        self._attempts = [a for a in self._attempts if a.file is not None and not a.file.handle.closed]
        self._taken = Counter()
        for kept in self._attempts:
            self._taken.update(kept.taken)
        attempt = self._attempt = _Attempt()
        try:
            file = spool_records(response, convert=self, progress=progress, stream=stream)
        finally:
            self._attempt = None
        attempt.file = file
        self._attempts.append(attempt)
        return file

    def result(self, files: Sequence[RecordFile]) -> WindowTail:
        """What the attempts whose files are in ``files`` (the window as delivered) learned."""
        kept = [a for a in self._attempts if any(a.file is f for f in files)]
        since = max([self._tail_from, *(a.since for a in kept if a.since is not None)])
        minutes: dict[datetime, bytearray] = {}
        for attempt in kept:
            for minute, blob in attempt.collected.items():
                if minute >= since:
                    minutes.setdefault(minute, bytearray()).extend(blob)
        return WindowTail(
            since,
            {minute: bytes(blob) for minute, blob in minutes.items()},
            rows=sum(a.rows for a in kept),
            skipped=sum(a.skipped for a in kept),
            late=sum(a.late for a in kept),
            dropped=sum(a.dropped for a in kept),
        )

    # ------------------------------------------------------------------ rows

    def __call__(self, rows: list[Row]) -> list[bytes]:
        attempt = self._attempt
        if attempt is None:
            raise RuntimeError("a WindowFilter converts rows only inside spool()")
        attempt.rows += len(rows)
        if self._all_between(rows):
            return self._convert(rows)
        low, high, cursor = self._low, self._high, self._cursor
        kept: list[Row] | None = None  # a copy only once a row is left out
        for at, row in enumerate(rows):
            value = row.get(cursor)
            if not (
                value.__class__ is str
                and len(value) == 26
                and low <= value < high
                and value.endswith(" +00:00")
            ) and self._leave_out(row, value, attempt):
                if kept is None:
                    kept = rows[:at]
                continue
            if kept is not None:
                kept.append(row)
        return self._convert(rows if kept is None else kept)

    def _all_between(self, rows: list[Row]) -> bool:
        """True when every row's cursor is in the export's UTC form and between the two spans, told by
        calls that loop in C (a block of a window's middle costs no Python step per row)."""
        try:
            values = list(map(self._get_cursor, rows))
            return (
                self._low <= min(values)
                and max(values) < self._high
                and set(map(len, values)) == _EXPORT_FORM_LENGTH
                and ("\n".join(values) + "\n").count(_EXPORT_FORM_END) == len(values)
            )
        except (KeyError, TypeError, ValueError):  # a row without the cursor, a value not a string, no row
            return False

    def _leave_out(self, row: Row, value: Any, attempt: _Attempt) -> bool:
        """A row outside the plain middle of the window: True when it was delivered before."""
        moment = cursor_moment(value)
        if moment is None:
            # Iterable selects rows by this field: a row without a readable one cannot be placed in
            # either span, so it is delivered as read and not remembered.
            return False
        in_reread = self._bookmark is not None and moment < self._bookmark
        in_tail = moment >= self._tail_from and (attempt.since is None or moment >= attempt.since)
        if not (in_reread or in_tail):
            return False
        # The record as the transform makes it (on a copy: the stream's converter transforms the row).
        digest = row_digest(self._transform(orjson.loads(orjson.dumps(row))))
        if in_reread and self._taken[digest] < self._known.get(digest, 0):
            self._taken[digest] += 1
            attempt.taken[digest] += 1
            attempt.skipped += 1
            return True
        if in_reread:
            attempt.late += 1
        if in_tail:
            attempt.collected.setdefault(floor_minute(moment), bytearray()).extend(digest)
            attempt.count += 1
            if attempt.count > 2 * self._cap:
                self._trim(attempt)
        return False

    def _trim(self, attempt: _Attempt) -> None:
        """Keep the newest minutes that fit the cap: memory stays bounded however dense the tail."""
        room = self._cap * DIGEST_SIZE
        kept: dict[datetime, bytearray] = {}
        for minute in sorted(attempt.collected, reverse=True):
            if len(attempt.collected[minute]) > room:
                break
            kept[minute] = attempt.collected[minute]
            room -= len(kept[minute])
        # Not even the newest minute fits: collect from the minute after it on.
        oldest = min(kept) if kept else max(attempt.collected) + ONE_MINUTE
        dropped = attempt.count - count_of(kept)
        attempt.collected, attempt.count, attempt.dropped = kept, count_of(kept), attempt.dropped + dropped
        attempt.since = max(oldest, attempt.since) if attempt.since is not None else oldest


def spooler(convert: BlockConvert, progress: Progress | None, stream: str | None) -> Spool:
    """How a body becomes a record file: through the window's filter when it has one."""
    if isinstance(convert, WindowFilter):
        return partial(convert.spool, progress=progress, stream=stream)
    return partial(spool_records, convert=convert, progress=progress, stream=stream)
