from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests_mock
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.errors import ApiError
from source_iterable.http import HttpSettings
from source_iterable.resource_streams import (
    JsonResourceStream,
    ListMembersStream,
    MetadataStream,
    PagedResourceStream,
)
from source_iterable.stream_base import IterableStream

from .builders import (
    BAD_API_KEY_BODY,
    BASE_URL,
    GENERIC_ERROR_BODY,
    NOT_FOUND_BODY,
    NOW,
    FakeClock,
    iterable_config,
    make_client,
    query_of,
)

START_DATE_MS = 1709251200000  # 2024-03-01T00:00:00Z, the builders' start_date


def build(
    kind: type[IterableStream], name: str, clock: FakeClock, settings: HttpSettings | None = None
) -> Any:
    config = iterable_config()
    return kind(STREAMS_BY_NAME[name], make_client(clock, config, settings=settings), config, lambda: NOW)


def drain(records: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], Exception | None]:
    """Every record the stream emits, and the exception it ends with (if any)."""
    out: list[Mapping[str, Any]] = []
    try:
        for record in records:
            out.append(record)
    except Exception as error:
        return out, error
    return out, None


# --- JSON resources ---------------------------------------------------------------------------


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

    records = list(build(JsonResourceStream, "channels", clock).read_records(SyncMode.full_refresh))

    assert records == channels


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

    records = list(build(JsonResourceStream, "lists", clock).read_records(SyncMode.full_refresh))

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

    [record] = build(JsonResourceStream, "message_types", clock).read_records(SyncMode.full_refresh)

    assert record == {
        "id": 52002,
        "createdAt": "2021-01-07T19:39:54.730Z",
        "updatedAt": "2023-02-07T12:23:00.223Z",
        "name": "Transactional Message",
        "channelId": 41002,
        "subscriptionPolicy": "OptOut",
    }


@pytest.mark.parametrize("payload", [{"data": []}, {"channels": None}, [], {"channels": {"id": 1}}])
def test_a_body_missing_the_data_array_raises(
    api: requests_mock.Mocker, clock: FakeClock, payload: Any
) -> None:
    api.get(BASE_URL + "/api/channels", json=payload)

    with pytest.raises(AirbyteTracedException) as caught:
        list(build(JsonResourceStream, "channels", clock).read_records(SyncMode.full_refresh))

    assert "no 'channels' array" in caught.value.message
    assert "stream 'channels'" in caught.value.message


# --- paged resources: campaigns and templates ---------------------------------------------


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
    monkeypatch.setattr(PagedResourceStream, "page_size", 2)
    return 2


def campaigns_stream(clock: FakeClock) -> PagedResourceStream:
    stream: PagedResourceStream = build(PagedResourceStream, "campaigns", clock)
    return stream


def test_default_page_size_is_the_api_maximum() -> None:
    assert PagedResourceStream.page_size == 1000


def test_a_full_page_asks_for_the_next_and_a_short_page_stops(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 4)])
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = list(campaigns_stream(clock).read_records(SyncMode.full_refresh))

    assert [r["id"] for r in records] == [1, 2, 3]
    assert pages.pages == [(1, 2), (2, 2)]


def test_an_empty_page_after_full_pages_stops(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 5)])
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = list(campaigns_stream(clock).read_records(SyncMode.full_refresh))

    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert pages.pages == [(1, 2), (2, 2), (3, 2)]


def test_paging_stops_when_the_total_count_is_reached(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages([campaign(i, 1709740000000 + i) for i in range(1, 5)], with_total=True)
    api.get(BASE_URL + "/api/campaigns", json=pages)

    records = list(campaigns_stream(clock).read_records(SyncMode.full_refresh))

    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert pages.pages == [(1, 2), (2, 2)]


def test_campaign_times_become_rfc3339(api: requests_mock.Mocker, clock: FakeClock) -> None:
    item = {**campaign(7012345, 1709740000123), "startAt": 1709740000120, "endedAt": 1710000000000}
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [item], "totalCampaignsCount": 1})

    [record] = campaigns_stream(clock).read_records(SyncMode.full_refresh)

    assert record["createdAt"] == "2024-03-05T15:58:41.000Z"
    assert record["updatedAt"] == "2024-03-06T15:46:40.123Z"
    assert record["startAt"] == "2024-03-06T15:46:40.120Z"
    assert record["endedAt"] == "2024-03-09T16:00:00.000Z"


def test_first_incremental_sync_keeps_records_updated_at_or_after_start_date(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    items = [campaign(1, START_DATE_MS - 1), campaign(2, START_DATE_MS), campaign(3, 1709740000123)]
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": items})
    stream = campaigns_stream(clock)

    records = list(stream.read_records(SyncMode.incremental))

    assert [r["id"] for r in records] == [2, 3]
    assert stream.state == {"updatedAt": "2024-03-06T15:46:40.123Z"}


def test_later_incremental_sync_keeps_records_updated_after_the_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a bookmark at campaign 2's update time
    items = [campaign(1, 1709740000000), campaign(2, 1709740000123), campaign(3, 1709740000124)]
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": items})
    stream = campaigns_stream(clock)
    stream.state = {"updatedAt": "2024-03-06T15:46:40.123000Z"}

    records = list(stream.read_records(SyncMode.incremental))

    assert [r["id"] for r in records] == [3]
    assert stream.state == {"updatedAt": "2024-03-06T15:46:40.124Z"}


def test_an_incremental_sync_with_nothing_new_keeps_the_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [campaign(1, 1709740000000)]})
    stream = campaigns_stream(clock)
    stream.state = {"updatedAt": "2024-03-09T00:00:00Z"}

    assert list(stream.read_records(SyncMode.incremental)) == []
    assert stream.state == {"updatedAt": "2024-03-09T00:00:00Z"}


def test_the_bookmark_moves_only_after_the_whole_collection(
    api: requests_mock.Mocker, clock: FakeClock, small_pages: int
) -> None:
    pages = CampaignPages(
        [campaign(1, 1709740000000), campaign(2, 1709740000001), campaign(3, 1710000000000)]
    )
    api.get(BASE_URL + "/api/campaigns", json=pages)
    stream = campaigns_stream(clock)

    records = iter(stream.read_records(SyncMode.incremental))
    next(records)
    assert stream.state == {}
    list(records)

    assert stream.state == {"updatedAt": "2024-03-09T16:00:00Z"}


def test_full_refresh_emits_everything_and_keeps_no_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [campaign(1, START_DATE_MS - 1)]})
    stream = campaigns_stream(clock)

    assert [r["id"] for r in stream.read_records(SyncMode.full_refresh)] == [1]
    assert stream.state == {}


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
    stream = build(PagedResourceStream, "templates", clock)

    records = list(stream.read_records(SyncMode.incremental))

    assert sorted(asked) == sorted(
        (kind, medium)
        for kind in ("Base", "Blast", "Triggered", "Workflow")
        for medium in ("Email", "Push", "InApp", "SMS")
    )
    assert len(asked) == 16
    assert [r["templateId"] for r in records] == [1, 2, 3]
    assert records[0]["updatedAt"] == "2024-03-06T15:46:30.000Z"
    assert stream.state == {"updatedAt": "2024-03-06T15:46:30Z"}


# --- list_users -------------------------------------------------------------------------------

LISTS = {
    "lists": [
        {"id": 3301122, "name": "Newsletter subscribers", "createdAt": 1617891908857, "listType": "Standard"},
        {"id": 3301150, "name": "Active last 30d", "createdAt": 1651234567890, "listType": "Dynamic"},
        {"id": 3301199, "name": "Do not mail", "createdAt": 1600000000000, "listType": "Suppression"},
    ]
}
GET_USERS_URL = BASE_URL + "/api/lists/getUsers"


def list_users_stream(clock: FakeClock) -> ListMembersStream:
    stream: ListMembersStream = build(ListMembersStream, "list_users", clock, HttpSettings(max_attempts=3))
    return stream


