"""The streams of issue 17 read through their runs (requests-mock, fake clock): journeys and catalogs as
paged resources, catalog items fanned out over the catalogs found at run time, snippets and webhooks as
JSON resources, and the forgotten users of each project type.

Bodies follow ../shared/iterable-api-more.md section 6; the catalog items answer and its 404 are the
2019 recordings of a real project (``{"msg", "code", "params": {...}}``)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock

from source_iterable.api.errors import FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import RESOURCES
from source_iterable.engine.units import Verdict
from source_iterable.readers import Selected, build_runs
from source_iterable.readers.catalog_items import CatalogItemsRun, is_new, later_pages, modified_ms
from source_iterable.readers.context import SyncContext
from source_iterable.readers.forgotten import ForgottenUsersRun
from source_iterable.state import NO_CURSOR, parse_bookmark

from .builders import (
    BASE_URL,
    FakeClock,
    context,
    drive,
    error_traces,
    iterable_config,
    query_of,
    records_of,
    run_engine,
    statuses_of,
)

START_MS = 1709251200000  # 2024-03-01T00:00:00Z, the builders' start_date
NOW_MS = 1710072000000  # 2024-03-10T12:00:00Z, the builders' NOW (the sync's start)
CATALOG_404 = {
    "msg": "You are trying to access catalog gone, but it does not yet exist. Please see our API docs to "
    "explicitly create the catalog.",
    "code": "NotFound",
    "params": None,
}


def ctx_of(clock: FakeClock, threaded: bool = False, **overrides: Any) -> SyncContext:
    return context(clock, iterable_config(**overrides), threaded=threaded)


def only_run(ctx: SyncContext, stream: str, incremental: bool = False, state: Any = None) -> Any:
    [run] = build_runs(
        [Selected(STREAMS_BY_NAME[stream], incremental)], ctx, {stream: state} if state else {}
    )
    return run


# ------------------------------------------------------------------ journeys


def journey(journey_id: int, updated: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": journey_id,
        "name": f"J{journey_id}",
        "createdAt": START_MS - 1000,
        "updatedAt": updated,
        **fields,
    }


class JourneyPages:
    """``/api/journeys``: the non-archived journeys, or the archived ones with ``state=Archived``."""

    def __init__(self, active: list[dict[str, Any]], archived: list[dict[str, Any]]) -> None:
        self.active, self.archived = active, archived
        self.asked: list[dict[str, str]] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        query = query_of(request.url)
        self.asked.append(query)
        items = self.archived if query.get("state") == "Archived" else self.active
        page, size = int(query["page"]), int(query["pageSize"])
        return {"journeys": items[(page - 1) * size : page * size], "totalJourneysCount": len(items)}


def test_journeys_are_read_in_pages_of_50_and_the_archived_listing_too(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given 120 journeys and 3 archived ones
    pages = JourneyPages(
        [journey(i, START_MS + i) for i in range(1, 121)],
        [journey(i, START_MS + i, isArchived=True) for i in range(501, 504)],
    )
    api.get(BASE_URL + "/api/journeys", json=pages)
    run = only_run(ctx_of(clock), "journeys")
    assert run.plan().requests == {"journeys": 2}

    # when the stream is read
    records = drive(run).records

    # then every journey arrives once, archived ones included, from pages of at most 50
    assert sorted(r["id"] for r in records) == [*range(1, 121), *range(501, 504)]
    assert [(q.get("state"), q["page"], q["pageSize"]) for q in pages.asked] == [
        (None, "1", "50"),
        (None, "2", "50"),
        (None, "3", "50"),
        ("Archived", "1", "50"),
    ]


def test_journey_times_and_its_drafts_times_become_rfc3339(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    draft = {
        "id": 9001,
        "createdAt": 1709740000123,
        "updatedAt": 1709740000000,
        "name": "d",
        "creatorUserId": "x",
    }
    api.get(BASE_URL + "/api/journeys", json={"journeys": [journey(7, 1709740000123, draft=draft)]})

    [record, *_] = drive(only_run(ctx_of(clock), "journeys")).records

    assert (
        record["createdAt"] == "2024-02-29T23:59:59.000Z"
        and record["updatedAt"] == "2024-03-06T15:46:40.123Z"
    )
    assert record["draft"]["createdAt"] == "2024-03-06T15:46:40.123Z"
    assert record["draft"]["updatedAt"] == "2024-03-06T15:46:40Z"


def test_journeys_incremental_keeps_the_changed_ones_and_never_bookmarks_past_the_sync_start(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a bookmark, a journey changed before it, one after it, and one stamped after the sync started
    items = [journey(1, START_MS + 10), journey(2, START_MS + 30), journey(3, NOW_MS + 5000)]
    api.get(BASE_URL + "/api/journeys", json={"journeys": items})
    run = only_run(ctx_of(clock), "journeys", True, {"updatedAt": "2024-03-01T00:00:00.020Z"})

    # when
    driven = drive(run)

    # then only the changed ones are emitted, and the bookmark stops at the sync's start
    assert [r["id"] for r in driven.records] == [2, 3]
    assert driven.final_state == {"updatedAt": "2024-03-10T12:00:00Z"}


def test_a_first_incremental_sync_of_old_journeys_bookmarks_the_start_date(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given journeys all changed before start_date
    api.get(BASE_URL + "/api/journeys", json={"journeys": [journey(1, START_MS - 5000)]})

    driven = drive(only_run(ctx_of(clock), "journeys", True))

    # then nothing is emitted, and the next sync does not reach back before start_date
    assert driven.records == []
    assert driven.final_state == {"updatedAt": "2024-03-01T00:00:00Z"}


# ------------------------------------------------------------------ catalogs


@pytest.mark.parametrize("enveloped", [True, False])
def test_catalogs_are_read_inside_or_outside_iterables_envelope(
    api: requests_mock.Mocker, clock: FakeClock, enveloped: bool
) -> None:
    body = {"catalogNames": [{"name": "products"}, {"name": "stores"}], "totalCatalogsCount": 2}
    api.get(
        BASE_URL + "/api/catalogs", json={"msg": "", "code": "Success", "params": body} if enveloped else body
    )

    driven = drive(only_run(ctx_of(clock), "catalogs"))

    assert driven.records == [{"name": "products"}, {"name": "stores"}]
    assert query_of(api.request_history[0].url) == {"page": "1", "pageSize": "100"}


# ------------------------------------------------------------------ catalog items


def item(catalog: str, item_id: str, modified: Any) -> dict[str, Any]:
    return {
        "catalogName": catalog,
        "itemId": item_id,
        "size": 13,
        "lastModified": modified,
        "value": {"n": 1},
    }


def items_body(items: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"catalogItemsWithProperties": items, "totalItemsCount": total or len(items)}
    return {"msg": "", "code": "Success", "params": inner}


def catalogs_body(*names: str) -> dict[str, Any]:
    return {"msg": "", "code": "Success", "params": {"catalogNames": [{"name": n} for n in names]}}


def test_modified_time_is_read_from_epoch_ms_or_a_date_time() -> None:
    assert modified_ms(1559574564000) == 1559574564000
    assert modified_ms("2019-06-03T15:09:24.000Z") == 1559574564000
    assert modified_ms("2019-06-03 15:09:24 +00:00") == 1559574564000
    assert modified_ms(True) is None and modified_ms("yesterday") is None and modified_ms(None) is None
    assert is_new(None, 5, False) and is_new(6, 5, False) and not is_new(5, 5, False) and is_new(5, 5, True)


def test_catalog_items_fan_out_over_the_catalogs_found_and_page_through_each(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given two catalogs, the first of 1001 items (two pages), the second empty
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("products", "empty"))
    big = [item("products", f"p{i}", START_MS + i) for i in range(1001)]
    api.get(
        BASE_URL + "/api/catalogs/products/items",
        [{"json": items_body(big[:1000], 1001)}, {"json": items_body(big[1000:], 1001)}],
    )
    api.get(BASE_URL + "/api/catalogs/empty/items", json=items_body([]))
    run = only_run(ctx_of(clock), "catalog_items")
    assert isinstance(run, CatalogItemsRun)

    # when
    driven = drive(run)

    # then every item of every catalog, lastModified as RFC 3339, and no bookmark in full refresh
    assert len(driven.records) == 1001
    assert driven.records[0] == {**big[0], "lastModified": "2024-03-01T00:00:00.000Z"}
    asked = [
        (r.path, query_of(r.url).get("page"), query_of(r.url).get("pageSize")) for r in api.request_history
    ]
    assert asked == [
        ("/api/catalogs", "1", "100"),
        ("/api/catalogs/products/items", "1", "1000"),
        ("/api/catalogs/empty/items", "1", "1000"),
        ("/api/catalogs/products/items", "2", "1000"),  # planned once page 1 told the count
    ]
    assert driven.final_state == NO_CURSOR


@pytest.mark.parametrize(
    "total,first_full,ranges",
    [
        (0, False, []),
        (1000, True, []),
        (1001, True, [(2, None)]),
        (21_000, True, [(2, None)]),
        (21_001, True, [(2, 21), (22, None)]),
        (1_000_000, True, [*((start, start + 19) for start in range(2, 982, 20)), (982, None)]),
        (None, True, [(2, None)]),
        (None, False, []),
    ],
)
def test_the_pages_after_the_first_are_units_of_20_the_last_one_open_ended(
    total: int | None, first_full: bool, ranges: list[tuple[int, int | None]]
) -> None:
    assert later_pages(total, first_full) == ranges


def test_a_large_catalog_is_read_in_units_of_20_pages_and_a_404_later_is_warned_about_once(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given a catalog of 45,000 items whose pages from 30 on answer 404 (deleted during the read)
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("big"))

    def page(request: Any, context: Any) -> dict[str, Any]:
        number = int(query_of(request.url)["page"])
        if number >= 30:
            context.status_code = 404
            return CATALOG_404
        return items_body([item("big", f"{number}-{i}", START_MS) for i in range(1000)], 45_000)

    api.get(BASE_URL + "/api/catalogs/big/items", json=page)
    run = only_run(ctx_of(clock), "catalog_items")

    # when
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        driven = drive(run)

    # then the pages came in units of 20 (pages 2-21, 22-41, 42 on), each stopping at its 404, the
    # items read before were kept, and one warning named the catalog
    assert driven.failures == [] and len(driven.records) == 29 * 1000
    asked = sorted({int(r.qs["page"][0]) for r in api.request_history if r.path.endswith("/items")})
    assert asked == [*range(1, 31), 42]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "stream 'catalog_items': catalog 'big' answered 404 on page 30 (deleted during the sync?); the items "
        "read before are emitted"
    ]


def test_the_units_of_a_large_catalog_are_planned_from_its_first_page(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("big"))
    api.get(
        BASE_URL + "/api/catalogs/big/items", json=items_body([item("big", "1", START_MS)] * 1000, 45_000)
    )
    run = only_run(ctx_of(clock), "catalog_items")
    listing = run.ready.popleft()
    run.fetched(listing, listing.fetch(listing))
    first = run.ready.popleft()

    fetched = first.fetch(first)
    run.fetched(first, fetched)
    fetched.batch.close()

    assert first.label == "catalog 'big'"
    assert [u.label for u in run.ready] == [
        "catalog 'big' pages 2-21",
        "catalog 'big' pages 22-41",
        "catalog 'big' pages 42-end",
    ]


def test_catalog_items_incremental_filters_on_either_form_of_last_modified(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a bookmark, and items carrying lastModified as epoch ms and as a date-time, old and new
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("a"))
    items = [
        item("a", "old-ms", 1709600000000),
        item("a", "new-ms", 1709800000000),
        item("a", "old-iso", "2024-03-05T00:00:00.000Z"),
        item("a", "new-iso", "2024-03-08T00:00:00.500Z"),
        item("a", "no-time", None),
    ]
    api.get(BASE_URL + "/api/catalogs/a/items", json=items_body(items))
    run = only_run(ctx_of(clock), "catalog_items", True, {"lastModified": "2024-03-06T00:00:00Z"})

    # when
    driven = drive(run)

    # then the new ones (and the one without a time) are emitted, and the bookmark is the newest time
    assert [r["itemId"] for r in driven.records] == ["new-ms", "new-iso", "no-time"]
    assert [r["lastModified"] for r in driven.records[:2]] == [
        "2024-03-07T08:26:40.000Z",
        "2024-03-08T00:00:00.500Z",
    ]
    assert driven.final_state == {"lastModified": "2024-03-08T00:00:00.500Z"}


def test_a_catalog_deleted_during_the_sync_is_warned_about_and_the_others_are_read(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given a catalog listed, then answering the recorded 404
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("gone", "kept"))
    api.get(BASE_URL + "/api/catalogs/gone/items", status_code=404, json=CATALOG_404)
    api.get(BASE_URL + "/api/catalogs/kept/items", json=items_body([item("kept", "k1", START_MS)]))

    # when
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        driven = drive(only_run(ctx_of(clock), "catalog_items"))

    # then the other catalog's items arrive, and one warning names the catalog
    assert [r["itemId"] for r in driven.records] == ["k1"] and driven.failures == []
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "catalog 'gone' answered 404 on page 1" in warning


def test_catalog_items_are_spooled_to_disk_not_held_in_memory(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/catalogs", json=catalogs_body("a"))
    api.get(BASE_URL + "/api/catalogs/a/items", json=items_body([item("a", "1", START_MS)]))
    run = only_run(ctx_of(clock), "catalog_items")
    listing = run.ready.popleft()
    run.fetched(listing, listing.fetch(listing))
    [unit] = run.ready
    assert unit.lane == RESOURCES and unit.label == "catalog 'a'"

    fetched = unit.fetch(unit)

    assert fetched.batch.lines == [] and [f.count for f in fetched.batch.files] == [1]
    fetched.batch.close()


# ------------------------------------------------------------------ snippets and webhooks


def test_snippet_times_become_rfc3339_utc(api: requests_mock.Mocker, clock: FakeClock) -> None:
    snippet = {
        "id": 501,
        "name": "footer",
        "createdAt": "2024-01-05T10:00:00.000Z",
        "updatedAt": "2024-02-01T09:30:00.250+01:00",
    }
    api.get(BASE_URL + "/api/snippets", json={"snippets": [snippet]})

    [record] = drive(only_run(ctx_of(clock), "snippets")).records

    assert record == {**snippet, "createdAt": "2024-01-05T10:00:00Z", "updatedAt": "2024-02-01T08:30:00.250Z"}


def test_webhooks_are_read_inside_iterables_envelope_too(api: requests_mock.Mocker, clock: FakeClock) -> None:
    webhook = {"id": 801, "endpoint": "https://hooks.example.com/x"}
    api.get(
        BASE_URL + "/api/webhooks", json={"msg": "", "code": "Success", "params": {"webhooks": [webhook]}}
    )

    assert drive(only_run(ctx_of(clock), "webhooks")).records == [webhook]


def test_a_key_refused_snippets_fails_that_stream_only(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a project where the key may read webhooks but not snippets (a feature it lacks)
    api.get(
        BASE_URL + "/api/snippets",
        status_code=403,
        json={"msg": "Forbidden", "code": "Forbidden", "params": None},
    )
    webhook = {"id": 801, "endpoint": "https://hooks.example.com/x", "enabled": True}
    api.get(BASE_URL + "/api/webhooks", json={"webhooks": [webhook]})
    ctx = ctx_of(clock, threaded=True)
    runs = build_runs(
        [Selected(STREAMS_BY_NAME["webhooks"], False), Selected(STREAMS_BY_NAME["snippets"], False)], ctx, {}
    )

    # when both are read
    ok, found = run_engine(runs, ctx)

    # then the webhooks arrive, and only snippets fails, named with its status
    assert not ok
    assert records_of(found, "webhooks") == [webhook]
    assert (
        statuses_of(found, "webhooks")[-1] == "COMPLETE"
        and statuses_of(found, "snippets")[-1] == "INCOMPLETE"
    )
    [trace] = [t for t in error_traces(found) if t.get("stream_descriptor")]
    assert trace["stream_descriptor"]["name"] == "snippets" and "HTTP 403" in trace["message"]


# ------------------------------------------------------------------ forgotten users

HASH_A = "92ef0f9fed1bf0281cf94e3e620390821efd9c2f0587dd6413f6375a888ce1a4"
HASH_B = "F4FDA7566649063CDD7E9978507A52D13C38E7C160F0530A055AE85593930C48"


@pytest.mark.parametrize(
    "project_type,paths",
    [
        ("email_based", ["/api/users/forgotten"]),
        ("hybrid", ["/api/users/forgotten", "/api/users/forgottenUserIds"]),
        ("userid_based", ["/api/users/forgottenUserIds"]),
    ],
)
def test_forgotten_users_asks_the_lists_of_the_project_type(
    api: requests_mock.Mocker, clock: FakeClock, project_type: str, paths: list[str]
) -> None:
    api.get(BASE_URL + "/api/users/forgotten", json={"hashedEmails": [HASH_A]})
    api.get(BASE_URL + "/api/users/forgottenUserIds", json={"hashedUserIds": [HASH_B]})
    run = only_run(ctx_of(clock, project_type=project_type), "forgotten_users")
    assert isinstance(run, ForgottenUsersRun) and run.plan().requests == {"forgotten users": len(paths)}

    driven = drive(run)

    assert [r.path for r in api.request_history] == paths
    expected = {
        "/api/users/forgotten": (HASH_A, "email"),
        "/api/users/forgottenUserIds": (HASH_B.lower(), "userId"),
    }
    assert driven.records == [{"hash": expected[p][0], "identifierTypes": [expected[p][1]]} for p in paths]
    assert driven.final_state == NO_CURSOR


def test_a_hash_in_both_lists_is_one_record_with_both_types(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/users/forgotten", json={"hashedEmails": [HASH_A, HASH_B]})
    api.get(BASE_URL + "/api/users/forgottenUserIds", json={"hashedUserIds": [HASH_A.upper(), 42]})

    driven = drive(only_run(ctx_of(clock, project_type="hybrid"), "forgotten_users"))

    assert driven.records == [
        {"hash": HASH_A, "identifierTypes": ["email", "userId"]},
        {"hash": HASH_B.lower(), "identifierTypes": ["email"]},
    ]


def test_the_error_of_the_wrong_project_type_says_to_check_project_type(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a userID-based project configured as email-based: the email list answers an error
    body = {
        "msg": "This endpoint is not available in userID-based projects",
        "code": "BadParams",
        "params": None,
    }
    api.get(BASE_URL + "/api/users/forgotten", status_code=400, json=body)

    driven = drive(only_run(ctx_of(clock), "forgotten_users"))

    [(_, error, verdict)] = driven.failures
    assert verdict is Verdict.FAIL_STREAM and error.failure_type is FailureType.config_error
    assert "stream 'forgotten_users'" in error.message and "HTTP 400" in error.message
    assert "only in email_based and hybrid projects: check that project_type (email_based)" in error.message


def test_no_bookmark_is_kept_for_a_full_refresh_stream_state() -> None:
    assert parse_bookmark("catalog_items", "lastModified", NO_CURSOR) is None
