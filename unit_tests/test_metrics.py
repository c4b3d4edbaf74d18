"""``readers/metrics`` (campaigns): URI-sized batches, request params, column keys, numbers and CSV bodies.

Bodies marked "real" are Iterable's own answers: the 2017 recordings of ``mtchavez/iterable-api-client``
and the column titles of Airbyte's 2023 sandbox records (docs/api-campaigns-metrics.md, section 0).
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator, FormatChecker

from integration_tests.fake_iterable.data import build_dataset
from integration_tests.fake_iterable.metrics import metrics_csv
from source_iterable.api.budgets import BUDGETS, project_limiters
from source_iterable.readers.metrics.batches import (
    END_KEY,
    MAX_URI_LENGTH,
    START_KEY,
    URI_MARGIN,
    DateRange,
    batch_ids,
    metrics_params,
    request_url_length,
)
from source_iterable.readers.metrics.csv_body import (
    UNPARSED_KEY,
    MetricsBodyError,
    column_key,
    parse_metrics_csv,
    parse_number,
)
from source_iterable.readers.metrics.endpoints import CAMPAIGNS

UTC = timezone.utc
US = "https://api.iterable.com"
EU = "https://api.eu.iterable.com"
PROXY = "https://iterable-egress.corp-gateway.eu-west-1.internal.example.com:8443"
WINDOW = DateRange(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 30, 12, 30, 5, tzinfo=UTC))
BUDGET = MAX_URI_LENGTH - URI_MARGIN
METRICS_PATH = CAMPAIGNS.path
SCHEMA_FILE = (
    Path(__file__).resolve().parent.parent / "source_iterable" / "schemas" / "campaigns_metrics.json"
)

# Real, 2017 (VCR): every metric column twice, counts as "57" but one count as "16.0".
VCR_2017 = (
    "id,Average Order Value,Average Order Value,Purchases / M,Purchases / M,Revenue,Revenue,Revenue / M,"
    "Revenue / M,Total Complaints,Total Complaints,Total Email Opens,Total Email Opens,Total Email Sends,"
    "Total Email Sends,Total Emails Bounced,Total Emails Bounced,Total Emails Clicked,Total Emails Clicked,"
    "Total Emails Delivered,Total Emails Delivered,Total Hosted Unsubscribe Clicks,"
    "Total Hosted Unsubscribe Clicks,Total Purchases,Total Purchases,Total Unsubscribes,Total Unsubscribes,"
    "Unique Email Clicks,Unique Email Clicks,Unique Email Opens Or Clicks,Unique Email Opens Or Clicks,"
    "Unique Emails Bounced,Unique Emails Bounced,Unique Hosted Unsubscribe Clicks,"
    "Unique Hosted Unsubscribe Clicks,Unique Purchases,Unique Purchases,Unique Unsubscribes,"
    "Unique Unsubscribes\n"
    "163898,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0,0,57,57,16,16,0,0,94,94,16.0,16.0,5,5,0,0,0,0,4,4,16,16,0,0,2,2,"
    "0,0,0,0\n"
    "176828,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0,0,0,0,0,0,0,0,0,0,0.0,0.0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
)
# Real titles, 2023 (Airbyte's sandbox records): one push, one email and one web push campaign.
AB_2023_TITLES = [
    "Average Custom Conversion Value", "Average Order Value", "Purchases / M (Push)", "Revenue",
    "Revenue / M (Push)", "Sum of Custom Conversions", "Total App Uninstalls", "Total Custom Conversions",
    "Total Purchases", "Total Push Holdout", "Total Push Send Skips", "Total Pushes Bounced",
    "Total Pushes Delivered", "Total Pushes Opened", "Total Pushes Sent", "Total Unsubscribes",
    "Unique Custom Conversions", "Unique Purchases", "Unique Pushes Bounced", "Unique Pushes Delivered",
    "Unique Pushes Opened", "Unique Pushes Sent", "Unique Unsubscribes", "Purchases / M (Email)",
    "Revenue / M (Email)", "Total Complaints", "Total Email Holdout", "Total Email Opens",
    "Total Email Opens (filtered)", "Total Email Send Skips", "Total Email Sends", "Total Emails Bounced",
    "Total Emails Clicked", "Total Emails Delivered", "Unique Email Clicks", "Unique Email Opens",
    "Unique Email Opens (filtered)", "Unique Email Opens Or Clicks", "Unique Email Sends",
    "Unique Emails Bounced", "Unique Emails Delivered", "Total Web Push Clicks", "Total Web Push Send Skips",
    "Total Web Pushes Sent", "Total WebPush Holdout", "Unique Web Push Clicks", "Unique Web Pushes Sent",
]  # fmt: skip


def sent_url(base_url: str, batch: list[int], window: DateRange = WINDOW) -> str:
    """The URL requests really sends for this batch."""
    url = requests.Request("GET", base_url + METRICS_PATH, params=metrics_params(batch, window)).prepare().url
    assert url is not None
    return url


def ids(count: int, first: int = 7_000_001, step: int = 7) -> list[int]:
    return [first + step * n for n in range(count)]


# ----------------------------------------------------------------------------- batching


@pytest.mark.parametrize("base_url", [US, EU, PROXY, "http://127.0.0.1:8765"])
def test_every_batch_fits_the_limit_and_one_more_id_would_not(base_url: str) -> None:
    # given 1,500 campaign ids of 7 and 8 digits, as a real project has
    campaign_ids = ids(700) + ids(800, first=10_000_001, step=13)
    # when they are batched for this base URL
    batches = batch_ids(base_url, METRICS_PATH, campaign_ids, WINDOW)
    # then the URL requests sends for every batch is within 2048 minus the margin
    assert all(len(sent_url(base_url, batch)) <= BUDGET for batch in batches)
    # and no batch could have taken the next id: the batches are as few as fit
    for batch, following in itertools.pairwise(batches):
        assert len(sent_url(base_url, [*batch, following[0]])) > BUDGET
    # and every id is asked for exactly once, in order
    assert [i for batch in batches for i in batch] == campaign_ids


def test_a_longer_base_url_gets_fewer_ids_per_request() -> None:
    # given the same ids and window
    campaign_ids = ids(1_203)
    # when batched for the US host, the EU host and a long proxy origin
    us, eu, proxy = (batch_ids(base, METRICS_PATH, campaign_ids, WINDOW) for base in (US, EU, PROXY))
    # then the first batch shrinks with the base URL's length, by one id per 19 characters
    assert len(us[0]) == 98
    assert len(eu[0]) == len(us[0]) - 1  # 3 more characters tip one id over the edge
    assert len(proxy[0]) == len(us[0]) - (len(PROXY) - len(US) + 18) // 19
    assert len(proxy[0]) < len(eu[0])


def test_a_batch_exactly_at_the_budget_is_kept_and_one_character_more_splits_it() -> None:
    # given a base URL whose length makes 90 seven-digit ids end exactly at the budget
    campaign_ids = ids(90)
    base = "https://" + "h" * 10 + ".example"
    slack = BUDGET - request_url_length(base, METRICS_PATH, campaign_ids, WINDOW)
    base = "https://" + "h" * (10 + slack) + ".example"
    assert len(sent_url(base, campaign_ids)) == BUDGET
    # when batching at that length and at one character more
    exact = batch_ids(base, METRICS_PATH, campaign_ids, WINDOW)
    over = batch_ids(base.replace("https://", "https://h"), METRICS_PATH, campaign_ids, WINDOW)
    # then the first is one request, the second needs two: 89 ids, then 1
    assert [len(b) for b in exact] == [90]
    assert [len(b) for b in over] == [89, 1]


@pytest.mark.parametrize(
    "campaign_ids",
    [[1], [7_000_001, 42, 999_999_999_999], ids(3, first=1, step=1000), [10**18]],
)
@pytest.mark.parametrize("base_url", [US, PROXY])
def test_the_computed_length_is_what_requests_sends(base_url: str, campaign_ids: list[int]) -> None:
    # given ids of many lengths and a window with seconds in it
    window = DateRange(datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC))
    # when the length is computed
    computed = request_url_length(base_url, METRICS_PATH, campaign_ids, window)
    # then it equals the length of the URL requests prepares
    assert computed == len(sent_url(base_url, campaign_ids, window))


def test_ids_keep_their_order_and_repeats_are_asked_once() -> None:
    # given ids with repeats (pages of /api/campaigns can overlap)
    campaign_ids = [5, 3, 5, 9, 3, 1]
    # when batched
    batches = batch_ids(US, METRICS_PATH, campaign_ids, WINDOW)
    # then each id appears once, first-seen order
    assert batches == [[5, 3, 9, 1]]


def test_no_ids_give_no_batches() -> None:
    # given no campaigns / when batched / then nothing is requested
    assert batch_ids(US, METRICS_PATH, [], WINDOW) == []


def test_an_id_that_cannot_fit_alone_is_an_error_naming_it() -> None:
    # given a base URL that leaves no room for an id under a small limit
    # when batching
    with pytest.raises(ValueError, match="7000001 alone makes a"):
        batch_ids(US, METRICS_PATH, [7_000_001], WINDOW, max_uri_length=200, margin=64)


def test_the_limit_and_margin_are_parameters() -> None:
    # given 300 ids
    campaign_ids = ids(300)
    # when batched with no margin, and with a 4096-character limit
    no_margin = batch_ids(US, METRICS_PATH, campaign_ids, WINDOW, margin=0)
    bigger = batch_ids(US, METRICS_PATH, campaign_ids, WINDOW, max_uri_length=4096)
    # then they reach exactly up to their own budgets
    assert all(len(sent_url(US, b)) <= MAX_URI_LENGTH for b in no_margin)
    assert len(sent_url(US, [*no_margin[0], no_margin[1][0]])) > MAX_URI_LENGTH
    assert len(bigger[0]) > len(no_margin[0]) > len(batch_ids(US, METRICS_PATH, campaign_ids, WINDOW)[0])


@pytest.mark.parametrize("bad", [0, -5, True, "7000001", 7.0])
def test_an_id_that_is_not_a_positive_integer_is_refused(bad: Any) -> None:
    # given a list with one bad id / when batched / then the error names it
    with pytest.raises(ValueError, match="positive integer"):
        batch_ids(US, METRICS_PATH, [7_000_001, bad], WINDOW)


# ----------------------------------------------------------------------------- params and range


def test_params_repeat_campaign_id_and_send_the_range_as_iso_utc() -> None:
    # given a window with a non-UTC start and a batch
    window = DateRange(datetime(2024, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))), WINDOW.end)
    # when the params are built and requests encodes them
    params = metrics_params([7_000_001, 7_000_002], window)
    url = sent_url(US, [7_000_001, 7_000_002], window)
    # then campaignId is repeated and the dates are UTC, seconds, Z
    assert params == {
        "campaignId": ["7000001", "7000002"],
        "startDateTime": "2024-01-01T00:00:00Z",
        "endDateTime": "2024-06-30T12:30:05Z",
    }
    assert url == (
        "https://api.iterable.com/api/campaigns/metrics?campaignId=7000001&campaignId=7000002"
        "&startDateTime=2024-01-01T00%3A00%3A00Z&endDateTime=2024-06-30T12%3A30%3A05Z"
    )


def test_params_need_at_least_one_id() -> None:
    # given no ids / when the params are built / then it is refused
    with pytest.raises(ValueError, match="at least one campaign id"):
        metrics_params([], WINDOW)


def test_the_full_refresh_range_runs_from_the_start_date_to_just_after_the_sync_start() -> None:
    # given a start date and a sync start with a fraction of a second
    start = datetime(2023, 6, 1, tzinfo=UTC)
    # when the full-refresh range is made
    window = DateRange.full_refresh(start, datetime(2024, 3, 6, 15, 46, 40, 250_000, tzinfo=UTC))
    whole = DateRange.full_refresh(start, datetime(2024, 3, 6, 15, 46, 40, tzinfo=UTC))
    # then the exclusive end is rounded up (that second counts), or kept when already whole
    assert window.record_fields() == {START_KEY: "2023-06-01T00:00:00Z", END_KEY: "2024-03-06T15:46:41Z"}
    assert whole.end == datetime(2024, 3, 6, 15, 46, 40, tzinfo=UTC)


def test_a_range_must_be_aware_and_end_after_it_starts() -> None:
    # given a naive datetime, and an empty range / when made / then refused
    with pytest.raises(ValueError, match="no time zone"):
        DateRange(datetime(2024, 1, 1), WINDOW.end)
    with pytest.raises(ValueError, match="must end after it starts"):
        DateRange(WINDOW.end, WINDOW.end)


# ----------------------------------------------------------------------------- column keys


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("id", "id"),
        ("ID", "id"),
        ("Total Email Sends", "totalEmailSends"),
        ("Revenue / M (Email)", "revenuePerMEmail"),
        ("Purchases / M", "purchasesPerM"),
        ("Revenue/M", "revenuePerM"),
        ("Total Email Opens (filtered)", "totalEmailOpensFiltered"),
        ("Unique Email Opens Or Clicks", "uniqueEmailOpensOrClicks"),
        ("Total WebPush Holdout", "totalWebPushHoldout"),
        ("Total Web Push Clicks", "totalWebPushClicks"),
        ("Total SMS Sent", "totalSmsSent"),
        ("UNIQUE SMS SENT", "uniqueSmsSent"),
        ("Clicks / Opens", "clicksPerOpens"),
        ("Email Open Rate (%)", "emailOpenRatePercent"),
        ("  Total   Email\tSends  ", "totalEmailSends"),
        ("7 Day Opens", "_7DayOpens"),
        ("Clicks & Opens", "clicksAndOpens"),
        ("---", ""),
    ],
)
def test_a_title_becomes_a_stable_camel_case_key(title: str, key: str) -> None:
    # given an Iterable column title / when keyed / then the documented rule gives this key
    assert column_key(title) == key


def test_every_real_title_gets_its_own_key() -> None:
    # given every title seen in real bodies (2017 and 2023)
    titles = set(AB_2023_TITLES) | {t for t in VCR_2017.splitlines()[0].split(",") if t != "id"}
    # when keyed
    keys = {column_key(title) for title in titles}
    # then no two titles collide
    assert len(keys) == len(titles)


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("57", 57),
        ("0", 0),
        ("-3", -3),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("0.0", 0.0),
        ("16.0", 16.0),
        (".25", 0.25),
        ("1,234.5", 1234.5),
        ("1e-05", 1e-05),
        ("12.5%", 0.125),
        ("33.3%", 0.333),
        (" 42 ", 42),
    ],
)
def test_a_number_cell_is_typed(text: str, number: float) -> None:
    # given a cell / when parsed / then int stays int, decimals are floats, percents are fractions
    parsed = parse_number(text)
    assert parsed == number
    assert type(parsed) is type(number)


@pytest.mark.parametrize(
    "text", ["N/A", "n/a", "-", "NaN", "Infinity", "-inf", "1e400", "1,23", "$5", "12 %x", ""]
)
def test_a_cell_that_is_not_a_number_is_none(text: str) -> None:
    # given a cell that is not a finite number / when parsed / then None (never an exception)
    assert parse_number(text) is None


# ----------------------------------------------------------------------------- bodies


def test_the_real_2017_body_gives_one_typed_record_per_campaign() -> None:
    # given Iterable's 2017 body (doubled columns, a count written 16.0)
    # when parsed with the window
    parsed = parse_metrics_csv(VCR_2017.encode(), CAMPAIGNS.layout, WINDOW)
    # then there is one record per row, numbers typed, the doubled titles ignored once each
    assert [r["id"] for r in parsed.records] == [163898, 176828]
    first = parsed.records[0]
    assert first["totalEmailOpens"] == 57 and isinstance(first["totalEmailOpens"], int)
    assert first["totalEmailsDelivered"] == 16.0 and isinstance(first["totalEmailsDelivered"], float)
    assert first["revenuePerM"] == 0.0
    assert first[START_KEY] == "2024-01-01T00:00:00Z" and first[END_KEY] == "2024-06-30T12:30:05Z"
    assert len(first) == 1 + 19 + 2  # id, the 19 distinct metrics, the two range fields
    assert "Average Order Value" in parsed.ignored_columns and len(parsed.ignored_columns) == 19
    assert parsed.unparsed_cells == 0 and UNPARSED_KEY not in first


def test_a_non_numeric_cell_is_kept_as_text_beside_the_record_and_counted() -> None:
    # given a body with "N/A", "-" and "NaN" cells in metric columns
    body = "id,Email Open Rate,Total Email Sends,Revenue\n7000001,N/A,120,-\n7000002,.25,NaN,10.5\n"
    # when parsed
    parsed = parse_metrics_csv(body, CAMPAIGNS.layout)
    # then no cell fails the body: numbers are typed, the rest is out of its column and in _unparsedValues
    assert parsed.records == [
        {"id": 7000001, "totalEmailSends": 120, UNPARSED_KEY: {"emailOpenRate": "N/A", "revenue": "-"}},
        {"id": 7000002, "emailOpenRate": 0.25, "revenue": 10.5, UNPARSED_KEY: {"totalEmailSends": "NaN"}},
    ]
    assert parsed.unparsed_cells == 3
    assert "3 non-numeric cell(s)" in parsed.summary()


def test_blank_cells_leave_the_metric_out() -> None:
    # given a push campaign's row under a header with email columns (blank there)
    body = "id,Total Email Sends,Total Pushes Sent\n7000003,,88\n"
    # when parsed / then the email metric is absent, not null, not zero
    assert parse_metrics_csv(body, CAMPAIGNS.layout).records == [{"id": 7000003, "totalPushesSent": 88}]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n",
        b"id,\n\n",
        b"id,Total Email Sends\n",
        b"id,Total Email Sends\r\n\r\n",
        "\ufeff".encode(),
    ],
)
def test_an_empty_or_header_only_body_gives_no_records(body: bytes) -> None:
    # given an empty body, a header alone, or the recorded answer to a request without ids ("id,")
    # when parsed / then there are no records and nothing to report
    parsed = parse_metrics_csv(body, CAMPAIGNS.layout)
    assert parsed.records == [] and parsed.summary() == "all cells typed"


def test_an_html_page_is_an_error_naming_it() -> None:
    # given a maintenance page answered with 200
    page = (
        b"<!DOCTYPE html><html><head><title>Down for maintenance</title></head><body>Back soon</body></html>"
    )
    # when parsed / then the error says HTML and quotes the title
    with pytest.raises(MetricsBodyError, match="HTML page titled 'Down for maintenance'"):
        parse_metrics_csv(page, CAMPAIGNS.layout)


def test_a_json_error_body_is_an_error_quoting_code_and_msg() -> None:
    # given Iterable's JSON error envelope where CSV was expected
    body = b'{"msg":"Invalid campaignId","code":"BadParams","params":null}'
    # when parsed / then the error quotes it
    with pytest.raises(
        MetricsBodyError, match="JSON error instead of CSV \\(BadParams: Invalid campaignId\\)"
    ):
        parse_metrics_csv(body, CAMPAIGNS.layout)


def test_text_without_an_id_column_is_an_error_with_an_excerpt() -> None:
    # given a plain-text message (as other endpoints send on a 503)
    # when parsed / then it is not mistaken for an empty CSV
    with pytest.raises(MetricsBodyError, match=r"no 'id' column.*Request timeout"):
        parse_metrics_csv(b"Request timeout. Try again later.", CAMPAIGNS.layout)


def test_unusual_headers_and_rows_are_read_by_the_rule() -> None:
    # given a BOM, CRLF, padded and quoted titles (one with a comma), an empty title, short and long rows
    body = (
        '\ufeff ID ,"Revenue, net"," Total  Email Sends ",,Unique Email Opens\r\n'
        "7000001,12.5,100,ignored,40,extra,cells\r\n"
        "7000002,1,2\r\n"
    ).encode()
    # when parsed
    parsed = parse_metrics_csv(body, CAMPAIGNS.layout)
    # then every title is keyed by column_key, the empty one dropped, missing cells absent
    assert parsed.columns == {
        "ID": "id",
        "Revenue, net": "revenueNet",
        "Total  Email Sends": "totalEmailSends",
        "Unique Email Opens": "uniqueEmailOpens",
    }
    assert parsed.records == [
        {"id": 7000001, "revenueNet": 12.5, "totalEmailSends": 100, "uniqueEmailOpens": 40},
        {"id": 7000002, "revenueNet": 1, "totalEmailSends": 2},
    ]


def test_a_row_without_an_integer_id_is_skipped_and_counted() -> None:
    # given rows whose id is blank, text or a decimal
    body = "id,Total Email Sends\n,5\nabc,6\n12.5,7\n7000009,8\n"
    # when parsed
    parsed = parse_metrics_csv(body, CAMPAIGNS.layout)
    # then only the keyed row is emitted and the others are reported
    assert parsed.records == [{"id": 7000009, "totalEmailSends": 8}]
    assert parsed.skipped_rows == 3
    assert "3 row(s) without an integer id skipped" in parsed.summary()


def test_a_column_named_like_an_added_field_does_not_overwrite_it() -> None:
    # given a title that keys to startDateTime
    body = "id,Start Date Time\n7000001,5\n"
    # when parsed with a window / then the window wins and the column is reported
    parsed = parse_metrics_csv(body, CAMPAIGNS.layout, WINDOW)
    assert parsed.records[0][START_KEY] == "2024-01-01T00:00:00Z"
    assert parsed.ignored_columns == ("Start Date Time",)


# ----------------------------------------------------------------------------- schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = ResourceSchemaLoader("source_iterable").get_schema("campaigns_metrics")
    return loaded


def fake_body(window: DateRange | None = None) -> bytes:
    """The fake server's body for every campaign of its dataset (all media)."""
    campaigns = sorted(build_dataset(7).campaigns, key=lambda c: int(str(c["id"])))
    start = window.start.timestamp() if window else None
    end = window.end.timestamp() if window else None
    return metrics_csv(campaigns, 7, start, end)


