"""``readers/members/derive.py`` (pure): which lists are read from the users export and which through
getUsers, and the list_users records of a users row or a getUsers line, per project type."""

from __future__ import annotations

from typing import Any

import pytest

from source_iterable.readers.members.derive import (
    AUTO,
    BY_USER_ID,
    EMAIL_BASED,
    GET_USERS,
    ListRef,
    ProfileCounts,
    line_identity,
    list_ids,
    member_shape,
    profile_records,
    split_lists,
)

STARTED = "2024-03-10T12:00:00Z"
# GET /api/lists as Iterable lists it: the four documented types, one the API reference does not name.
LISTS: list[Any] = [
    {"id": 3301122, "name": "Newsletter subscribers", "createdAt": 1617891908857, "listType": "Standard"},
    {"id": 3301150, "name": "Active last 30d", "createdAt": 1651234567890, "listType": "Dynamic"},
    {"id": 3301199, "name": "Do not mail", "createdAt": 1600000000000, "listType": "Suppression"},
    {"id": 3301177, "name": "Seed list", "createdAt": 1600000000000, "listType": "Internal"},
    {"id": 3301188, "name": "Catalog buyers", "createdAt": 1700000000000, "listType": "Scheduled"},
    {"id": 3301123, "name": "VIP customers", "createdAt": 1640995200000, "listType": "Standard"},
]
STATIC = frozenset({3301122, 3301199, 3301177, 3301123})


# ------------------------------------------------------------------ which list goes where


def test_static_lists_come_from_the_profiles_and_every_other_list_from_get_users() -> None:
    # when the lists are split for the default source
    split = split_lists(LISTS, AUTO)

    # then Standard, Suppression and Internal lists are read from the users export; Dynamic and a type we
    # do not know go through getUsers, in the listing's order
    assert split.from_profiles == (
        ListRef(3301122, "Standard"),
        ListRef(3301199, "Suppression"),
        ListRef(3301177, "Internal"),
        ListRef(3301123, "Standard"),
    )
    assert split.from_get_users == (ListRef(3301150, "Dynamic"), ListRef(3301188, "Scheduled"))
    assert split.static_ids == STATIC and split.total == 6 and split.unusable == 0


def test_with_get_users_as_the_source_every_list_goes_through_get_users() -> None:
    split = split_lists(LISTS, GET_USERS)

    assert split.from_profiles == ()
    assert [ref.id for ref in split.from_get_users] == [entry["id"] for entry in LISTS]


def test_list_types_are_compared_without_case_and_a_list_without_a_type_is_not_taken_for_static() -> None:
    entries = [
        {"id": 1, "listType": "STANDARD"},
        {"id": 2, "listType": "suppression"},
        {"id": 3},
        {"id": 4, "listType": None},
    ]

    split = split_lists(entries, AUTO)

    assert [ref.id for ref in split.from_profiles] == [1, 2]
    assert split.from_get_users == (ListRef(3, ""), ListRef(4, ""))


def test_a_list_listed_twice_is_read_once_and_entries_without_an_id_are_counted_and_skipped() -> None:
    entries: list[Any] = [
        {"id": 7, "listType": "Standard"},
        {"id": "7", "listType": "Standard"},
        {"id": None, "listType": "Dynamic"},
        {"id": True, "listType": "Dynamic"},
        {"name": "no id"},
        "not an object",
        {"id": "8", "listType": "Dynamic"},
    ]

    split = split_lists(entries, AUTO)

    assert split.from_profiles == (ListRef(7, "Standard"),)
    assert split.from_get_users == (ListRef(8, "Dynamic"),)
    assert split.unusable == 4


# ------------------------------------------------------------------ a profile's list ids


@pytest.mark.parametrize(
    "value,ids",
    [
        pytest.param([3301122, 3301123], [3301122, 3301123], id="ids"),
        pytest.param([3301123, 3301122, 3301123], [3301123, 3301122], id="repeated-once-each"),
        pytest.param([], [], id="on-no-list"),
        pytest.param(None, [], id="null"),
        pytest.param(3301122, [3301122], id="a-lone-id"),
        pytest.param(["3301122", "x", True, 2.5, {"id": 1}], [3301122], id="strings-and-junk"),
    ],
)
def test_a_profiles_list_ids_are_read_defensively(value: Any, ids: list[int]) -> None:
    assert list_ids(value) == ids


# ------------------------------------------------------------------ records from profiles


def records(rows: list[dict[str, Any]], project_type: str = "email_based") -> tuple[list[Any], ProfileCounts]:
    counts = ProfileCounts()
    return profile_records(rows, member_shape(project_type), STATIC, STARTED, counts), counts


