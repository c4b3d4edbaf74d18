"""Who is on which list, as the profiles and getUsers both tell it, in each project type.

getUsers' bodies (``Dataset.list_members``) are the truth; a profile carries the ids of the lists it is
on that are not dynamic (Iterable: "This array does not contain IDs for dynamic lists"; suppression and
internal lists are static lists), so the users export and getUsers agree for every static list. Lists of
a type Iterable's API reference does not name ("Scheduled") are carried too: whether Iterable does is
unknown, and a connector that read them from profiles as well as from getUsers would emit them twice. A
few profiles still name a list that ``GET /api/lists`` no longer lists (deleted since).

In a hybrid or userID-based project (``project_types.py`` reshapes the profiles), getUsers answers userIds
when asked to prefer them, else emails (``answer_as_project_type``, ``get_users_lines``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import Dataset

DELETED_LIST = 3301100  # listed by no GET /api/lists: a list deleted since some profiles joined it
PROJECT_TYPES = ("email_based", "hybrid", "userid_based")


def profile_lists(
    lists: Iterable[Mapping[str, Any]], members: Mapping[int, list[str]]
) -> dict[str, list[int]]:
    """Each member's list ids as its profile holds them: every list but the dynamic ones, in numerical
    order (the order Fivetran's models rely on)."""
    carried = {int(entry["id"]) for entry in lists if entry.get("listType") != "Dynamic"}
    found: dict[str, set[int]] = {}
    for list_id, lines in members.items():
        if list_id in carried:
            for line in lines:
                if line.strip():
                    found.setdefault(line.strip(), set()).add(list_id)
    return {email: sorted(ids) for email, ids in found.items()}


def add_deleted_list(memberships: dict[str, list[int]], emails: list[str]) -> None:
    for email in emails:
        memberships[email] = sorted({*memberships.get(email, []), DELETED_LIST})


def add_lists(
    users: list[dict[str, Any]], members: Mapping[int, list[str]], field: str = "emailListIds"
) -> None:
    """Put each list of ``members`` (static lists) into the profiles of its members."""
    on: dict[str, set[int]] = {}
    for list_id, lines in members.items():
        for line in lines:
            if line:
                on.setdefault(line, set()).add(list_id)
    for user in users:
        added = on.get(str(user.get("email")))
        if added:
            current = user.get(field)
            user[field] = sorted({*(current if isinstance(current, list) else []), *added})


def answer_as_project_type(dataset: Dataset, by_email: Mapping[str, Mapping[str, Any]]) -> None:
    """getUsers' bodies in a hybrid or userID-based project (``project_types.with_project_type``): each
    seeded member line (an email) becomes what Iterable would answer for that profile."""

    def line(seeded: str, prefer_user_id: bool) -> str:
        user = by_email.get(seeded)
        if user is None:
            return seeded  # a blank line of the body
        # Without preferUserId getUsers answers emails; for a user without one it is UNKNOWN: a userId here.
        first, second = ("userId", "email") if prefer_user_id else ("email", "userId")
        return str(user.get(first) or user[second])

    members = dataset.list_members
    dataset.list_members_default = {lid: [line(x, False) for x in lines] for lid, lines in members.items()}
    dataset.list_members = {lid: [line(x, True) for x in lines] for lid, lines in members.items()}


def get_users_lines(dataset: Dataset, list_id: int, prefer_user_id: bool) -> list[str] | None:
    """getUsers' body lines for a list (None: no such list)."""
    if dataset.project_type != "email_based" and not prefer_user_id:
        return dataset.list_members_default.get(list_id)
    return dataset.list_members.get(list_id)
