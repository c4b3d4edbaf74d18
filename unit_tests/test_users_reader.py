"""``readers/users/``: the users stream's prelude (one getFields call before its first window) and the
date conversions it sets up, with the fall back to the configured catalog's schema; the rows without the
project type's key, counted and warned about once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
import requests_mock

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import EXPORT, RESOURCES
from source_iterable.readers import Selected, build_runs
from source_iterable.readers.context import SyncContext
from source_iterable.readers.exports import ExportRun
from source_iterable.readers.users import UsersFields
from source_iterable.readers.users.fields import GET_FIELDS_PATH
from source_iterable.readers.users.schema import build_users_schema, static_users_schema
from source_iterable.transforms import RecordTransform

from .builders import (
    BASE_URL,
    EXPORT_URL,
    FakeClock,
    context,
    iterable_config,
    kinds_of,
    ndjson,
    records_of,
    run_engine,
    utc,
)

FIELDS_URL = BASE_URL + GET_FIELDS_PATH
USERS = STREAMS_BY_NAME["users"]
FIELDS = {
    "fields": {
        "email": "string",
        "profileUpdatedAt": "date",
        "lastPurchaseDate": "date",
        "membership": "object",
        "membership.since": "date",
        "loyaltyPoints": "long",
        "Industry": "string",
    }
}
ROW = {
    "email": "jane.doe@example.com",
    "profileUpdatedAt": "2024-03-06 18:02:45 +00:00",
    "lastPurchaseDate": "2024-02-01 10:00:00 +00:00",
    "membership": {"since": "2022-05-01 08:00:00 +00:00"},
    "Industry": "Retail",
}
CONVERTED = {
    "email": "jane.doe@example.com",
    "profileUpdatedAt": "2024-03-06T18:02:45Z",
    "lastPurchaseDate": "2024-02-01T10:00:00Z",
    "membership": {"since": "2022-05-01T08:00:00Z"},
    "_industry": "Retail",
}


def users_context(clock: FakeClock, threaded: bool = False, **overrides: Any) -> SyncContext:
    cfg = iterable_config(
        start_date="2024-03-06", window_in_days=1, adaptive_windows=False, export_lag_minutes=0, **overrides
    )
    return context(clock, cfg, started=utc(2024, 3, 7), threaded=threaded)


def users_transform(ctx: SyncContext) -> RecordTransform:
    transform = ctx.transform(USERS)
    assert isinstance(transform, RecordTransform)
    return transform


def prelude_of(ctx: SyncContext, schema: dict[str, Any] | None = None) -> UsersFields:
    return UsersFields(USERS, ctx, schema)


def apply_prelude(prelude: UsersFields) -> None:
    unit = prelude.unit()
    prelude.apply(unit.fetch(unit))


def test_with_a_field_list_the_users_transform_converts_its_date_fields(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given getFields answering the project's fields
    api.get(FIELDS_URL, json=FIELDS)
    ctx = users_context(clock)
    prelude = prelude_of(ctx)
    assert prelude.unit().lane == RESOURCES

    # when the prelude runs
    with caplog.at_level(logging.INFO, logger="airbyte"):
        apply_prelude(prelude)

    # then the users transform converts the custom date fields, keeps the renames, and says so once
    transform = users_transform(ctx)
    assert transform.date_paths == ("lastPurchaseDate", "membership.since")
    assert transform.renames == USERS.transform.renames
    assert transform(dict(ROW)) == CONVERTED
    assert [r.getMessage() for r in caplog.records] == [
        "stream 'users': converting 2 date fields to RFC 3339: lastPurchaseDate, membership.since"
    ]
    assert api.call_count == 1
    # and the stream table itself is untouched
    assert USERS.transform.date_paths == ()


def test_without_a_field_list_the_date_fields_come_from_the_configured_schema_with_one_warning(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given getFields failing during the sync, and the catalog holding the schema discover built
    api.get(FIELDS_URL, exc=requests.exceptions.ConnectTimeout("connect timeout"))
    schema = build_users_schema(static_users_schema(), FIELDS["fields"])
    ctx = users_context(clock)

    # when the prelude runs
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        apply_prelude(prelude_of(ctx, schema))

    # then the same date fields are converted, after one warning that names them (besides the retries')
    assert users_transform(ctx).date_paths == ("lastPurchaseDate", "membership.since")
    assert users_transform(ctx)(dict(ROW)) == CONVERTED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    [warning] = [w for w in warnings if "retrying in" not in w]
    assert len(warnings) == 3  # two retries of getFields, then the fallback
    assert warning.startswith("stream 'users': the field list could not be read: ")
    assert "ConnectTimeout" in warning
    assert (
        "the date fields the configured catalog declares are converted (2: lastPurchaseDate, membership.since)"
        in warning
    )


def test_without_a_field_list_or_a_schema_only_iterables_own_dates_are_converted(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(FIELDS_URL, status_code=403, json={"msg": "Forbidden", "code": "Forbidden", "params": None})
    ctx = users_context(clock)

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        apply_prelude(prelude_of(ctx, None))

    assert users_transform(ctx).date_paths == ()
    converted = users_transform(ctx)(dict(ROW))
    assert converted["profileUpdatedAt"] == "2024-03-06T18:02:45Z"
    assert converted["lastPurchaseDate"] == "2024-02-01 10:00:00 +00:00"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "HTTP 403" in warning and "declares no custom date field" in warning


def test_the_users_run_plans_no_window_before_its_field_list_is_applied(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given the users stream built for a sync
    api.get(FIELDS_URL, json=FIELDS)
    ctx = users_context(clock)
    [run] = build_runs([Selected(USERS, True)], ctx, {})
    assert isinstance(run, ExportRun)

    # then its first unit is the field list, and no window is planned while it is out
    [prelude] = run.ready
    assert prelude.lane == RESOURCES and prelude.checkpoint is None and prelude.index == 0
    run.ready.popleft()
    run.refill(0)
    assert not run.ready and not run.planning_done()

    # when the field list comes back, the windows are planned
    run.fetched(prelude, prelude.fetch(prelude))
    run.refill(0)
    assert [unit.lane for unit in run.ready] == [EXPORT]
    assert users_transform(ctx).date_paths == ("lastPurchaseDate", "membership.since")
    assert run.planning_done()


def test_a_users_sync_converts_the_fields_getfields_reports(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given getFields and one day of users
    api.get(FIELDS_URL, json=FIELDS)
    api.get(EXPORT_URL, content=ndjson([ROW]))
    ctx = users_context(clock, threaded=True)
    runs = build_runs([Selected(USERS, True)], ctx, {})

    # when the engine reads it
    ok, found = run_engine(runs, ctx)

    # then the prelude prints nothing, and the record is converted
    assert ok
    assert records_of(found, "users") == [CONVERTED]
    assert kinds_of(found, "users") == ["STARTED", "RUNNING", "RECORD", "STATE", "COMPLETE"]
    assert [r.path for r in api.request_history] == ["/api/users/getFields", "/api/export/data.json"]


# ------------------------------------------------------------------ the key of the project type


def hybrid_row(user_id: str | None, **fields: Any) -> dict[str, Any]:
    """A users row of a hybrid project: ``itblUserId`` when given, no email when the user has none."""
    row: dict[str, Any] = {"profileUpdatedAt": "2024-03-06 18:02:45 +00:00", **fields}
    if user_id is not None:
        row["itblUserId"] = user_id
    return row


def read_users(
    api: requests_mock.Mocker, clock: FakeClock, rows: list[dict[str, Any]], project_type: str
) -> tuple[bool, list[dict[str, Any]]]:
    api.get(FIELDS_URL, json=FIELDS)
    api.get(EXPORT_URL, content=ndjson(rows))
    ctx = users_context(clock, threaded=True, project_type=project_type)
    return run_engine(build_runs([Selected(USERS, True)], ctx, {}), ctx)


def test_rows_without_itbluserid_in_a_hybrid_project_are_emitted_and_counted_in_one_warning(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given a hybrid project's users: one with its id, one without, one whose id is null
    rows = [
        hybrid_row("5f0c1a", email="ana@example.com", userId="u-1"),
        hybrid_row(None, email="bo@example.com"),
        hybrid_row(None, userId="u-3", itblUserId=None),
    ]

    # when the users stream is read
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        ok, found = read_users(api, clock, rows, "hybrid")

    # then every row is a record, and one warning at the end names how many lacked the key
    assert ok
    assert [r.get("itblUserId") for r in records_of(found, "users")] == ["5f0c1a", None, None]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("stream 'users': 2 of 3 rows had no 'itblUserId', the primary key of users ")
    assert "in a hybrid project" in warning and "No row carried it" not in warning


def test_when_no_row_carries_itbluserid_the_warning_says_what_to_check(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given a userID-based config, and rows that never carry itblUserId
    rows = [hybrid_row(None, email=f"user{n}@example.com") for n in range(4)]

    # when
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        ok, _ = read_users(api, clock, rows, "userid_based")

    # then the warning points at project_type, and at an append mode otherwise
    assert ok
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "4 of 4 rows had no 'itblUserId'" in warning
    assert "set project_type to it" in warning and "email_based" in warning and "append mode" in warning


def test_an_email_based_project_whose_rows_have_email_warns_nothing(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given email-based rows, none of them with an itblUserId (Iterable has none there)
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        ok, found = read_users(api, clock, [ROW, {**ROW, "email": "bo@example.com"}], "email_based")

    # then no warning
    assert ok and len(records_of(found, "users")) == 2
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == []
