"""The fake Iterable serves every other channel's export type (channel_events.py) over real HTTP."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import orjson
import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.channel_events import CHANNEL_TYPES
from integration_tests.fake_iterable.people import BOUNDARY_SECONDS, SHARED_SECOND
from integration_tests.fake_iterable.timefmt import export_ts
from integration_tests.harness import TEST_API_KEY

pytestmark = pytest.mark.integration

EXPORT = "/api/export/data.json"
EXPORT_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+00:00")
SENDS = {
    "pushSend": ("pushOpen", "pushBounce", "pushUninstall"),
    "inAppSend": ("inAppOpen", "inAppClick", "inAppClose", "inAppDelete", "inAppDelivery"),
    "smsSend": ("smsBounce", "smsClick", "smsUsageInfo"),
    "whatsAppSend": ("whatsAppBounce", "whatsAppClick", "whatsAppUsageInfo"),
    "embeddedSend": ("embeddedClick", "embeddedReceived", "embeddedImpression"),
}


def export(server: FakeIterable, data_type: str, **params: str) -> list[dict[str, Any]]:
    response = requests.get(
        server.base_url + EXPORT,
        params={"dataTypeName": data_type, **params},
        headers={"Api-Key": TEST_API_KEY},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    return [orjson.loads(line) for line in response.content.splitlines() if line]


def canonical(rows: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in rows)


def nulls(node: Any) -> int:
    if node is None:
        return 1
    if isinstance(node, dict):
        return sum(nulls(value) for value in node.values())
    if isinstance(node, list):
        return sum(nulls(value) for value in node)
    return 0


@pytest.mark.parametrize("data_type", CHANNEL_TYPES)
def test_data_json_serves_every_row_of_the_type(server: FakeIterable, data_type: str) -> None:
    # given a dataTypeName of another channel and its rows in the dataset
    expected = server.dataset.exports[data_type]
    # when the whole range is exported
    served = export(server, data_type, range="All")
    # then exactly those rows come back, a few dozen to a few hundred of them
    assert canonical(served) == canonical(expected)
    assert 40 <= len(served) <= 400
    # and createdAt has the export form, with rows at every boundary second and two sharing one
    stamps = Counter(str(row["createdAt"]) for row in served)
    assert all(EXPORT_TIME.fullmatch(stamp) for stamp in stamps)
    assert all(stamps[export_ts(second)] >= 1 for second in BOUNDARY_SECONDS)
    assert stamps[export_ts(SHARED_SECOND)] >= 2
    # and optional keys are left out, never sent as null
    assert sum(nulls(row) for row in served) == 0


@pytest.mark.parametrize("data_type", ["inAppClick", "smsSend", "whatsAppReceived", "embeddedSession"])
def test_the_window_filters_on_created_at_start_inclusive_end_exclusive(
    server: FakeIterable, data_type: str
) -> None:
    # given a January window
    start, end = "2024-01-01 00:00:00 +00:00", "2024-01-31 00:00:00 +00:00"
    # when it is exported
    served = export(server, data_type, startDateTime=start[:19], endDateTime=end[:19])
    # then it holds the rows of that window only, both boundary seconds handled
    expected = [row for row in server.dataset.exports[data_type] if start <= str(row["createdAt"]) < end]
    assert canonical(served) == canonical(expected)
    created = {str(row["createdAt"]) for row in served}
    assert start in created and "2024-01-30 23:59:59 +00:00" in created
    assert end not in created and "2023-12-31 23:59:59 +00:00" not in created


def test_the_type_name_is_matched_case_insensitively(server: FakeIterable) -> None:
    # given the documented spelling and a lower-case one
    # when both are exported
    # then they answer the same rows
    assert canonical(export(server, "whatsappsend", range="All")) == canonical(
        export(server, "whatsAppSend", range="All")
    )


@pytest.mark.parametrize("data_type", ["pushSend", "smsSend", "whatsAppSend", "inAppSend", "rcsSendSkip"])
def test_transactional_data_is_a_json_string(server: FakeIterable, data_type: str) -> None:
    # given the rows of a send or skip type
    rows = export(server, data_type, range="All")
    payloads = [row["transactionalData"] for row in rows if "transactionalData" in row]
    # when looking at transactionalData
    # then some rows carry it, always as a string, and it is JSON unless deliberately broken
    assert payloads
    assert all(isinstance(payload, str) for payload in payloads)
    decodable = 0
    for payload in payloads:
        try:
            decodable += isinstance(orjson.loads(payload), dict)
        except orjson.JSONDecodeError:
            assert payload == "not json {"
    assert decodable >= len(payloads) - 1


def test_ids_refer_to_the_dataset_campaigns_channels_and_message_types(server: FakeIterable) -> None:
    # given the dataset's campaigns, channels and message types
    dataset = server.dataset
    campaigns = {int(str(c["id"])) for c in dataset.campaigns}
    channels = {int(str(c["id"])) for c in dataset.channels}
    channel_of = {int(str(m["id"])): int(str(m["channelId"])) for m in dataset.message_types}
    # when reading every other channel's rows
    rows = [row for data_type in CHANNEL_TYPES for row in dataset.exports[data_type]]
    # then their ids exist there, and a row's message type belongs to its channel
    assert {row["campaignId"] for row in rows if "campaignId" in row} <= campaigns
    assert {row["channelId"] for row in rows if "channelId" in row} <= channels
    for row in rows:
        if "messageTypeId" in row:
            assert channel_of[int(str(row["messageTypeId"]))] == row["channelId"], row


@pytest.mark.parametrize("send, engagements", sorted(SENDS.items()))
def test_engagement_rows_reuse_the_message_ids_of_sends(
    server: FakeIterable, send: str, engagements: tuple[str, ...]
) -> None:
    # given the messageIds of a channel's sends
    sent = {row["messageId"] for row in server.dataset.exports[send]}
    for engagement in engagements:
        # when reading the opens, clicks, bounces... of that channel
        ids = [row["messageId"] for row in server.dataset.exports[engagement]]
        # then most of them refer to a real send
        assert sum(message_id in sent for message_id in ids) >= 0.7 * len(ids), engagement