def test_an_email_based_profile_gives_one_record_per_static_list_it_is_on() -> None:
    # given profiles as the users export gives them with onlyFields (email, emailListIds)
    rows = [
        {"email": "ana.silva@example.com", "emailListIds": [3301122, 3301199, 3301122]},
        {
            "email": "bo.li@example.org",
            "emailListIds": [3301123],
            "profileUpdatedAt": "2024-01-01 00:00:00 +00:00",
        },
    ]

    # when
    found, counts = records(rows)

    # then each membership once, in the seed's shape and key order
    assert found == [
        {"email": "ana.silva@example.com", "listId": 3301122, "updatedAt": STARTED},
        {"email": "ana.silva@example.com", "listId": 3301199, "updatedAt": STARTED},
        {"email": "bo.li@example.org", "listId": 3301123, "updatedAt": STARTED},
    ]
    assert [list(record) for record in found] == [["email", "listId", "updatedAt"]] * 3
    assert (counts.rows, counts.with_field, counts.without_identity) == (2, 2, 0)


def test_dynamic_lists_lists_deleted_since_and_lists_of_unknown_type_give_nothing_from_a_profile() -> None:
    # given a profile naming a dynamic list (Iterable does not, but a profile is not ours to trust), a
    # list GET /api/lists no longer lists, and a list of a type read through getUsers
    rows = [{"email": "cara@example.net", "emailListIds": [3301150, 9999999, 3301188, 3301177]}]

    found, _ = records(rows)

    assert found == [{"email": "cara@example.net", "listId": 3301177, "updatedAt": STARTED}]


def test_users_on_no_list_and_profiles_without_the_field_give_nothing_and_are_counted_apart() -> None:
    rows: list[dict[str, Any]] = [
        {"email": "on.none@example.com", "emailListIds": []},
        {"email": "never.listed@example.com"},
        {"email": "null.field@example.com", "emailListIds": None},
    ]

    found, counts = records(rows)

    assert found == []
    assert (counts.rows, counts.with_field) == (3, 2)


def test_an_email_based_profile_without_an_email_is_counted_not_emitted() -> None:
    rows: list[dict[str, Any]] = [{"emailListIds": [3301122]}, {"email": "  ", "emailListIds": [3301122]}]

    found, counts = records(rows)

    assert found == [] and counts.without_identity == 2


def test_the_list_field_of_email_based_projects_is_not_read_in_user_id_projects_nor_the_reverse() -> None:
    row = {"email": "dana@example.com", "userId": "u-1", "emailListIds": [3301122], "userListIds": [3301123]}

    email_based, _ = records([row], "email_based")
    hybrid, _ = records([row], "hybrid")

    assert [r["listId"] for r in email_based] == [3301122]
    assert [r["listId"] for r in hybrid] == [3301123]


@pytest.mark.parametrize("project_type", ["hybrid", "userid_based"])
def test_in_user_id_projects_the_key_is_the_user_id_or_the_email_of_a_user_without_one(
    project_type: str,
) -> None:
    # given a user with both, an email-only user (hybrid allows them) and a userId-only user
    rows = [
        {"email": "eli@example.com", "userId": "u-100", "itblUserId": "a1b2", "userListIds": [3301122]},
        {"email": "fatima@example.org", "userListIds": [3301122]},
        {"userId": "u-200", "userListIds": [3301199]},
        {"userId": "", "email": "", "userListIds": [3301199]},
    ]

    found, counts = records(rows, project_type)

    assert found == [
        {
            "userKey": "u-100",
            "userId": "u-100",
            "email": "eli@example.com",
            "listId": 3301122,
            "updatedAt": STARTED,
        },
        {
            "userKey": "fatima@example.org",
            "userId": None,
            "email": "fatima@example.org",
            "listId": 3301122,
            "updatedAt": STARTED,
        },
        {"userKey": "u-200", "userId": "u-200", "email": None, "listId": 3301199, "updatedAt": STARTED},
    ]
    assert all(record["userKey"] for record in found)  # the primary key is never null
    assert counts.without_identity == 1


# ------------------------------------------------------------------ getUsers and the export query


def test_a_get_users_line_names_the_user_by_email_or_only_by_key() -> None:
    assert line_identity("ana.silva@example.com", EMAIL_BASED) == {"email": "ana.silva@example.com"}
    # with preferUserId a line is the userId, or the email of a user without one: only the key is sure
    assert line_identity("u-100", BY_USER_ID) == {"userKey": "u-100", "userId": None, "email": None}


def test_what_each_project_type_asks_the_export_and_get_users_for() -> None:
    assert member_shape("email_based") is EMAIL_BASED
    assert member_shape("hybrid") is BY_USER_ID and member_shape("userid_based") is BY_USER_ID
    assert EMAIL_BASED.only_fields == ("email", "emailListIds")
    assert BY_USER_ID.only_fields == ("userId", "email", "userListIds")
    assert EMAIL_BASED.get_users_params(7) == {"listId": 7}
    assert BY_USER_ID.get_users_params(7) == {"listId": 7, "preferUserId": "true"}
