"""Who is on which list, as the profiles and getUsers both tell it, in each project type.

getUsers' bodies (``Dataset.list_members``) are the truth; a profile carries the ids of the lists it is
on that are not dynamic (Iterable: "This array does not contain IDs for dynamic lists"; suppression and
internal lists are static lists), so the users export and getUsers agree for every static list. Lists of
a type Iterable's API reference does not name ("Scheduled") are carried too: whether Iterable does is
unknown, and a connector that read them from profiles as well as from getUsers would emit them twice. A
few profiles still name a list that ``GET /api/lists`` no longer lists (deleted since).

``as_project_type`` turns the seeded (email-based) project into a hybrid or userID-based one, for
list_users only: ``userListIds`` instead of ``emailListIds``, an ``itblUserId`` on every profile, users
without email, and getUsers answering userIds when asked to prefer them (``get_users_lines``).
"""

from __future__ import annotations

import hashlib
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


def _itbl_user_id(index: int) -> str:
    return hashlib.sha256(f"itbl:{index}".encode()).hexdigest()[:24]


def as_project_type(dataset: Dataset, project_type: str) -> None:
    """The dataset as a hybrid or userID-based project sees it (in place); email-based is left alone.

    Hybrid: userId and email each unique, at least one; every seventh user with a userId has no email.
    userID-based: every user has a userId, every seventh none of an email, and two users share one
    (email is not unique there)."""
    if project_type not in PROJECT_TYPES:
        raise ValueError(f"unknown project type {project_type!r}")
    dataset.project_type = project_type
    if project_type == "email_based":
        return
    users = dataset.exports["user"]
    by_email: dict[str, dict[str, Any]] = {}  # the seeded email (getUsers' line) -> the profile
    with_user_id = 0
    for index, user in enumerate(users):
        by_email[str(user["email"])] = user
        user["itblUserId"] = _itbl_user_id(index)
        if "emailListIds" in user:
            user["userListIds"] = user.pop("emailListIds")
        if project_type == "userid_based" and not user.get("userId"):
            user["userId"] = f"u-9{index:05d}"
        if user.get("userId"):
            with_user_id += 1
            if with_user_id % 7 == 3:
                del user["email"]
    if project_type == "userid_based":
        listed = [u for u in users if u.get("email") and u.get("userListIds")]
        listed[1]["email"] = listed[0]["email"]  # two users, one email

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
