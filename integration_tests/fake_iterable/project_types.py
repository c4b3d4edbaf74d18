"""Hybrid and userID-based projects: the seeded (email-based) dataset as such a project would hold it.

What changes, after Iterable's help center ("Project Types and Unique Identifiers", "User Profile Fields
Used by Iterable"; ../shared/iterable-api-more.md section 4):
- every user has ``itblUserId``, Iterable's internal id in these two types (its form is not documented:
  24 hex digits here, INVENTED);
- a user's static lists are in ``userListIds``, not ``emailListIds``;
- userID-based: every user has a ``userId``, and some have no email; hybrid: a user has an email, a
  userId or both, and some have only the userId;
- the events of a user without an email carry ``userId`` and ``itblUserId`` instead (events without
  ``email``: INFERRED from a peer's fix for them, section 4);
- userID-based: two users share one email (email is not unique there);
- getUsers answers each member's userId when asked to prefer it, else the email (``membership.py``).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .data import Dataset
from .membership import answer_as_project_type

PROJECT_TYPES = ("email_based", "hybrid", "userid_based")
# Users left without an email, per project type.
WITHOUT_EMAIL = {"hybrid": 0.1, "userid_based": 0.2}


def itbl_user_id(seed: int, identity: str) -> str:
    return hashlib.sha256(f"{seed}:itbl:{identity}".encode()).hexdigest()[:24]


def with_project_type(dataset: Dataset, project_type: str) -> Dataset:
    """The dataset reshaped for ``project_type`` (in place; the email-based dataset is returned as is)."""
    if project_type not in PROJECT_TYPES:
        raise ValueError(f"unknown project type {project_type!r}; expected one of {', '.join(PROJECT_TYPES)}")
    dataset.project_type = project_type
    if project_type == "email_based":
        return dataset
    rng = random.Random(f"{dataset.seed}:project-type:{project_type}")
    identities: dict[str, dict[str, Any]] = {}  # email -> what the user's events carry instead
    by_email: dict[str, dict[str, Any]] = {}  # the seeded email (getUsers' lines) -> the profile
    users: list[dict[str, object]] = []
    for index, user in enumerate(dataset.exports["user"]):
        user = dict(user)
        email = str(user["email"])
        if "userId" not in user and project_type == "userid_based":
            user["userId"] = f"u-{900000 + index}"
        user["itblUserId"] = itbl_user_id(dataset.seed, email)
        user["userListIds"] = user.pop("emailListIds", [])
        identity: dict[str, Any] = {"itblUserId": user["itblUserId"]}
        if "userId" in user:
            identity["userId"] = user["userId"]
            if rng.random() < WITHOUT_EMAIL[project_type]:
                del user["email"]
                user.pop("itblInternal.emailDomain", None)
                identity["email"] = None  # the events lose it too
        identities[email] = identity
        by_email[email] = user
        users.append(user)
    if project_type == "userid_based":
        listed = [u for u in users if u.get("email") and u.get("userListIds")]
        listed[1]["email"] = listed[0]["email"]  # two users, one email
    dataset.exports["user"] = users
    answer_as_project_type(dataset, by_email)
    for data_type, rows in dataset.exports.items():
        if data_type != "user":
            dataset.exports[data_type] = [_event(row, identities) for row in rows]
    return dataset


def _event(row: dict[str, object], identities: dict[str, dict[str, Any]]) -> dict[str, object]:
    identity = identities.get(str(row.get("email")))
    if identity is None:
        return row  # an address that is not a profile of the project
    out = dict(row)
    if "email" in identity:
        del out["email"]
        out.update({k: v for k, v in identity.items() if k != "email"})
    elif "userId" in identity and "userId" not in out:
        out["userId"] = identity["userId"]
    return out
