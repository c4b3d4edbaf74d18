"""list_users through the console script against the fake: the static lists from one users export (an
export job, or one data.json request), the other lists from getUsers, the same records either way, in
every project type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration_tests.expectations import STATIC_LIST_TYPES, canonical, expected_list_users
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    TEST_API_KEY,
    Connector,
    Run,
    configured_catalog,
    make_config,
    requests_to,
)
from integration_tests.platform_rule import platform_keeps

pytestmark = pytest.mark.integration
EXPORT = "/api/export/data.json"


def read(connector: Connector, server: FakeIterable, discovered: list[dict[str, Any]], **config: Any) -> Run:
    catalog = configured_catalog(discovered, "full_refresh", ["list_users"])
    return connector.run("read", make_config(server.base_url, **config), catalog)


def other_lists(server: FakeIterable) -> list[int]:
    return [
        int(str(entry["id"])) for entry in server.dataset.lists if entry["listType"] not in STATIC_LIST_TYPES
    ]


def plan_line(run: Run) -> str:
    return next(
        str(m["log"]["message"])
        for m in run.of_type("LOG")
        if m["log"]["message"].startswith("plan for stream 'list_users': ")
        and "lists:" in m["log"]["message"]
    )


def test_both_sources_give_the_same_records_and_auto_asks_get_users_only_for_the_other_lists(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    # given the fake's 8 lists: 5 static ones, 2 dynamic and one of a type the connector does not know
    expected = canonical(expected_list_users(server.dataset))
    schema = next(s for s in discovered if s["name"] == "list_users")["json_schema"]

    # when list_users is read through export jobs (auto), then through getUsers alone
    auto = read(connector, server, discovered, export_api="auto")
    auto_calls = {
        path: requests_to(server, path) for path in ("/api/lists/getUsers", "/api/export/start", EXPORT)
    }
    server.reset()
    get_users = read(connector, server, discovered, export_api="auto", list_users_source="get_users")
    get_users_calls = requests_to(server, "/api/lists/getUsers")

    # then both emit every membership once: the same records
    assert auto.returncode == 0 and get_users.returncode == 0, auto.all_output[-2000:]
    assert canonical(auto.records("list_users"), drop=("updatedAt",)) == expected
    assert canonical(get_users.records("list_users"), drop=("updatedAt",)) == expected
    assert len({(r["email"], r["listId"]) for r in auto.records("list_users")}) == len(expected)
    assert all(platform_keeps(r, schema) == r for r in auto.records("list_users"))  # nothing dropped
    # and auto made one export job of every profile (no dates, two fields) and 3 getUsers calls
    assert sorted(int(c["query"]["listId"]) for c in auto_calls["/api/lists/getUsers"]) == sorted(
        other_lists(server)
    )
    [job] = auto_calls["/api/export/start"]
    assert job["body"] == {
        "dataTypeName": "user",
        "outputFormat": "application/x-json-stream",
        "onlyFields": "email,emailListIds",
    }
    assert auto_calls[EXPORT] == []
    assert len(get_users_calls) == len(server.dataset.lists) == 8
    # and the plan line says which lists go which way
    assert plan_line(auto).startswith(
        "plan for stream 'list_users': 8 lists: 5 static lists (Standard, Suppression, Internal) from one users "
        "export of every profile's emailListIds through an export job; 3 through getUsers (2 Dynamic, 1 of "
        "listType 'Scheduled', not known to be static); so 3 getUsers requests"
    )
    assert plan_line(get_users).startswith("plan for stream 'list_users': 8 lists: 8 through getUsers")


def test_without_export_jobs_the_profiles_come_from_one_data_json_request(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    run = read(connector, server, discovered, export_api="sync", start_date="2024-06-01T00:00:00Z")

    assert run.returncode == 0, run.all_output[-2000:]
    expected = expected_list_users(server.dataset)
    assert canonical(run.records("list_users"), drop=("updatedAt",)) == canonical(expected)
    # one request for every profile, whatever start_date says
    [export] = requests_to(server, EXPORT)
    assert export["query"]["dataTypeName"] == "user" and export["query"]["range"] == "All"
    assert "startDateTime" not in export["query"]
    assert requests_to(server, "/api/export/start") == []
    assert len(requests_to(server, "/api/lists/getUsers")) == 3


def test_a_dynamic_list_failing_for_good_fails_only_that_list(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    bad = 3301151
    server.add_fault(
        {
            "path": "/api/lists/getUsers",
            "match": {"listId": str(bad)},
            "kind": "status",
            "status": 500,
            "times": None,
        }
    )

    run = read(connector, server, discovered, export_api="auto")

    expected = [r for r in expected_list_users(server.dataset) if r["listId"] != bad]
    assert canonical(run.records("list_users"), drop=("updatedAt",)) == canonical(expected)
    assert run.returncode == 1 and run.statuses("list_users")[-1] == "INCOMPLETE"
    [trace] = run.traces()
    assert f"list {bad}" in trace["error"]["message"] and "1 of 8 lists" in trace["error"]["message"]
    assert TEST_API_KEY not in run.all_output


# ------------------------------------------------------------------ hybrid and userID-based projects


def test_where_email_is_not_the_key_records_are_keyed_on_user_key_from_both_sources(
    typed_project: FakeIterable, tmp_path: Path
) -> None:
    # given a hybrid or userID-based project, discovered as such
    server, connector = typed_project, Connector(tmp_path / "run")
    project_type = server.dataset.project_type
    found = connector.run("discover", make_config(server.base_url, project_type=project_type))
    [stream] = [s for s in found.of_type("CATALOG")[0]["catalog"]["streams"] if s["name"] == "list_users"]
    assert stream["source_defined_primary_key"] == [["userKey"], ["listId"]]
    catalog = configured_catalog([stream], "full_refresh")

    # when list_users is read from both sources
    runs = {}
    for source in ("auto", "get_users"):
        server.reset()
        config = make_config(
            server.base_url, project_type=project_type, export_api="auto", list_users_source=source
        )
        runs[source] = connector.run("read", config, catalog)
        assert runs[source].returncode == 0, runs[source].all_output[-2000:]
        # getUsers was asked for user ids
        assert all(
            c["query"].get("preferUserId") == "true" for c in requests_to(server, "/api/lists/getUsers")
        )

    # then each source gives its expected records, keyed on a userKey that is never null, and the same keys
    for source, run in runs.items():
        records = run.records("list_users")
        assert canonical(records, drop=("updatedAt",)) == canonical(
            expected_list_users(server.dataset, source)
        )
        assert all(record["userKey"] for record in records)
    keys = {
        source: sorted((r["userKey"], r["listId"]) for r in run.records("list_users"))
        for source, run in runs.items()
    }
    assert keys["auto"] == keys["get_users"] and len(set(keys["auto"])) == len(keys["auto"])
    # and members without an email, or sharing one, are there from the users export
    from_export = [r for r in runs["auto"].records("list_users") if r["userId"] or r["email"]]
    assert any(r["email"] is None for r in from_export)
