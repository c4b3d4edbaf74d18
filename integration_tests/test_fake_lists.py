"""The fake's lists and list members, over real HTTP: its profiles carry exactly the static lists getUsers
lists and never a dynamic one, the users export honours ``range=All`` and ``onlyFields`` on both export
paths, and the project-type and scaled modes keep the same rules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.membership import DELETED_LIST

KEY = "test-key"
EXPORT = "/api/export/data.json"
STATIC = ("Standard", "Suppression", "Internal")
FAST = {"export_rpm": 6000, "getusers_rpm": 6000, "job_queue_seconds": 0.02, "job_base_latency": 0.05}
FAST_JOBS = {**FAST, "job_row_seconds": 0.0, "job_file_bytes": 4096, "export_job_rps": 200.0}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIterable]:
    with FakeIterable(api_keys=[KEY], **FAST_JOBS) as fake:  # type: ignore[arg-type]
        yield fake


def get(server: FakeIterable, path: str, **params: Any) -> requests.Response:
    response = requests.get(server.base_url + path, params=params, headers={"Api-Key": KEY}, timeout=30)
    assert response.status_code == 200, response.text
    return response


def lists(server: FakeIterable) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = get(server, "/api/lists").json()["lists"]
    return found


def members(server: FakeIterable, list_id: int, **params: str) -> list[str]:
    body = get(server, "/api/lists/getUsers", listId=list_id, **params).text
    return [line.strip() for line in body.split("\n") if line.strip()]


def users_export(server: FakeIterable, *fields: str) -> list[dict[str, Any]]:
    body = get(server, EXPORT, dataTypeName="user", range="All", onlyFields=list(fields)).content
    return [orjson.loads(line) for line in body.splitlines() if line]


def users_job(server: FakeIterable, *fields: str) -> list[dict[str, Any]]:
    """The same export through an export job: no dates, onlyFields comma-separated."""
    body = {
        "dataTypeName": "user",
        "outputFormat": "application/x-json-stream",
        "onlyFields": ",".join(fields),
    }
    started = requests.post(
        server.base_url + "/api/export/start", json=body, headers={"Api-Key": KEY}, timeout=10
    )
    job = started.json()["jobId"]
    deadline = time.monotonic() + 30
    names: list[dict[str, str]] = []
    while True:
        params = {"startAfter": names[-1]["file"]} if names else {}
        page = get(server, f"/api/export/{job}/files", **params).json()
        names += page["files"]
        if page["jobState"] == "completed" and len(page["files"]) < 10:
            break
        assert time.monotonic() < deadline
        time.sleep(0.02 if not page["files"] else 0)
    rows = []
    for name in names:
        rows += [
            orjson.loads(line) for line in requests.get(name["url"], timeout=10).content.splitlines() if line
        ]
    return rows


def on_list(
    rows: list[dict[str, Any]], list_id: int, field: str = "emailListIds", key: str = "email"
) -> set[str]:
    return {str(row[key]) for row in rows if list_id in (row.get(field) or [])}


def test_the_lists_are_of_every_kind_and_profiles_carry_the_static_ones_getusers_lists(
    server: FakeIterable,
) -> None:
    # given the project's lists and every user's list ids, through data.json
    listed = lists(server)
    kinds = [entry["listType"] for entry in listed]
    rows = users_export(server, "email", "emailListIds")

    # then there are several Standard lists, a Suppression, an Internal, some Dynamic and one unknown type
    assert kinds.count("Standard") >= 2 and kinds.count("Dynamic") >= 2
    assert {"Suppression", "Internal"} <= set(kinds) and set(kinds) - {*STATIC, "Dynamic"} == {"Scheduled"}
    # and each static list's getUsers members are exactly the profiles carrying its id
    for entry in listed:
        found = on_list(rows, entry["id"])
        if entry["listType"] == "Dynamic":
            assert found == set() and members(server, entry["id"]), entry
        else:
            assert found == set(members(server, entry["id"])), entry
    # and the profiles look like Iterable's: [] when on no list, the field absent on some, a deleted list
    assert any(row.get("emailListIds") == [] for row in rows)
    assert any("emailListIds" not in row for row in rows)
    assert on_list(rows, DELETED_LIST) and DELETED_LIST not in {entry["id"] for entry in listed}


def test_the_users_export_honours_range_all_and_only_fields_on_both_paths(server: FakeIterable) -> None:
    everyone = len(server.dataset.exports["user"])

    through_data_json = users_export(server, "email", "emailListIds")
    through_a_job = users_job(server, "email", "emailListIds")

    # every profile, whatever its update time, with the asked fields (and the export's own time field)
    assert len(through_data_json) == everyone
    assert {key for row in through_data_json for key in row} == {"email", "emailListIds", "profileUpdatedAt"}
    assert sorted(orjson.dumps(r) for r in through_a_job) == sorted(
        orjson.dumps(r) for r in through_data_json
    )


@pytest.mark.parametrize("project_type", ["hybrid", "userid_based"])
def test_in_user_id_projects_profiles_carry_user_list_ids_and_get_users_answers_user_ids_when_asked(
    project_type: str,
) -> None:
    with FakeIterable(api_keys=[KEY], project_type=project_type, **FAST) as fake:  # type: ignore[arg-type]
        rows = users_export(fake, "userId", "email", "userListIds")
        listed = lists(fake)
        static = [entry["id"] for entry in listed if entry["listType"] != "Dynamic"]
        by_key = {str(row.get("userId") or row["email"]): row for row in rows}
        for list_id in static:
            carried = {key for key, row in by_key.items() if list_id in (row.get("userListIds") or [])}
            assert carried == set(members(fake, list_id, preferUserId="true")), list_id
        assert not any("emailListIds" in row for row in rows)
        assert sum("email" not in row for row in rows) > 5  # users without email
        full = users_export(fake)
        assert all(row.get("itblUserId") for row in full)
        emails = [row["email"] for row in rows if "email" in row]
        if project_type == "userid_based":
            assert all(row.get("userId") for row in rows) and len(emails) > len(set(emails))
        else:
            assert len(emails) == len(set(emails)) and any("userId" not in row for row in rows)
            # without preferUserId, getUsers answers the email of a user who has one
            newsletter = set(members(fake, 3301122))
            assert newsletter == {
                str(by_key[k].get("email") or k) for k in members(fake, 3301122, preferUserId="true")
            }


def test_the_scaled_mode_generates_lists_and_profiles_that_agree() -> None:
    with FakeIterable(api_keys=[KEY], scaled_lists=(3000, 60, 2), **FAST) as fake:  # type: ignore[arg-type]
        listed = lists(fake)
        rows = users_export(fake, "email", "emailListIds")
        kinds = [entry["listType"] for entry in listed]
        assert len(listed) == 60 and kinds.count("Dynamic") == 2 and len(rows) == 3000
        assert {"Suppression", "Internal", "Standard"} <= set(kinds)
        for entry in listed[:20] + [e for e in listed if e["listType"] == "Dynamic"]:
            expected = set() if entry["listType"] == "Dynamic" else on_list(rows, entry["id"])
            found = members(fake, entry["id"])
            if entry["listType"] != "Dynamic":
                assert set(found) == expected, entry
            else:
                assert found and not on_list(rows, entry["id"])
        # a big list comes in a new order each time (Iterable promises none)
        biggest = max(listed, key=lambda e: len(on_list(rows, e["id"])))
        assert members(fake, biggest["id"]) != members(fake, biggest["id"])
