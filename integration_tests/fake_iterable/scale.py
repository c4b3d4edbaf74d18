"""A bigger, recent project for the wall-time benchmarks: more lists, and events in the last N months.

The seeded dataset holds six months of 2024. A sync benchmark reads "the last 90 days" or "the last 12
months" up to now, so ``recent_exports`` lays the seeded rows (their shapes and density) end to end
over the months before ``now``, shifting only their timestamps; ``more_lists`` adds lists whose members
are the seeded people (and whose ids their profiles carry). Both are deterministic for a given ``now`` (second precision).
"""

from __future__ import annotations

import calendar
import random
import time
from typing import TYPE_CHECKING, Any

from .membership import add_lists
from .people import RANGE_END, RANGE_START
from .timefmt import export_ts, parse_datetime

if TYPE_CHECKING:
    from .data import Dataset

SEED_SPAN = RANGE_END - RANGE_START  # seconds covered by the seeded rows
MONTH = 30 * 86_400
# Timestamps that move with the event (users move on their profile update time).
MOVED = {
    "user": (
        "profileUpdatedAt",
        "signupDate",
        "itblInternal.documentCreatedAt",
        "itblInternal.documentUpdatedAt",
    )
}
DEFAULT_MOVED = ("createdAt", "profileUpdatedAt")


def recent_exports(
    exports: dict[str, list[dict[str, Any]]], months: int, now: float
) -> dict[str, list[dict[str, Any]]]:
    """Every export type's rows repeated over the ``months`` before ``now`` (the seed's density)."""
    start = now - months * MONTH
    out: dict[str, list[dict[str, Any]]] = {}
    for data_type, rows in exports.items():
        fields = MOVED.get(data_type, DEFAULT_MOVED)
        cursor = fields[0]
        moved: list[dict[str, Any]] = []
        block = 0
        while start + block * SEED_SPAN < now:
            offset = start + block * SEED_SPAN - RANGE_START
            for row in rows:
                stamp = parse_datetime(str(row.get(cursor, "")))
                if stamp is None or not start <= stamp + offset < now:
                    continue
                copy = dict(row)
                for name in fields:
                    value = parse_datetime(str(copy[name])) if isinstance(copy.get(name), str) else None
                    if value is not None:
                        copy[name] = export_ts(int(value + offset))
                moved.append(copy)
            block += 1
        out[data_type] = moved
    return out


def more_lists(dataset: Dataset, count: int, seed: int) -> None:
    """``count`` extra Standard lists of 20-200 members each, drawn from the people already on lists, and
    carried by their members' profiles as every static list is (in place)."""
    rng = random.Random(f"{seed}:more-lists")
    people = sorted({m for lines in dataset.list_members.values() for m in lines if m})
    created = calendar.timegm((2023, 1, 1, 0, 0, 0, 0, 0, 0)) * 1000
    lists, members = list(dataset.lists), dict(dataset.list_members)
    added: dict[int, list[str]] = {}
    for n in range(count):
        list_id = 3_400_000 + n
        lists.append(
            {
                "id": list_id,
                "name": f"Segment {n + 1}",
                "createdAt": created + n * 86_400_000,
                "listType": "Standard",
            }
        )
        members[list_id] = added[list_id] = rng.sample(people, min(len(people), rng.randint(20, 200)))
    dataset.lists, dataset.list_members = lists, members
    add_lists(dataset.exports["user"], added)


def now_seconds() -> float:
    return float(int(time.time()))