def test_the_schema_is_an_open_draft7_object_keyed_on_id() -> None:
    # given the schema file as written
    raw = json.loads(SCHEMA_FILE.read_text())
    # then it is draft 7, open to unknown columns, and requires the primary key
    assert raw["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert raw["additionalProperties"] is True
    assert raw["required"] == ["id"]
    assert raw["properties"]["id"] == {
        "description": raw["properties"]["id"]["description"],
        "type": "integer",
    }


def test_every_metric_is_a_nullable_number_and_the_range_is_a_date_time(schema: dict[str, Any]) -> None:
    # given the resolved schema
    props = schema["properties"]
    # then each metric property is a nullable number, the two range fields RFC 3339 date-times
    metrics = {k: v for k, v in props.items() if k not in ("id", START_KEY, END_KEY, UNPARSED_KEY)}
    assert len(metrics) >= 60
    assert all(v["type"] == ["null", "number"] for v in metrics.values())
    for key in (START_KEY, END_KEY):
        assert props[key]["type"] == ["null", "string"] and props[key]["format"] == "date-time"
    assert props[UNPARSED_KEY]["additionalProperties"] == {"type": "string"}


def test_each_declared_metric_is_the_key_of_the_title_it_names(schema: dict[str, Any]) -> None:
    # given each metric property's description, which quotes Iterable's column title
    for key, spec in schema["properties"].items():
        if key in ("id", START_KEY, END_KEY, UNPARSED_KEY):
            continue
        title = spec["description"].split('"')[1]
        # then keying that title gives the property's name
        assert column_key(title) == key, title


def test_the_schema_declares_every_real_title(schema: dict[str, Any]) -> None:
    # given the titles of the real 2017 and 2023 bodies
    titles = set(AB_2023_TITLES) | set(VCR_2017.splitlines()[0].split(","))
    # then each one's key is a declared property
    assert {column_key(t) for t in titles} <= set(schema["properties"])


def test_the_schema_declares_every_column_of_the_fake_and_its_records_validate(
    schema: dict[str, Any],
) -> None:
    # given the fake server's CSV for every campaign of its project, over a window
    parsed = parse_metrics_csv(fake_body(WINDOW), CAMPAIGNS.layout, WINDOW)
    # then every key the parser produces is declared
    produced = {key for record in parsed.records for key in record}
    assert produced - set(schema["properties"]) == set()
    assert set(parsed.columns.values()) <= set(schema["properties"])
    # and every record validates, date-times included
    validator = Draft7Validator(schema, format_checker=FormatChecker())
    errors = [e.message for record in parsed.records for e in validator.iter_errors(record)]
    assert errors == []
    assert len(parsed.records) == 1203 and parsed.unparsed_cells == 0 and parsed.skipped_rows == 0


def test_a_record_with_a_non_numeric_cell_still_validates(schema: dict[str, Any]) -> None:
    # given a parsed record with a cell kept as text
    record = parse_metrics_csv("id,Total Email Sends\n7000001,N/A\n", CAMPAIGNS.layout, WINDOW).records[0]
    # then the schema accepts it, and would refuse the text in the number column itself
    validator = Draft7Validator(schema, format_checker=FormatChecker())
    assert list(validator.iter_errors(record)) == []
    assert list(validator.iter_errors({**record, "totalEmailSends": "N/A"})) != []


# ----------------------------------------------------------------------------- rate limit


def test_the_10_per_minute_budget_is_declared_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the declared budgets and no override
    monkeypatch.delenv("ITERABLE_METRICS_REQUESTS_PER_MINUTE", raising=False)
    [row] = [budget for budget in BUDGETS if f"GET {METRICS_PATH}" in budget.routes]
    # when a project's limiters are made, with and without the env var
    default = project_limiters("api.iterable.com", "key-a").for_request("GET", METRICS_PATH)
    monkeypatch.setenv("ITERABLE_METRICS_REQUESTS_PER_MINUTE", "600")
    raised = project_limiters("api.iterable.com", "key-b").for_request("GET", METRICS_PATH)
    # then the row says 10 a minute under its env var, and the limiter follows it
    assert (row.name, row.per_minute, row.env_var) == (
        "campaign metrics",
        10.0,
        "ITERABLE_METRICS_REQUESTS_PER_MINUTE",
    )
    assert default is not None and default.per_minute == 10.0 and default.capacity == 10
    assert raised is not None and raised.per_minute == 600.0