def test_list_users_emits_each_member_with_its_list_and_the_sync_start(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    api.get(BASE_URL + "/api/lists", json={"lists": LISTS["lists"][:1]})
    api.get(
        GET_USERS_URL + "?listId=3301122",
        text="ana.silva@example.com\n\nbo.li@example.org\r\n  \ncarlos+promo@example.net",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    records = list(list_users_stream(clock).read_records(SyncMode.full_refresh))

    assert records == [
        {"email": "ana.silva@example.com", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
        {"email": "bo.li@example.org", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
        {"email": "carlos+promo@example.net", "listId": 3301122, "updatedAt": "2024-03-10T12:00:00Z"},
    ]
    assert list(spool_dir.iterdir()) == []


def test_one_list_failing_does_not_stop_the_others_and_is_named_at_the_end(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given three lists, the middle one answering a persistent 500 GenericError
    api.get(BASE_URL + "/api/lists", json=LISTS)
    api.get(GET_USERS_URL + "?listId=3301122", text="ana.silva@example.com\nbo.li@example.org\n")
    api.get(GET_USERS_URL + "?listId=3301150", status_code=500, json=GENERIC_ERROR_BODY)
    api.get(GET_USERS_URL + "?listId=3301199", text="old.address@example.com\n")

    records, failure = drain(list_users_stream(clock).read_records(SyncMode.full_refresh))

    # then every other list was emitted
    assert [(r["email"], r["listId"]) for r in records] == [
        ("ana.silva@example.com", 3301122),
        ("bo.li@example.org", 3301122),
        ("old.address@example.com", 3301199),
    ]
    # and then the stream failed naming the list it could not read
    assert isinstance(failure, AirbyteTracedException)
    assert failure.failure_type == FailureType.system_error
    assert "list 3301150" in str(failure.message)
    assert "1 of 3 lists" in str(failure.message)
    assert "GenericError" in str(failure.message)
    assert "3301122" not in str(failure.message) and "3301199" not in str(failure.message)
    assert list(spool_dir.iterdir()) == []
    get_users_calls = [r for r in api.request_history if r.path == "/api/lists/getUsers"]
    assert [query_of(r.url)["listId"] for r in get_users_calls] == ["3301122"] + ["3301150"] * 3 + ["3301199"]


def test_a_refused_key_on_get_users_fails_at_once(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    api.get(BASE_URL + "/api/lists", json=LISTS)
    api.get(GET_USERS_URL, status_code=401, json=BAD_API_KEY_BODY)

    records, failure = drain(list_users_stream(clock).read_records(SyncMode.full_refresh))

    assert records == []
    assert isinstance(failure, ApiError)
    assert failure.failure_type == FailureType.config_error
    assert "list 3301122" in failure.message
    assert [r.path for r in api.request_history] == ["/api/lists", "/api/lists/getUsers"]


# --- metadata ---------------------------------------------------------------------------------


def key_entry(table: str, key: str, size: int, last_modified: int) -> dict[str, Any]:
    return {"table": table, "key": key, "size": size, "lastModified": last_modified}


def test_metadata_walks_tables_keys_and_values(api: requests_mock.Mocker, clock: FakeClock) -> None:
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
    stream = build(MetadataStream, "metadata", clock)

    records = list(stream.read_records(SyncMode.full_refresh))

    assert records == [
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
    assert stream.primary_key == ["table", "key"]
    assert {(r["table"], r["key"]) for r in records} == {
        ("products", "sku-1001"),
        ("products", "sku-1003"),
        ("stores", "sku-1001"),
    }


def test_metadata_names_in_paths_are_url_quoted(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(BASE_URL + "/api/metadata", json={"results": [{"name": "stores"}]})
    api.get(BASE_URL + "/api/metadata/stores", json={"results": [key_entry("stores", "nyc/01 east", 10, 0)]})
    api.get(BASE_URL + "/api/metadata/stores/nyc%2F01%20east", json={"value": {"open": True}})

    [record] = build(MetadataStream, "metadata", clock).read_records(SyncMode.full_refresh)

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

    assert list(build(MetadataStream, "metadata", clock).read_records(SyncMode.full_refresh)) == []
    assert api.call_count == 2


def test_a_metadata_body_missing_results_raises(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(BASE_URL + "/api/metadata", json={"tables": []})

    with pytest.raises(AirbyteTracedException, match="no 'results' array"):
        list(build(MetadataStream, "metadata", clock).read_records(SyncMode.full_refresh))
