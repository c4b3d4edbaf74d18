"""``readers/members.py``: list_users reads the lists, then one getUsers unit per list; one list failing
loses only that list, a refused key fails the stream."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests_mock

from source_iterable.api.client import HttpSettings
from source_iterable.api.errors import ApiError, ConnectorError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import LIST_MEMBERS, RESOURCES
from source_iterable.engine.units import Fetched, Unit, Verdict
from source_iterable.readers.context import SyncContext
from source_iterable.readers.members import ListMembersRun
from source_iterable.state import NO_CURSOR

from .builders import (
    BAD_API_KEY_BODY,
    BASE_URL,
    GENERIC_ERROR_BODY,
    FakeClock,
    context,
    drive,
    error_traces,
    iterable_config,
    kinds_of,
    open_files_in,
    query_of,
    records_of,
    run_engine,
)

LISTS = {
    "lists": [
        {"id": 3301122, "name": "Newsletter subscribers", "createdAt": 1617891908857, "listType": "Standard"},
        {"id": 3301150, "name": "Active last 30d", "createdAt": 1651234567890, "listType": "Dynamic"},
        {"id": 3301199, "name": "Do not mail", "createdAt": 1600000000000, "listType": "Suppression"},
    ]
}
LISTS_URL = BASE_URL + "/api/lists"
GET_USERS_URL = BASE_URL + "/api/lists/getUsers"


def members_context(clock: FakeClock, threaded: bool = False) -> SyncContext:
    return context(clock, iterable_config(), settings=HttpSettings(max_attempts=3), threaded=threaded)


def list_users_run(ctx: SyncContext) -> ListMembersRun:
    return ListMembersRun(STREAMS_BY_NAME["list_users"], ctx)


def test_list_users_emits_each_member_with_its_list_and_the_sync_start(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    api.get(LISTS_URL, json={"lists": LISTS["lists"][:1]})
    api.get(
        GET_USERS_URL + "?listId=3301122",
        text="ana.silva@example.com\n\nbo.li@example.org\r\n  \ncarlos+promo@example.net",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    driven = drive(list_users_run(members_context(clock)))

    assert driven.records == [
        {"email": "ana.silva@example.com", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
        {"email": "bo.li@example.org", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
        {"email": "carlos+promo@example.net", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
    ]
    assert driven.final_state == NO_CURSOR and driven.final_error is None
    assert open_files_in(spool_dir) == []


def test_the_lists_are_read_first_and_each_list_is_a_get_users_unit(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given getUsers at 1 a minute
    api.get(LISTS_URL, json=LISTS)
    run = list_users_run(context(clock, iterable_config(), rates={LIST_MEMBERS: 1.0}))
    [first] = run.ready
    assert first.lane == RESOURCES

    # when the lists are fetched and fed back
    with caplog.at_level(logging.INFO, logger="airbyte"):
        run.fetched(first, first.fetch(run.ready.popleft()))

    # then one unit per list waits on the getUsers lane, in list order, and the plan is logged
    assert [(unit.lane, unit.label) for unit in run.ready] == [
        (LIST_MEMBERS, "list 3301122"),
        (LIST_MEMBERS, "list 3301150"),
        (LIST_MEMBERS, "list 3301199"),
    ]
    assert run.plan().summary == "GET /api/lists, then 3 getUsers calls"
    assert "plan for stream 'list_users': 3 lists, so 3 getUsers requests (1/min; at least 2m00s)" in [
        r.getMessage() for r in caplog.records
    ]


def test_one_list_failing_does_not_stop_the_others_and_is_named_at_the_end(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given three lists, the middle one answering a persistent 500 GenericError
    api.get(LISTS_URL, json=LISTS)
    api.get(GET_USERS_URL + "?listId=3301122", text="ana.silva@example.com\nbo.li@example.org\n")
    api.get(GET_USERS_URL + "?listId=3301150", status_code=500, json=GENERIC_ERROR_BODY)
    api.get(GET_USERS_URL + "?listId=3301199", text="old.address@example.com\n")
    ctx = members_context(clock, threaded=True)

    # when the engine reads the stream
    ok, found = run_engine([list_users_run(ctx)], ctx)

    # then every other list was emitted, in list order
    assert not ok
    assert [(r["email"], r["listId"]) for r in records_of(found, "list_users")] == [
        ("ana.silva@example.com", 3301122),
        ("bo.li@example.org", 3301122),
        ("old.address@example.com", 3301199),
    ]
    # and then the stream failed naming the list it could not read
    assert kinds_of(found, "list_users")[-1] == "INCOMPLETE"
    [trace] = error_traces(found)
    assert trace["failure_type"] == "system_error" and trace["stream_descriptor"] == {"name": "list_users"}
    message = trace["message"]
    assert "list 3301150" in message
    assert "1 of 3 lists" in message
    assert "GenericError" in message
    assert "3301122" not in message and "3301199" not in message
    assert open_files_in(spool_dir) == []
    get_users_calls = [r for r in api.request_history if r.path == "/api/lists/getUsers"]
    assert sorted(query_of(r.url)["listId"] for r in get_users_calls) == ["3301122"] + ["3301150"] * 3 + [
        "3301199"
    ]


def test_a_refused_key_on_get_users_fails_the_stream_after_one_request(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a key the lists accept and getUsers refuses
    api.get(LISTS_URL, json=LISTS)
    api.get(GET_USERS_URL, status_code=401, json=BAD_API_KEY_BODY)
    ctx = members_context(clock, threaded=True)

    # when the engine reads the stream
    ok, found = run_engine([list_users_run(ctx)], ctx)

    # then nothing is emitted, one getUsers request was made, and the stream fails as a config error
    assert not ok
    assert records_of(found, "list_users") == []
    [trace] = error_traces(found)
    assert trace["failure_type"] == "config_error"
    assert "list 3301122" in trace["message"] and "BadApiKey" in trace["message"]
    assert [r.path for r in api.request_history] == ["/api/lists", "/api/lists/getUsers"]
    assert open_files_in(spool_dir) == []


def failing_unit(run: ListMembersRun, index: int) -> Unit:
    unit = Unit(run.name, LIST_MEMBERS, f"list {index}", lambda u: Fetched.__new__(Fetched))
    unit.index = index
    return unit


def test_what_a_failure_means_for_the_stream(clock: FakeClock) -> None:
    run = list_users_run(members_context(clock))
    server_error = ApiError("HTTP 500", FailureType.transient_error, 500, True)
    refused = ApiError("HTTP 403", FailureType.config_error, 403, False)

    # the lists themselves: nothing to read without them
    assert run.failed(failing_unit(run, 0), server_error) is Verdict.FAIL_STREAM
    # one list: skip it
    assert run.failed(failing_unit(run, 2), server_error) is Verdict.SKIP
    assert run.failed(failing_unit(run, 2), ConnectorError("body")) is Verdict.SKIP
    # a refused key: every other list would be refused too
    assert run.failed(failing_unit(run, 2), refused) is Verdict.FAIL_STREAM


def test_a_lists_body_without_lists_fails_the_stream(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(LISTS_URL, json={"data": []})

    driven = drive(list_users_run(members_context(clock)))

    [(_, error, verdict)] = driven.failures
    assert "no 'lists' array" in error.message and verdict is Verdict.FAIL_STREAM
    assert api.call_count == 1
