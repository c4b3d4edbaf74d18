"""Pure: which lists are read how, and the list_users records a users row or a getUsers line gives.

A user profile holds the ids of the **static** lists the user is on: ``emailListIds`` in email-based
projects, ``userListIds`` in hybrid and userID-based ones. Iterable's help center: "This array does not
contain IDs for dynamic lists"; suppression and internal lists are static lists. So one users export
gives the members of every static list, and only the other lists need getUsers (one call a list, 5 a
minute per project). A list type we do not know (the help center names a "Scheduled" kind whose API
form is unknown) goes through getUsers too: slow, but never wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...records import Row

AUTO = "auto"  # list_users_source: static lists from the users export
GET_USERS = "get_users"  # list_users_source: every list through getUsers
# GET /api/lists' listType values that are static lists (compared case-insensitively).
STATIC_LIST_TYPES = ("Standard", "Suppression", "Internal")
_STATIC = frozenset(kind.lower() for kind in STATIC_LIST_TYPES)


@dataclass(frozen=True)
class ListRef:
    id: int
    type: str  # listType as Iterable gave it ("" when absent)


@dataclass(frozen=True)
class ListSplit:
    """The lists of ``GET /api/lists``, by where their members are read from."""

    from_profiles: tuple[ListRef, ...]  # static lists: one users export for all of them
    from_get_users: tuple[ListRef, ...]  # one getUsers call each, in the listing's order
    unusable: int = 0  # entries without a list id we can ask for

    @property
    def total(self) -> int:
        return len(self.from_profiles) + len(self.from_get_users)

    @property
    def static_ids(self) -> frozenset[int]:
        return frozenset(ref.id for ref in self.from_profiles)


def as_list_id(value: Any) -> int | None:
    """A list id as Iterable types it (long); a digit string is read as one, anything else is not."""
    if type(value) is int:  # not a bool
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def split_lists(entries: Iterable[Any], source: str) -> ListSplit:
    """Where each listed list's members come from: ``source`` is config ``list_users_source``."""
    profiles: list[ListRef] = []
    others: list[ListRef] = []
    seen: set[int] = set()
    unusable = 0
    for entry in entries:
        list_id = as_list_id(entry.get("id")) if isinstance(entry, dict) else None
        if list_id is None:
            unusable += 1
            continue
        if list_id in seen:
            continue
        seen.add(list_id)
        kind = entry.get("listType")
        ref = ListRef(list_id, kind if isinstance(kind, str) else "")
        static = isinstance(kind, str) and kind.lower() in _STATIC
        (profiles if source == AUTO and static else others).append(ref)
    return ListSplit(tuple(profiles), tuple(others), unusable)


@dataclass(frozen=True)
class MemberShape:
    """How list_users names a user in a project type (config ``project_type``)."""

    list_field: str  # the profile field holding the user's static list ids
    by_user_id: bool  # hybrid and userID-based: records keyed on userKey, getUsers asked for userIds

    @property
    def only_fields(self) -> tuple[str, ...]:
        """What the users export is asked for: the identity and the list ids, nothing else."""
        return ("userId", "email", self.list_field) if self.by_user_id else ("email", self.list_field)

    def get_users_params(self, list_id: int) -> dict[str, Any]:
        # preferUserId: the userId instead of the email for a user who has both (documented for hybrid
        # projects). What getUsers returns in a userID-based project is UNKNOWN (a userId, probably):
        # each line is taken as the user's key, whichever it is.
        return {"listId": list_id, "preferUserId": "true"} if self.by_user_id else {"listId": list_id}


EMAIL_BASED = MemberShape("emailListIds", by_user_id=False)
BY_USER_ID = MemberShape("userListIds", by_user_id=True)


def member_shape(project_type: str) -> MemberShape:
    return EMAIL_BASED if project_type == "email_based" else BY_USER_ID


def list_ids(value: Any) -> list[int]:
    """A profile's list-ids field as distinct list ids, in order. The field is optional (absent on a
    profile never put on a list), ``[]`` when on none; a lone id or a digit string is read too."""
    if value is None:
        return []
    found: list[int] = []
    for item in value if isinstance(value, list) else [value]:
        list_id = as_list_id(item)
        if list_id is not None and list_id not in found:
            found.append(list_id)
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def profile_identity(row: Row, shape: MemberShape) -> Row | None:
    """The user's part of each of their records, from a users row; None when it names no one."""
    email = _text(row.get("email"))
    if not shape.by_user_id:
        return None if email is None else {"email": email}
    user_id = _text(row.get("userId"))
    key = user_id or email
    return None if key is None else {"userKey": key, "userId": user_id, "email": email}


def line_identity(line: str, shape: MemberShape) -> Row:
    """The user's part of a record from a getUsers line: there, only the key is known for sure."""
    return {"userKey": line, "userId": None, "email": None} if shape.by_user_id else {"email": line}


def memberships(who: Row, ids: Iterable[int], updated_at: str) -> list[Row]:
    """One record per list: ``who`` (an identity above), the list id, the sync's start."""
    return [{**who, "listId": list_id, "updatedAt": updated_at} for list_id in ids]


@dataclass
class ProfileCounts:
    """What a users export held, for the messages after it (rows of a retried download count again)."""

    rows: int = 0
    with_field: int = 0  # rows that carried the list-ids field at all
    without_identity: int = 0  # rows on a static list that named no user (no email / userId)


def profile_records(
    rows: Iterable[Row], shape: MemberShape, static: frozenset[int], updated_at: str, counts: ProfileCounts
) -> list[Row]:
    """The list_users records of a block of users rows: one per (user, static list), each list once.

    A list id ``static`` does not hold (a dynamic list, a list deleted since, one of another type)
    gives nothing: only the lists ``GET /api/lists`` calls static are read from profiles."""
    out: list[Row] = []
    field = shape.list_field
    for row in rows:
        counts.rows += 1
        value = row.get(field)
        if value is None:
            if field in row:
                counts.with_field += 1
            continue
        counts.with_field += 1
        ids = [list_id for list_id in list_ids(value) if list_id in static]
        if not ids:
            continue
        who = profile_identity(row, shape)
        if who is None:
            counts.without_identity += 1
            continue
        out += memberships(who, ids, updated_at)
    return out
