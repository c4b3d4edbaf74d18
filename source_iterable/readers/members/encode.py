"""Record lines of their own size: list_users' records are small (60-150 bytes) and many to a block
(a 1 MB block of getUsers lines is some 40,000 members), and ``orjson.dumps`` returns each result in a
buffer of at least 4 KB (orjson 3.13: 100,000 results of a 60-byte record hold 390 MB). A block's lines
are encoded a slice at a time and each copied to its own size, so a block costs what its records weigh."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from ...records import RecordShaper, Row

SLICE = 256  # records encoded at once: at most 1 MB of orjson's buffers alive


def record_lines(shaper: RecordShaper, records: Iterable[Row]) -> list[bytes]:
    out: list[bytes] = []
    pending = iter(records)
    while block := list(islice(pending, SLICE)):
        out += [b"%b" % line for line in shaper.lines(block)]  # a copy of exactly the line's size
    return out
