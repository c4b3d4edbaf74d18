"""``readers/resources.py``: JSON resources, paged resources filtered on the client, and the metadata
fan-out, driven unit by unit (``builders.drive``) or through the engine."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock

from source_iterable.api.errors import ConnectorError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import RESOURCES
from source_iterable.engine.units import Verdict
from source_iterable.readers.context import SyncContext
from source_iterable.readers.resources import JsonResourceRun, MetadataRun, PagedResourceRun
from source_iterable.state import NO_CURSOR, parse_bookmark

from .builders import (
    BASE_URL,
    NOT_FOUND_BODY,
    FakeClock,
    context,
    drive,
    iterable_config,
    kinds_of,
    query_of,
    records_of,
    run_engine,
    states_of,
)

START_DATE_MS = 1709251200000  # 2024-03-01T00:00:00Z, the builders' start_date


def ctx_of(clock: FakeClock, threaded: bool = False) -> SyncContext:
    return context(clock, iterable_config(), threaded=threaded)


def json_run(clock: FakeClock, name: str) -> JsonResourceRun:
    return JsonResourceRun(STREAMS_BY_NAME[name], ctx_of(clock))


# ------------------------------------------------------------------ JSON resources


def test_channels_are_emitted_as_sent(api: requests_mock.Mocker, clock: FakeClock) -> None:
    channels = [
        {"id": 41001, "name": "Marketing Channel", "channelType": "Marketing", "messageMedium": "Email"},
        {
            "id": 41002,
            "name": "Transactional Channel",
            "channelType": "Transactional",
            "messageMedium": "Email",
        },
    ]
    api.get(BASE_URL + "/api/channels", json={"channels": channels})
    run = json_run(clock, "channels")
    assert [unit.lane for unit in run.ready] == [RESOURCES] and run.plan().requests == {RESOURCES: 1}

    driven = drive(run)

    assert driven.records == channels
    assert driven.final_state == NO_CURSOR
    assert api.call_count == 1


def test_lists_created_at_becomes_rfc3339(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(
        BASE_URL + "/api/lists",
        json={
            "lists": [
                {"id": 3301122, "name": "Newsletter", "createdAt": 1617891908857, "listType": "Standard"},
                {
                    "id": 3301199,
                    "name": "Do not mail",
                    "createdAt": 1600000000000,
                    "listType": "Suppression",
                    "isGlobalSuppressionEnabled": False,
                },
            ]
        },
    )

    records = drive(json_run(clock, "lists")).records

    assert records == [
        {
            "id": 3301122,
            "name": "Newsletter",
            "createdAt": "2021-04-08T14:25:08.857Z",
            "listType": "Standard",
        },
        {
            "id": 3301199,
            "name": "Do not mail",
            "createdAt": "2020-09-13T12:26:40.000Z",
            "listType": "Suppression",
            "isGlobalSuppressionEnabled": False,
        },
    ]


def test_message_types_created_and_updated_become_rfc3339(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(
        BASE_URL + "/api/messageTypes",
        json={
            "messageTypes": [
                {
                    "id": 52002,
                    "createdAt": 1610048394730,
                    "updatedAt": 1675772580223,
                    "name": "Transactional Message",
                    "channelId": 41002,
                    "subscriptionPolicy": "OptOut",
                },
            ]
        },
    )

    [record] = drive(json_run(clock, "message_types")).records

    assert record == {
        "id": 52002,
        "createdAt": "2021-01-07T19:39:54.730Z",
        "updatedAt": "2023-02-07T12:23:00.223Z",
        "name": "Transactional Message",
        "channelId": 41002,
        "subscriptionPolicy": "OptOut",
    }


@pytest.mark.parametrize("payload", [{"data": []}, {"channels": None}, [], {"channels": {"id": 1}}])
def test_a_body_missing_the_data_array_fails_the_stream(
    api: requests_mock.Mocker, clock: FakeClock, payload: Any
) -> None:
    api.get(BASE_URL + "/api/channels", json=payload)

    driven = drive(json_run(clock, "channels"))

    [(_, error, verdict)] = driven.failures
    assert "no 'channels' array" in error.message
    assert "stream 'channels'" in error.message
    assert error.failure_type is FailureType.system_error
    assert verdict is Verdict.FAIL_STREAM
    assert driven.records == []


# ------------------------------------------------------------------ paged resources: campaigns and templates


def campaign(campaign_id: int, updated_at: int) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "createdAt": 1709654321000,
        "updatedAt": updated_at,
        "name": f"Campaign {campaign_id}",
        "messageMedium": "Email",
        "campaignState": "Finished",
        "type": "Blast",
    }


class CampaignPages:
    """``/api/campaigns?page=N&pageSize=M``: slices ``items`` into pages, optionally with the total."""

    def __init__(self, items: list[dict[str, Any]], with_total: bool = False) -> None:
        self.items = items
        self.with_total = with_total
        self.pages: list[tuple[int, int]] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        query = query_of(request.url)
        page, size = int(query["page"]), int(query["pageSize"])
        self.pages.append((page, size))
        body: dict[str, Any] = {"campaigns": self.items[(page - 1) * size : page * size]}
        if self.with_total:
            body["totalCampaignsCount"] = len(self.items)
        return body


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(PagedResourceRun, "page_size", 2)
    return 2


def campaigns_run(
    clock: FakeClock, incremental: bool = False, bookmark: str | None = None, ctx: SyncContext | None = None
) -> PagedResourceRun:
    state = {"updatedAt": bookmark} if bookmark else None
    return PagedResourceRun(
        STREAMS_BY_NAME["campaigns"],
        ctx or ctx_of(clock),
        incremental,
        parse_bookmark("campaigns", "updatedAt", state),
    )


def test_default_page_size_is_the_api_maximum() -> None:
    assert PagedResourceRun.page_size == 1000


def test_a_full_page_asks_for_the_next_and_a_short_page_stops(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 4)])
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = drive(campaigns_run(clock)).records

    assert [r["id"] for r in records] == [1, 2, 3]
    assert pages.pages == [(1, 2), (2, 2)]


def test_an_empty_page_after_full_pages_stops(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 5)])
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = drive(campaigns_run(clock)).records

    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert pages.pages == [(1, 2), (2, 2), (3, 2)]


def test_paging_stops_when_the_total_count_is_reached(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 5)], with_total=True)
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = drive(campaigns_run(clock)).records

    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert pages.pages == [(1, 2), (2, 2)]


def test_a_campaign_listed_on_two_pages_is_emitted_once(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    # given a campaign created during the read, which shifts campaign 2 onto the next page too
    api.get(
        BASE_URL + "/api/campaigns",
        [
            {"json": {"campaigns": [campaign(1, 1), campaign(2, 2)]}},
            {"json": {"campaigns": [campaign(2, 2), campaign(3, 3)]}},
            {"json": {"campaigns": []}},
        ],
    )

    assert [r["id"] for r in drive(campaigns_run(clock)).records] == [1, 2, 3]


def test_campaign_times_become_rfc3339(api: requests_mock.Mocker, clock: FakeClock) -> None:
    item = {**campaign(7012345, 1709740000123), "startAt": 1709740000120, "endedAt": 1710000000000}
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [item], "totalCampaignsCount": 1})

    [record] = drive(campaigns_run(clock)).records

    assert record["createdAt"] == "2024-03-05T15:58:41.000Z"
    assert record["updatedAt"] == "2024-03-06T15:46:40.123Z"
    assert record["startAt"] == "2024-03-06T15:46:40.120Z"
    assert record["endedAt"] == "2024-03-09T16:00:00.000Z"


def test_first_incremental_sync_keeps_records_updated_at_or_after_start_date(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    items = [campaign(1, START_DATE_MS - 1), campaign(2, START_DATE_MS), campaign(3, 1709740000123)]
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": items})

    driven = drive(campaigns_run(clock, incremental=True))

    assert [r["id"] for r in driven.records] == [2, 3]
    assert driven.final_state == {"updatedAt": "2024-03-06T15:46:40.123Z"}


def test_later_incremental_sync_keeps_records_updated_after_the_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a bookmark at campaign 2's update time
    items = [campaign(1, 1709740000000), campaign(2, 1709740000123), campaign(3, 1709740000124)]
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": items})

    driven = drive(campaigns_run(clock, incremental=True, bookmark="2024-03-06T15:46:40.123000Z"))

    assert [r["id"] for r in driven.records] == [3]
    assert driven.final_state == {"updatedAt": "2024-03-06T15:46:40.124Z"}


def test_an_incremental_sync_with_nothing_new_keeps_the_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [campaign(1, 1709740000000)]})

    driven = drive(campaigns_run(clock, incremental=True, bookmark="2024-03-09T00:00:00Z"))

    assert driven.records == []
    assert driven.final_state == {"updatedAt": "2024-03-09T00:00:00Z"}


def test_the_bookmark_moves_only_after_the_whole_collection(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    # given three campaigns on two pages, the newest on the second
    pages = CampaignPages(
        [campaign(1, 1709740000000), campaign(2, 1709740000001), campaign(3, 1710000000000)]
    )
    api.get(BASE_URL + "/api/campaigns", json=pages)

    # when the engine reads the stream
    ctx = ctx_of(clock, threaded=True)
    ok, found = run_engine([campaigns_run(clock, incremental=True, ctx=ctx)], ctx)

    # then its one STATE comes after every record, at the newest update
    assert ok
    assert kinds_of(found, "campaigns") == ["STARTED", "RUNNING", "RECORD", "STATE", "COMPLETE"]
    assert [r["id"] for r in records_of(found, "campaigns")] == [1, 2, 3]
    assert states_of(found, "campaigns") == [{"updatedAt": "2024-03-09T16:00:00Z"}]


def test_full_refresh_emits_everything_and_keeps_no_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [campaign(1, START_DATE_MS - 1)]})

    driven = drive(campaigns_run(clock))

    assert [r["id"] for r in driven.records] == [1]
    assert driven.final_state == {}


def template(template_id: int, updated_at: int = 1709739990000) -> dict[str, Any]:
    return {
        "templateId": template_id,
        "createdAt": 1709654300000,
        "updatedAt": updated_at,
        "name": f"Template {template_id}",
        "creatorUserId": "marketer@shop.example",
        "messageTypeId": 52001,
    }


def test_templates_fan_out_over_every_type_and_medium_and_dedupe(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given template 2 listed under two combinations
    served = {("Base", "Email"): [template(1), template(2)], ("Blast", "Email"): [template(2), template(3)]}
    asked: list[tuple[str, str]] = []

    def templates(request: Any, context: Any) -> dict[str, Any]:
        query = query_of(request.url)
        asked.append((query["templateType"], query["messageMedium"]))
        assert (query["page"], query["pageSize"]) == ("1", "1000")
        return {"templates": served.get(asked[-1], []), "totalTemplatesCount": len(served.get(asked[-1], []))}

    api.get(BASE_URL + "/api/templates", json=templates)
    run = PagedResourceRun(STREAMS_BY_NAME["templates"], ctx_of(clock), True, None)

    driven = drive(run)

    assert sorted(asked) == sorted(
        (kind, medium)
        for kind in ("Base", "Blast", "Triggered", "Workflow")
        for medium in ("Email", "Push", "InApp", "SMS")
    )
    assert len(asked) == 16
    assert [r["templateId"] for r in driven.records] == [1, 2, 3]
    assert driven.records[0]["updatedAt"] == "2024-03-06T15:46:30.000Z"
    assert driven.final_state == {"updatedAt": "2024-03-06T15:46:30Z"}
    assert run.plan().requests == {RESOURCES: 16}


# ------------------------------------------------------------------ metadata


def key_entry(table: str, key: str, size: int, last_modified: int) -> dict[str, Any]:
    return {"table": table, "key": key, "size": size, "lastModified": last_modified}


def metadata_run(clock: FakeClock) -> MetadataRun:
    return MetadataRun(STREAMS_BY_NAME["metadata"], ctx_of(clock))


def test_metadata_walks_tables_keys_and_values(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given two tables; products has two pages of keys and one key deleted during the sync,
    # and stores has a key of the same name as one in products
    api.get(BASE_URL + "/api/metadata", json={"results": [{"name": "products"}, {"name": "stores"}]})

    def product_keys(request: Any, context: Any) -> dict[str, Any]:
        if query_of(request.url).get("nextMarker") == "c2t1LTEwMDI=":
            return {"results": [key_entry("products", "sku-1003", 99, 1697040500456)]}
        return {
            "results": [
                key_entry("products", "sku-1001", 187, 1697040000123),
                key_entry("products", "sku-1002", 203, 1697040500456),
            ],
            "nextMarker": "c2t1LTEwMDI=",
        }

    api.get(BASE_URL + "/api/metadata/products", json=product_keys)
    api.get(
        BASE_URL + "/api/metadata/stores",
        json={"results": [key_entry("stores", "sku-1001", 64, 1700000000000)]},
    )
    sku_1001 = {"name": "Trail Runner 2", "sku": "sku-1001", "price": 129, "categories": ["shoes", "running"]}
    api.get(
        BASE_URL + "/api/metadata/products/sku-1001",
        json={**key_entry("products", "sku-1001", 187, 1697040000123), "value": sku_1001},
    )
    api.get(BASE_URL + "/api/metadata/products/sku-1002", status_code=404, json=NOT_FOUND_BODY)
    api.get(
        BASE_URL + "/api/metadata/products/sku-1003",
        json={**key_entry("products", "sku-1003", 99, 1697040500456), "value": {"sku": "sku-1003"}},
    )
    api.get(
        BASE_URL + "/api/metadata/stores/sku-1001",
        json={
            **key_entry("stores", "sku-1001", 64, 1700000000000),
            "value": {"city": "New York", "open": True},
        },
    )

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        driven = drive(metadata_run(clock))

    assert driven.records == [
        {
            "table": "products",
            "key": "sku-1001",
            "size": 187,
            "lastModified": "2023-10-11T16:00:00.123Z",
            "value": sku_1001,
        },
        {
            "table": "products",
            "key": "sku-1003",
            "size": 99,
            "lastModified": "2023-10-11T16:08:20.456Z",
            "value": {"sku": "sku-1003"},
        },
        {
            "table": "stores",
            "key": "sku-1001",
            "size": 64,
            "lastModified": "2023-11-14T22:13:20.000Z",
            "value": {"city": "New York", "open": True},
        },
    ]
    assert STREAMS_BY_NAME["metadata"].primary_key == ("table", "key")
    assert {(r["table"], r["key"]) for r in driven.records} == {
        ("products", "sku-1001"),
        ("products", "sku-1003"),
        ("stores", "sku-1001"),
    }
    assert driven.final_state == NO_CURSOR
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "key 'sku-1002' of table 'products' vanished during the sync" in warning


def test_metadata_values_are_fetched_in_chunks_printed_in_planned_order(
    api: requests_mock.Mocker, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one table of five keys and chunks of two values
    from source_iterable.readers import resources

    monkeypatch.setattr(resources, "METADATA_VALUES_PER_UNIT", 2)
    api.get(BASE_URL + "/api/metadata", json={"results": [{"name": "t"}]})
    api.get(BASE_URL + "/api/metadata/t", json={"results": [key_entry("t", f"k{n}", 1, 0) for n in range(5)]})
    for n in range(5):
        api.get(BASE_URL + f"/api/metadata/t/k{n}", json={"value": n})
    run = metadata_run(clock)

    driven = drive(run)

    assert [r["key"] for r in driven.records] == ["k0", "k1", "k2", "k3", "k4"]
    assert driven.records[0]["value"] == 0  # a value that is not an object is kept under "value"
    assert run.planned == 5  # tables, keys, and three chunks of values


def test_metadata_names_in_paths_are_url_quoted(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(BASE_URL + "/api/metadata", json={"results": [{"name": "stores"}]})
    api.get(BASE_URL + "/api/metadata/stores", json={"results": [key_entry("stores", "nyc/01 east", 10, 0)]})
    api.get(BASE_URL + "/api/metadata/stores/nyc%2F01%20east", json={"value": {"open": True}})

    [record] = drive(metadata_run(clock)).records

    assert record == {
        "table": "stores",
        "key": "nyc/01 east",
        "size": 10,
        "lastModified": "1970-01-01T00:00:00.000Z",
        "value": {"open": True},
    }


def test_an_unknown_table_has_no_keys(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(BASE_URL + "/api/metadata", json={"results": [{"name": "exampletable"}]})
    api.get(BASE_URL + "/api/metadata/exampletable", json={"results": []})

    assert drive(metadata_run(clock)).records == []
    assert api.call_count == 2


def test_a_metadata_body_missing_results_fails_the_stream(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/metadata", json={"tables": []})

    [(_, error, verdict)] = drive(metadata_run(clock)).failures

    assert isinstance(error, ConnectorError) and "no 'results' array" in error.message
    assert verdict is Verdict.FAIL_STREAM
