"""``readers/members/``: list_users reads the lists, then the members of every static list from one
users export (data.json or an export job) and those of every other list from getUsers, one unit a list;
one list failing loses only that list, a refused key fails the stream."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock

from source_iterable.api.client import HttpSettings
from source_iterable.api.errors import ApiError, ConnectorError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import EXPORT, JOBS, LIST_MEMBERS, RESOURCES
from source_iterable.engine.progress import Progress
from source_iterable.engine.units import Fetched, Plan, Unit, Verdict
from source_iterable.readers.context import SyncContext
from source_iterable.readers.jobs import JobRunner
from source_iterable.readers.members import ListMembersRun
from source_iterable.readers.members.derive import EMAIL_BASED
from source_iterable.readers.members.get_users import member_lines, spool_members
from source_iterable.records import RecordShaper
from source_iterable.state import NO_CURSOR

from .builders import (
    BAD_API_KEY_BODY,
    BASE_URL,
    EXPORT_URL,
    GENERIC_ERROR_BODY,
    STORAGE,
    FakeClock,
    context,
    drive,
    error_traces,
    iterable_config,
    kinds_of,
    limiters,
    ndjson,
    open_files_in,
    records_of,
    run_engine,
)

STARTED = "2024-03-10T12:00:00Z"  # the builders' NOW: every record's updatedAt
STANDARD = {
    "id": 3301122,
    "name": "Newsletter subscribers",
    "createdAt": 1617891908857,
    "listType": "Standard",
}
DYNAMIC = {"id": 3301150, "name": "Active last 30d", "createdAt": 1651234567890, "listType": "Dynamic"}
SUPPRESSION = {"id": 3301199, "name": "Do not mail", "createdAt": 1600000000000, "listType": "Suppression"}
SCHEDULED = {"id": 3301188, "name": "Catalog buyers", "createdAt": 1700000000000, "listType": "Scheduled"}
LISTS = {"lists": [STANDARD, DYNAMIC, SUPPRESSION]}
LISTS_URL = BASE_URL + "/api/lists"
GET_USERS_URL = BASE_URL + "/api/lists/getUsers"
START_URL = BASE_URL + "/api/export/start"
# The users export with onlyFields=email,emailListIds: users on static lists, on none, without the field,
# one naming a list deleted since and one naming the dynamic list (which a profile should never hold).
PROFILES: list[dict[str, Any]] = [
    {
        "email": "ana.silva@example.com",
        "emailListIds": [3301122, 3301199],
        "profileUpdatedAt": "2019-05-01 10:00:00 +00:00",
    },
    {"email": "bo.li@example.org", "emailListIds": [3301122, 3301122]},
    {"email": "carlos+promo@example.net", "emailListIds": []},
    {"email": "dana@example.com"},
    {"email": "eli@example.com", "emailListIds": [4400000, 3301150, 3301199]},
]
FROM_PROFILES = [
    ("ana.silva@example.com", 3301122),
    ("ana.silva@example.com", 3301199),
    ("bo.li@example.org", 3301122),
    ("eli@example.com", 3301199),
]


def members_context(clock: FakeClock, threaded: bool = False, **overrides: Any) -> SyncContext:
    return context(
        clock, iterable_config(**overrides), settings=HttpSettings(max_attempts=3), threaded=threaded
    )


def list_users_run(ctx: SyncContext, jobs: JobRunner | None = None) -> ListMembersRun:
    return ListMembersRun(STREAMS_BY_NAME["list_users"], ctx, jobs)


def pairs(records: list[dict[str, Any]], key: str = "email") -> list[tuple[Any, Any]]:
    return [(r[key], r["listId"]) for r in records]


def queries(api: requests_mock.Mocker, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.url).query) for r in api.request_history if r.path == path]


# ------------------------------------------------------------------ getUsers


def test_get_users_emits_each_member_with_its_list_and_the_sync_start(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given one dynamic list, its body with blank lines and a CRLF, no trailing newline
    api.get(LISTS_URL, json={"lists": [DYNAMIC]})
    api.get(
        GET_USERS_URL + "?listId=3301150",
        text="ana.silva@example.com\n\nbo.li@example.org\r\n  \ncarlos+promo@example.net",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    driven = drive(list_users_run(members_context(clock)))

    assert driven.records == [
        {"email": "ana.silva@example.com", "listId": 3301150, "updatedAt": STARTED},
        {"email": "bo.li@example.org", "listId": 3301150, "updatedAt": STARTED},
        {"email": "carlos+promo@example.net", "listId": 3301150, "updatedAt": STARTED},
    ]
    assert driven.final_state == NO_CURSOR and driven.final_error is None
    assert [r.path for r in api.request_history] == ["/api/lists", "/api/lists/getUsers"]  # no export
    assert open_files_in(spool_dir) == []


def test_a_get_users_download_reports_its_bytes_and_users_while_it_downloads(clock: FakeClock) -> None:
    # given a getUsers body still arriving, and the reporter of the 30-second progress lines
    unit = Unit("list_users", LIST_MEMBERS, "list 3301150", lambda u: Fetched.__new__(Fetched))
    reporter = Progress({"list_users": Plan("lists", {LIST_MEMBERS: 1})}, limiters(clock).all(), clock)
    sync: Any = SimpleNamespace(lanes={LIST_MEMBERS: SimpleNamespace(in_flight=[unit])}, records=0)
    said: list[str] = []
    chunks = [b"ana.silva@example.com\nbo.li@exa", b"mple.org\n\ncarlos+promo@example.net\n"]

    class Body:
        def iter_content(self, chunk_size: int) -> Any:
            yield chunks[0]
            said.append(reporter.text(sync, clock.now + 31))
            yield chunks[1]

    # when it is spooled
    convert = member_lines(RecordShaper(lambda row: row), EMAIL_BASED, 3301150, STARTED)
    body = spool_members(Body(), convert, unit.progress, "list_users")  # type: ignore[arg-type]
    body.close()

    # then, mid-body, the progress line named the list with its bytes and the users whole so far
    assert "downloading: list_users list 3301150 (0 kB, 1 rows so far)" in said[0]
    assert (unit.progress.bytes, unit.progress.rows, body.count) == (len(b"".join(chunks)), 3, 3)


def test_a_maintenance_page_answered_with_200_is_not_read_as_members(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(LISTS_URL, json={"lists": [DYNAMIC]})
    api.get(
        GET_USERS_URL,
        [
            {"text": "<html><body>Maintenance</body></html>\n", "headers": {"Content-Type": "text/html"}},
            {"text": "ana.silva@example.com\n"},
        ],
    )

    driven = drive(list_users_run(members_context(clock)))

    assert pairs(driven.records) == [("ana.silva@example.com", 3301150)]
    assert len(queries(api, "/api/lists/getUsers")) == 2 and clock.sleeps  # retried after a backoff


# ------------------------------------------------------------------ which lists go where


def test_the_lists_come_first_then_the_users_export_then_a_get_users_unit_per_other_list(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given two static lists, a dynamic one and one of a type the API reference does not name
    api.get(LISTS_URL, json={"lists": [STANDARD, DYNAMIC, SUPPRESSION, SCHEDULED]})
    run = list_users_run(context(clock, iterable_config(export_api="sync"), rates={LIST_MEMBERS: 1.0}))
    [first] = run.ready
    assert first.lane == RESOURCES
    assert run.plan().summary == (
        "GET /api/lists, then one users export for the static lists and one getUsers call per other list"
    )

    # when the lists are fetched and fed back
    with caplog.at_level(logging.INFO, logger="airbyte"):
        run.fetched(first, first.fetch(run.ready.popleft()))

    # then the export of the static lists goes first, then one getUsers unit per other list, in order
    assert [(unit.lane, unit.label) for unit in run.ready] == [
        (EXPORT, "2 static lists (one users export)"),
        (LIST_MEMBERS, "list 3301150"),
        (LIST_MEMBERS, "list 3301188"),
    ]
    # and the plan line says how many lists go which way
    assert (
        "plan for stream 'list_users': 4 lists: 2 static lists (Standard, Suppression, Internal) from one users "
        "export of every profile's emailListIds through data.json; 2 through getUsers (1 Dynamic, 1 of "
        "listType 'Scheduled', not known to be static); so 2 getUsers requests (1/min; at least 1m00s)"
    ) in [r.getMessage() for r in caplog.records]
    assert run.plan().requests == {RESOURCES: 1, LIST_MEMBERS: 2, EXPORT: 1}


def test_with_get_users_as_the_source_every_list_is_a_get_users_unit(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(LISTS_URL, json=LISTS)
    run = list_users_run(
        context(clock, iterable_config(list_users_source="get_users"), rates={LIST_MEMBERS: 1.0})
    )
    assert run.plan().summary == "GET /api/lists, then one getUsers call per list"
    first = run.ready.popleft()

    with caplog.at_level(logging.INFO, logger="airbyte"):
        run.fetched(first, first.fetch(first))

    assert [(unit.lane, unit.label) for unit in run.ready] == [
        (LIST_MEMBERS, "list 3301122"),
        (LIST_MEMBERS, "list 3301150"),
        (LIST_MEMBERS, "list 3301199"),
    ]
    assert (
        "plan for stream 'list_users': 3 lists: 3 through getUsers (list_users_source is get_users); so 3 "
        "getUsers requests (1/min; at least 2m00s)"
    ) in [r.getMessage() for r in caplog.records]


# ------------------------------------------------------------------ the users export


def test_static_lists_come_from_one_users_export_of_every_profile_through_data_json(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a key reading through data.json only, two static lists and a dynamic one
    api.get(LISTS_URL, json=LISTS)
    api.get(EXPORT_URL, content=ndjson(PROFILES))
    api.get(GET_USERS_URL + "?listId=3301150", text="zoe@example.com\nana.silva@example.com\n")

    # when the stream is read
    driven = drive(list_users_run(members_context(clock, export_api="sync")))

    # then the static lists' members come from the profiles, each once, and only the dynamic list
    # is asked of getUsers
    assert pairs(driven.records) == [
        *FROM_PROFILES,
        ("zoe@example.com", 3301150),
        ("ana.silva@example.com", 3301150),
    ]
    assert all(r["updatedAt"] == STARTED for r in driven.records)
    assert queries(api, "/api/lists/getUsers") == [{"listId": ["3301150"]}]
    # and the export asked for every user (no date filter: start_date does not apply) and two fields
    assert queries(api, "/api/export/data.json") == [
        {"dataTypeName": ["user"], "range": ["All"], "onlyFields": ["email", "emailListIds"]}
    ]
    assert driven.final_error is None and open_files_in(spool_dir) == []


def test_static_lists_come_from_one_export_job_when_the_key_may_use_them(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given export jobs allowed, and a job whose profiles come in two files of unequal size
    ctx = members_context(clock, export_api="auto")
    jobs = JobRunner(ctx, sleep=clock.sleep, clock=clock)
    api.get(LISTS_URL, json={"lists": [STANDARD, SUPPRESSION]})
    api.post(START_URL, json={"jobId": 3562})
    files = [
        {"file": name, "url": f"{STORAGE}/{name}?X-Amz-Signature=abc"} for name in ("f-1.json", "f-2.json")
    ]
    api.get(
        BASE_URL + "/api/export/3562/files", json={"jobId": 3562, "jobState": "completed", "files": files}
    )
    api.get(f"{STORAGE}/f-1.json", content=ndjson(PROFILES[:1]))
    api.get(f"{STORAGE}/f-2.json", content=ndjson(PROFILES[1:]))
    run = list_users_run(ctx, jobs)

    # when the stream is read
    driven = drive(run)

    # then one job without dates asked for the identity and list-ids fields, and gave every membership
    assert [r.method for r in api.request_history if r.path == "/api/export/start"] == ["POST"]
    start = next(r for r in api.request_history if r.path == "/api/export/start")
    assert start.json() == {
        "dataTypeName": "user",
        "outputFormat": "application/x-json-stream",
        "onlyFields": "email,emailListIds",
    }
    assert sorted(pairs(driven.records)) == sorted(FROM_PROFILES)
    assert run.plan().requests == {RESOURCES: 1, LIST_MEMBERS: 0, JOBS: 2}
    assert not [r for r in api.request_history if r.path in ("/api/lists/getUsers", "/api/export/data.json")]
    assert open_files_in(spool_dir) == []


def test_a_key_the_jobs_api_refuses_reads_the_profiles_through_data_json(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    ctx = members_context(clock, export_api="auto")
    jobs = JobRunner(ctx, sleep=clock.sleep, clock=clock)
    api.get(LISTS_URL, json={"lists": [STANDARD, SUPPRESSION]})
    api.post(START_URL, status_code=403, json={"msg": "Forbidden", "code": "Forbidden", "params": None})
    api.get(EXPORT_URL, content=ndjson(PROFILES))

    driven = drive(list_users_run(ctx, jobs))

    assert sorted(pairs(driven.records)) == sorted(FROM_PROFILES)
    assert not ctx.jobs.allowed and driven.final_error is None


def test_a_catalog_that_does_not_declare_the_record_keys_gets_them_folded(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a configured catalog from before updatedAt was declared
    ctx = members_context(clock, export_api="sync")
    ctx.declared = {"list_users": frozenset({"email", "listId", "_additional_fields"})}
    api.get(LISTS_URL, json={"lists": [STANDARD]})
    api.get(EXPORT_URL, content=ndjson(PROFILES[:1]))

    driven = drive(list_users_run(ctx))

    assert driven.records == [
        {"email": "ana.silva@example.com", "listId": 3301122, "_additional_fields": {"updatedAt": STARTED}}
    ]


def test_a_users_export_without_the_list_field_warns_that_the_project_type_may_be_wrong(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given a hybrid project configured as email-based: its profiles carry userListIds
    api.get(LISTS_URL, json={"lists": [STANDARD]})
    api.get(EXPORT_URL, content=ndjson([{"email": "ana.silva@example.com", "userListIds": [3301122]}]))

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        driven = drive(list_users_run(members_context(clock, export_api="sync")))

    assert driven.records == []
    [warning] = [r.getMessage() for r in caplog.records]
    assert "none of the 1 profiles of the users export carried 'emailListIds'" in warning
    assert "project_type" in warning and "get_users" in warning


# ------------------------------------------------------------------ hybrid and userID-based projects


@pytest.mark.parametrize("project_type", ["hybrid", "userid_based"])
def test_where_email_is_not_the_key_records_are_keyed_on_the_user_id_and_get_users_is_asked_for_it(
    api: requests_mock.Mocker, clock: FakeClock, project_type: str
) -> None:
    # given profiles with userListIds, and getUsers answering userIds when asked to prefer them
    api.get(LISTS_URL, json={"lists": [STANDARD, DYNAMIC]})
    rows = [
        {"userId": "u-1", "email": "ana.silva@example.com", "userListIds": [3301122]},
        {"userId": "u-2", "userListIds": [3301122], "emailListIds": [3301122]},
        {"email": "bo.li@example.org", "userListIds": [3301122]},
    ]
    api.get(EXPORT_URL, content=ndjson(rows))
    api.get(GET_USERS_URL, text="u-1\nbo.li@example.org\n")

    driven = drive(list_users_run(members_context(clock, export_api="sync", project_type=project_type)))

    # then the export asked for the user id too, and getUsers for user ids
    [export] = queries(api, "/api/export/data.json")
    assert export["onlyFields"] == ["userId", "email", "userListIds"]
    assert queries(api, "/api/lists/getUsers") == [{"listId": ["3301150"], "preferUserId": ["true"]}]
    assert [{k: v for k, v in r.items() if k != "updatedAt"} for r in driven.records] == [
        {"userKey": "u-1", "userId": "u-1", "email": "ana.silva@example.com", "listId": 3301122},
        {"userKey": "u-2", "userId": "u-2", "email": None, "listId": 3301122},
        {"userKey": "bo.li@example.org", "userId": None, "email": "bo.li@example.org", "listId": 3301122},
        {"userKey": "u-1", "userId": None, "email": None, "listId": 3301150},
        {"userKey": "bo.li@example.org", "userId": None, "email": None, "listId": 3301150},
    ]


# ------------------------------------------------------------------ failures


def test_one_dynamic_list_failing_does_not_stop_the_others_and_is_named_at_the_end(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given two dynamic lists, the first answering a persistent 500 GenericError
    other = {**DYNAMIC, "id": 3301151}
    api.get(LISTS_URL, json={"lists": [STANDARD, DYNAMIC, other]})
    api.get(EXPORT_URL, content=ndjson(PROFILES[:2]))
    api.get(GET_USERS_URL + "?listId=3301150", status_code=500, json=GENERIC_ERROR_BODY)
    api.get(GET_USERS_URL + "?listId=3301151", text="old.address@example.com\n")
    ctx = members_context(clock, threaded=True, export_api="sync")

    # when the engine reads the stream
    ok, found = run_engine([list_users_run(ctx)], ctx)

    # then every other list was emitted, in unit order
    assert not ok
    assert pairs(records_of(found, "list_users")) == [
        ("ana.silva@example.com", 3301122),
        ("bo.li@example.org", 3301122),
        ("old.address@example.com", 3301151),
    ]
    # and then the stream failed naming the list it could not read
    assert kinds_of(found, "list_users")[-1] == "INCOMPLETE"
    [trace] = error_traces(found)
    assert trace["failure_type"] == "system_error" and trace["stream_descriptor"] == {"name": "list_users"}
    message = trace["message"]
    assert "list 3301150" in message and "1 of 3 lists" in message and "GenericError" in message
    assert "3301151" not in message and "static" not in message
    assert open_files_in(spool_dir) == []
    assert [q["listId"] for q in queries(api, "/api/lists/getUsers")].count(["3301150"]) == 3


def test_the_users_export_failing_loses_the_static_lists_and_not_the_others(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    api.get(LISTS_URL, json=LISTS)
    api.get(EXPORT_URL, status_code=500, json=GENERIC_ERROR_BODY)
    api.get(GET_USERS_URL + "?listId=3301150", text="zoe@example.com\n")
    ctx = members_context(clock, threaded=True, export_api="sync")

    ok, found = run_engine([list_users_run(ctx)], ctx)

    assert not ok
    assert pairs(records_of(found, "list_users")) == [("zoe@example.com", 3301150)]
    [trace] = error_traces(found)
    assert "could not read the members of 2 of 3 lists" in trace["message"]
    assert "the 2 static lists (one users export): stream 'list_users'" in trace["message"]
    assert "GenericError" in trace["message"]
    assert open_files_in(spool_dir) == []


def test_a_refused_key_on_get_users_fails_the_stream_after_one_request(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a key the lists accept and getUsers refuses
    api.get(LISTS_URL, json=LISTS)
    api.get(GET_USERS_URL, status_code=401, json=BAD_API_KEY_BODY)
    ctx = members_context(clock, threaded=True, list_users_source="get_users")

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


def failing_unit(index: int) -> Unit:
    unit = Unit("list_users", LIST_MEMBERS, f"list {index}", lambda u: Fetched.__new__(Fetched))
    unit.index = index
    return unit


def test_what_a_failure_means_for_the_stream(clock: FakeClock) -> None:
    run = list_users_run(members_context(clock))
    server_error = ApiError("HTTP 500", FailureType.transient_error, 500, True)
    refused = ApiError("HTTP 403", FailureType.config_error, 403, False)
    async_refused = ConnectorError("export_api is 'async' but ...", FailureType.config_error)

    # the lists themselves: nothing to read without them
    assert run.failed(failing_unit(0), server_error) is Verdict.FAIL_STREAM
    # one list: skip it
    assert run.failed(failing_unit(2), server_error) is Verdict.SKIP
    assert run.failed(failing_unit(2), ConnectorError("body")) is Verdict.SKIP
    # a refused key, or a configuration that cannot work: every other list would fail the same way
    assert run.failed(failing_unit(2), refused) is Verdict.FAIL_STREAM
    assert run.failed(failing_unit(1), async_refused) is Verdict.FAIL_STREAM


def test_a_lists_body_without_lists_fails_the_stream(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(LISTS_URL, json={"data": []})

    driven = drive(list_users_run(members_context(clock)))

    [(_, error, verdict)] = driven.failures
    assert "no 'lists' array" in error.message and verdict is Verdict.FAIL_STREAM
    assert api.call_count == 1
