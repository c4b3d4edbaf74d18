"""``readers/metrics/run.py``: campaigns_metrics lists every campaign id, then asks for their metrics in
batches sized to the URI limit, one unit per batch on the campaign metrics lane."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pytest
import requests_mock

from source_iterable.api.client import HttpSettings
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import METRICS, RESOURCES
from source_iterable.engine.units import Verdict
from source_iterable.readers.context import SyncContext
from source_iterable.readers.metrics import MetricsRun
from source_iterable.readers.metrics import run as metrics_reader
from source_iterable.readers.metrics.batches import URI_MARGIN, batch_ids, request_url_length
from source_iterable.readers.metrics.endpoints import CAMPAIGNS
from source_iterable.state import NO_CURSOR

from .builders import BASE_URL, FakeClock, context, drive, iterable_config

CAMPAIGNS_URL = BASE_URL + "/api/campaigns"
METRICS_PATH = CAMPAIGNS.path
METRICS_URL = BASE_URL + METRICS_PATH
RANGE = {"startDateTime": "2024-03-01T00:00:00Z", "endDateTime": "2024-03-10T12:00:00Z"}


def metrics_context(clock: FakeClock, **settings: Any) -> SyncContext:
    return context(clock, iterable_config(), settings=HttpSettings(backoff_base=1.0, **settings))


def metrics_run(ctx: SyncContext) -> MetricsRun:
    return MetricsRun(STREAMS_BY_NAME["campaigns_metrics"], ctx)


def campaigns(*ids: Any) -> dict[str, Any]:
    return {"campaigns": [{"id": campaign_id, "name": f"c{campaign_id}"} for campaign_id in ids]}


def test_one_batch_of_ids_gives_one_record_per_campaign_with_the_range(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given three campaigns (and two entries without a usable id) and their metrics as CSV
    api.get(CAMPAIGNS_URL, json={"campaigns": [*campaigns(7001, 7002, 7003)["campaigns"], {"id": True}, {}]})
    api.get(METRICS_URL, text="id,Total Email Sends,Unique Email Opens\n7001,57,12\n7002,5,0\n7003,,1\n")
    run = metrics_run(metrics_context(clock))

    # when every unit is fetched
    with caplog.at_level(logging.INFO, logger="airbyte"):
        driven = drive(run)

    # then one record per campaign, typed, with the range the request asked for
    assert driven.records == [
        {"id": 7001, "totalEmailSends": 57, "uniqueEmailOpens": 12, **RANGE},
        {"id": 7002, "totalEmailSends": 5, "uniqueEmailOpens": 0, **RANGE},
        {"id": 7003, "uniqueEmailOpens": 1, **RANGE},
    ]
    assert driven.final_state == NO_CURSOR
    metrics_call = api.request_history[-1]
    assert metrics_call.qs == {
        "campaignId": ["7001", "7002", "7003"],
        "startDateTime": ["2024-03-01T00:00:00Z"],
        "endDateTime": ["2024-03-10T12:00:00Z"],
    }
    assert any("3 campaigns in 1 requests" in r.getMessage() for r in caplog.records)


def test_the_ids_are_listed_page_by_page_and_batched_by_the_uri_limit(
    api: requests_mock.Mocker, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given pages of two campaigns and a URI limit that fits two ids per request
    monkeypatch.setattr(metrics_reader, "PAGE_SIZE", 2)
    api.get(CAMPAIGNS_URL, [{"json": campaigns(1, 2)}, {"json": campaigns(3, 4)}, {"json": campaigns(5)}])
    run = metrics_run(metrics_context(clock))
    two_ids = request_url_length(BASE_URL, METRICS_PATH, [1, 2], run.range) + URI_MARGIN
    monkeypatch.setattr(metrics_reader, "batch_ids", partial(batch_ids, max_uri_length=two_ids))
    ids_unit = run.ready.popleft()
    assert ids_unit.lane == RESOURCES

    # when the ids are fetched and fed back
    fetched = ids_unit.fetch(ids_unit)
    run.fetched(ids_unit, fetched)

    # then every page was read and the batches became units of the metrics lane
    assert [r.qs["page"] for r in api.request_history] == [["1"], ["2"], ["3"]]
    assert fetched.found == [[1, 2], [3, 4], [5]]
    assert [(unit.lane, unit.label) for unit in run.ready] == [
        (METRICS, "campaigns batch 1 of 3 (1..2)"),
        (METRICS, "campaigns batch 2 of 3 (3..4)"),
        (METRICS, "campaigns batch 3 of 3 (5..5)"),
    ]


def test_a_body_that_is_not_the_metrics_csv_is_retried_then_fails_the_stream(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CAMPAIGNS_URL, json=campaigns(7001))
    api.get(
        METRICS_URL, text="<html><title>Maintenance</title></html>", headers={"Content-Type": "text/html"}
    )

    driven = drive(metrics_run(metrics_context(clock, max_attempts=3)))

    [(_, error, verdict)] = driven.failures
    assert verdict is Verdict.FAIL_STREAM
    assert "stream 'campaigns_metrics'" in error.message and "failed after 3 attempts" in error.message
    assert "HTML page titled 'Maintenance'" in error.message
    assert len([r for r in api.request_history if r.path == METRICS_PATH]) == 3
    assert driven.records == []


def test_cells_that_are_not_numbers_are_kept_and_reported_once(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(CAMPAIGNS_URL, json=campaigns(7001))
    api.get(METRICS_URL, text="id,Total Email Sends\n7001,N/A\n")

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        [record] = drive(metrics_run(metrics_context(clock))).records

    assert record == {"id": 7001, **RANGE, "_unparsedValues": {"totalEmailSends": "N/A"}}
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 non-numeric cell(s) kept as text in '_unparsedValues'" in warning


def test_no_campaigns_means_no_metrics_request(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CAMPAIGNS_URL, json={"campaigns": []})

    driven = drive(metrics_run(metrics_context(clock)))

    assert driven.records == [] and driven.final_state == NO_CURSOR
    assert [r.path for r in api.request_history] == ["/api/campaigns"]
