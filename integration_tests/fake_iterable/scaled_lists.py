"""Thousands of lists and hundreds of thousands of users, generated cheaply (``bench/list_users_scale.py``).

``ScaledLists(users, lists, dynamic, seed)``: ``lists`` lists (``dynamic`` of them Dynamic, one
Suppression, one Internal, the rest Standard) whose sizes follow a long tail (a few lists of thousands of
members, most of tens), and ``users`` profiles on 0 to 6 static lists each. Only the memberships are
stored, as two flat integer arrays (a few bytes each); profiles are generated when an export asks for
them, in a scrambled order, and a getUsers body comes in a new random order every call (Iterable's
order is not deterministic). The profiles carry the static lists they are on and never a dynamic one,
so the users export and getUsers agree on every static list.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from array import array
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from .people import DOMAINS, FIRST, LAST, RANGE_END, RANGE_START
from .timefmt import export_ts

FIRST_LIST_ID = 4_000_000
BATCH = 256
_SPAN = RANGE_END - RANGE_START
# Lists a user is on, and how often: about 1.7 on average, a quarter on none.
_ON_LISTS = (0, 1, 2, 3, 4, 6)
_ON_LISTS_WEIGHTS = (25, 30, 20, 12, 8, 5)
_PRIMES = (1_000_003, 998_244_353, 1_000_000_007)


def email_of(user: int) -> str:
    return f"{FIRST[user % len(FIRST)]}.{LAST[user // len(FIRST) % len(LAST)]}{user}@{DOMAINS[user % len(DOMAINS)]}"


class ScaledLists:
    def __init__(self, users: int, lists: int, dynamic: int, seed: int = 7) -> None:
        if users < 1 or lists < dynamic + 2 or dynamic < 0:
            raise ValueError("need at least one user and room for a Suppression and an Internal list")
        rng = random.Random(f"{seed}:scaled-lists")
        self.users = users
        ids = [FIRST_LIST_ID + n for n in range(lists)]
        dynamic_ids = set(rng.sample(ids, dynamic))
        static = [list_id for list_id in ids if list_id not in dynamic_ids]
        kinds = {list_id: "Dynamic" for list_id in dynamic_ids}
        kinds[static[0]], kinds[static[1]] = "Suppression", "Internal"
        self.lists: list[dict[str, Any]] = [
            {
                "id": list_id,
                "name": f"Segment {n + 1}",
                "createdAt": 1_672_531_200_000 + n * 3_600_000,
                "listType": kinds.get(list_id, "Standard"),
            }
            for n, list_id in enumerate(ids)
        ]
        # A long tail over the static lists, in a random order: list sizes do not follow their ids.
        order = list(static)
        rng.shuffle(order)
        cumulative = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(order))))
        total = cumulative[-1]
        self._offsets = array("q", [0])
        self._ids = array("q")
        for _ in range(users):
            [count] = rng.choices(_ON_LISTS, _ON_LISTS_WEIGHTS)
            chosen = {order[bisect.bisect(cumulative, rng.random() * total)] for _ in range(count)}
            self._ids.extend(sorted(chosen))
            self._offsets.append(len(self._ids))
        self._dynamic = {
            list_id: array("q", rng.sample(range(users), rng.randint(min(users, 200), max(200, users // 20))))
            for list_id in sorted(dynamic_ids)
        }
        self._by_list: dict[int, array[int]] | None = None
        self._lock = threading.Lock()
        self.members: Mapping[int, list[str]] = _Members(self)

    @property
    def memberships(self) -> int:
        return len(self._ids)

    def lists_of(self, user: int) -> list[int]:
        return list(self._ids[self._offsets[user] : self._offsets[user + 1]])

    def member_indices(self, list_id: int) -> array[int] | None:
        if list_id in self._dynamic:
            return self._dynamic[list_id]
        with self._lock:
            if self._by_list is None:
                by_list: dict[int, array[int]] = {entry["id"]: array("q") for entry in self.lists}
                for user in range(self.users):
                    for found in self._ids[self._offsets[user] : self._offsets[user + 1]]:
                        by_list[found].append(user)
                self._by_list = by_list
        return self._by_list.get(list_id)

    def profile(self, user: int) -> dict[str, Any]:
        updated = RANGE_START + (user * 7919) % _SPAN
        row: dict[str, Any] = {
            "email": email_of(user),
            "userId": f"u-{user}",
            "signupDate": export_ts(updated - (user % 900) * 86_400),
            "profileUpdatedAt": export_ts(updated),
        }
        lists = self.lists_of(user)
        if lists or user % 9 != 4:  # optional: absent on some profiles never put on a list
            row["emailListIds"] = lists
        row["firstName"] = FIRST[user % len(FIRST)].title()
        return row

    def users_window(self, start: float | None, end: float | None) -> tuple[int, Iterator[list[bytes]]]:
        """Profiles updated in [start, end) (None: unbounded), as the export serves them."""
        low = float("-inf") if start is None else start
        high = float("inf") if end is None else end
        size = self.users
        step = next(p for p in _PRIMES if size % p)  # coprime: a permutation of every user
        order = ((k * step) % size for k in range(size))
        if start is None and end is None:
            return size, self._batches(order)
        chosen = [u for u in order if low <= RANGE_START + (u * 7919) % _SPAN < high]
        return len(chosen), self._batches(iter(chosen))

    def _batches(self, users: Iterator[int]) -> Iterator[list[bytes]]:
        while block := list(itertools.islice(users, BATCH)):
            yield [orjson.dumps(self.profile(user)) + b"\n" for user in block]


class _Members(Mapping[int, list[str]]):
    """getUsers' body lines per list id, built on request in a new random order each time."""

    def __init__(self, owner: ScaledLists) -> None:
        self._owner = owner
        self._ids = [entry["id"] for entry in owner.lists]

    def __getitem__(self, list_id: int) -> list[str]:
        found = self._owner.member_indices(list_id)
        if found is None:
            raise KeyError(list_id)
        users = list(found)
        random.shuffle(users)
        return [email_of(user) for user in users]

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)
