"""experiment_metrics: the experiments endpoint's CSV (``readers/metrics``, EXPERIMENTS layout) and its run:
the campaign ids, batches sized to the URI limit of its own path, one unit per batch on its own lane.

``VCR_2017`` is Iterable's real answer recorded in 2017 (mtchavez/iterable-api-client, cassette
Iterable_Experiments/metrics): CRLF line ends, no newline at the end, ``N/A`` and ``NaN`` cells."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from itertools import pairwise

import pytest
import requests_mock
from jsonschema import Draft7Validator

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import EXPERIMENT_METRICS, RESOURCES
from source_iterable.readers.metrics import MetricsRun
from source_iterable.readers.metrics.batches import (
    MAX_URI_LENGTH,
    URI_MARGIN,
    DateRange,
    batch_ids,
    request_url_length,
)
from source_iterable.readers.metrics.csv_body import UNPARSED_KEY, parse_metrics_csv
from source_iterable.readers.metrics.endpoints import CAMPAIGNS, EXPERIMENTS
from source_iterable.schema_files import stream_schema

from .builders import BASE_URL, FakeClock, context, drive, iterable_config
from .rfc3339 import FORMAT_CHECKER

UTC = timezone.utc
WINDOW = DateRange(datetime(2017, 1, 1, tzinfo=UTC), datetime(2017, 10, 7, tzinfo=UTC))
RANGE = {"startDateTime": "2017-01-01T00:00:00Z", "endDateTime": "2017-10-07T00:00:00Z"}
VCR_2017 = (
    "Campaign ID,Experiment ID,Template ID,Name,Type,Created by,Creation Date,Last modified,Subject,Improvement,"
    "Confidence,Total Email Sends,Email Delivery Rate,Total Emails Delivered,Total Email Opens,Unique Email "
    "Opens Or Clicks,Email Open Rate,Total Emails Clicked,Unique Email Clicks,Clicks / Opens,Email Click Rate,"
    "Total Hosted Unsubscribe Clicks,Unique Hosted Unsubscribe Clicks,Total Complaints,Complaint Rate,Total "
    "Emails Bounced,Unique Emails Bounced,Email Bounce Rate,Total Unsubscribes,Unique Unsubscribes,Email "
    "Unsubscribe Rate,Revenue,Total Purchases,Unique Purchases,Average Order Value,Purchases / M,Revenue / M\r\n"
    "176828,12041,254381,confirmation_favorite,Control,user@example.com,2017-10-02T16:15:33.780Z,"
    "2017-10-02T16:15:33.834Z,Your favorite vehicles,N/A,N/A,,,,,,,,,,,,,,,,,,,,,,,,,,\r\n"
    "176828,12041,258425,Variation 1,-,user@example.com,2017-10-06T22:55:34.807Z,2017-10-06T22:55:34.807Z,"
    "Your favorite vehicles,N/A,NaN,,,,,,,,,,,,,,,,,,,,,,,,,,"
)
HEADER = VCR_2017.split("\r\n")[0]


def test_the_recorded_answer_gives_one_typed_record_per_variant() -> None:
    # when Iterable's 2017 answer is parsed
    parsed = parse_metrics_csv(VCR_2017.encode(), EXPERIMENTS.layout, WINDOW)

    # then one record per variant: ids as integers, texts kept, dates in RFC 3339, N/A and NaN and
    # blank cells left out without counting as unparsed
    assert parsed.records == [
        {
            "campaignId": 176828,
            "experimentId": 12041,
            "templateId": 254381,
            "name": "confirmation_favorite",
            "type": "Control",
            "createdBy": "user@example.com",
            "creationDate": "2017-10-02T16:15:33.780Z",
            "lastModified": "2017-10-02T16:15:33.834Z",
            "subject": "Your favorite vehicles",
            **RANGE,
        },
        {
            "campaignId": 176828,
            "experimentId": 12041,
            "templateId": 258425,
            "name": "Variation 1",
            "type": "-",
            "createdBy": "user@example.com",
            "creationDate": "2017-10-06T22:55:34.807Z",
            "lastModified": "2017-10-06T22:55:34.807Z",
            "subject": "Your favorite vehicles",
            **RANGE,
        },
    ]
    assert (parsed.unparsed_cells, parsed.skipped_rows, parsed.ignored_columns) == (0, 0, ())
    assert (
        parsed.columns["Clicks / Opens"] == "clicksPerOpens"
        and parsed.columns["Revenue / M"] == "revenuePerM"
    )


def test_numbers_are_typed_and_other_text_is_kept_and_counted() -> None:
    # given a variant with numbers, a percent, a negative improvement and a cell that is no number
    row = "7000219,12041,9300001,Variation 1,-,a@b.c,2024-03-27T20:23:38.581Z,junk,S,-3.25,95.2,3253,96%,n.a."
    body = ",".join(HEADER.split(",")[:14]) + "\r\n" + row

    [record] = parse_metrics_csv(body, EXPERIMENTS.layout).records

    assert record["improvement"] == -3.25 and record["confidence"] == 95.2
    assert record["totalEmailSends"] == 3253 and record["emailDeliveryRate"] == 0.96
    assert record[UNPARSED_KEY] == {"lastModified": "junk", "totalEmailsDelivered": "n.a."}


@pytest.mark.parametrize("missing", ["Experiment ID", "Template ID"])
def test_a_row_without_its_key_is_skipped_and_a_header_without_it_is_not_the_csv(missing: str) -> None:
    body = "Campaign ID,Experiment ID,Template ID,Total Email Sends\r\n1,2,,5\r\n1,2,3,4"
    parsed = parse_metrics_csv(body, EXPERIMENTS.layout)
    assert [r["templateId"] for r in parsed.records] == [3] and parsed.skipped_rows == 1

    header = [t for t in body.split("\r\n")[0].split(",") if t != missing]
    with pytest.raises(ValueError, match=r"no '(experimentId|templateId)' column"):
        parse_metrics_csv(",".join(header) + "\r\n1,2,3", EXPERIMENTS.layout)


def test_a_header_alone_gives_no_record() -> None:
    assert parse_metrics_csv(HEADER, EXPERIMENTS.layout).records == []


def test_the_batches_fit_the_uri_limit_of_the_experiments_path() -> None:
    ids = list(range(7_000_000, 7_000_400))

    batches = batch_ids(BASE_URL, EXPERIMENTS.path, ids, WINDOW)

    # every id once, in order; each URL of this path within the limit, and as full as it allows
    assert [i for batch in batches for i in batch] == ids
    limit = MAX_URI_LENGTH - URI_MARGIN
    for batch, following in pairwise(batches):
        assert request_url_length(BASE_URL, EXPERIMENTS.path, batch, WINDOW) <= limit
        assert request_url_length(BASE_URL, EXPERIMENTS.path, [*batch, following[0]], WINDOW) > limit
    # the experiments path is two characters longer than campaigns/metrics: never more ids in a batch
    assert len(batches[0]) <= len(batch_ids(BASE_URL, CAMPAIGNS.path, ids, WINDOW)[0])


def test_the_recorded_records_validate_against_the_schema() -> None:
    validator = Draft7Validator(stream_schema("experiment_metrics"), format_checker=FORMAT_CHECKER)
    for record in parse_metrics_csv(VCR_2017, EXPERIMENTS.layout, WINDOW).records:
        assert list(validator.iter_errors(record)) == []


def test_the_run_asks_by_campaign_ids_on_its_own_lane_and_budget(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given two campaigns and the experiments endpoint answering the recorded CSV
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [{"id": 176828}, {"id": 176829}]})
    api.get(BASE_URL + EXPERIMENTS.path, text=VCR_2017)
    ctx = context(clock, iterable_config())
    run = MetricsRun(STREAMS_BY_NAME["experiment_metrics"], ctx)

    # when every unit is fetched
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        driven = drive(run)

    # then one request names both campaigns, and the variants are the records; nothing is warned
    [listing, metrics] = api.request_history
    assert listing.path == "/api/campaigns" and metrics.path == EXPERIMENTS.path
    assert metrics.qs["campaignId"] == ["176828", "176829"]
    assert [r["templateId"] for r in driven.records] == [254381, 258425]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_runs_units_are_the_listing_then_batches_on_the_experiment_metrics_lane(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + "/api/campaigns", json={"campaigns": [{"id": 7001}]})
    run = MetricsRun(STREAMS_BY_NAME["experiment_metrics"], context(clock, iterable_config()))
    listing = run.ready.popleft()
    assert listing.lane == RESOURCES

    run.fetched(listing, listing.fetch(listing))

    assert [(u.lane, u.label) for u in run.ready] == [
        (EXPERIMENT_METRICS, "campaigns batch 1 of 1 (7001..7001)")
    ]
    assert EXPERIMENT_METRICS == "experiment metrics"  # named like its budget (api/budgets.py)
