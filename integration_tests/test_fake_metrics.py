"""The fake ``GET /api/campaigns/metrics`` over real HTTP: CSV, date range, URI limit, rate limit, errors.

What it imitates, and from which source, is in docs/api-campaigns-metrics.md (sections 2, 3 and 5).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from source_iterable.readers.metrics.batches import DateRange, batch_ids, metrics_params
from source_iterable.readers.metrics.csv_body import parse_metrics_csv
from source_iterable.readers.metrics.endpoints import CAMPAIGNS

KEY = "metrics-test-key"
OTHER_KEY = "metrics-other-key"
RATE_ENV = "ITERABLE_METRICS_REQUESTS_PER_MINUTE"
METRICS_PATH = CAMPAIGNS.path
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIterable]:
    with FakeIterable(api_keys=[KEY, OTHER_KEY]) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fast_pace(server: FakeIterable, monkeypatch: pytest.MonkeyPatch) -> None:
    """A high limit unless a test sets its own; the limiter re-reads the variable after a reset."""
    monkeypatch.setenv(RATE_ENV, "6000")
    server.reset()


def get(server: FakeIterable, params: Any, key: str = KEY) -> requests.Response:
    return requests.get(server.base_url + METRICS_PATH, params=params, headers={"Api-Key": key}, timeout=10)


def get_url(server: FakeIterable, batch: list[int], window: DateRange) -> str:
    url = (
        requests.Request("GET", server.base_url + METRICS_PATH, params=metrics_params(batch, window))
        .prepare()
        .url
    )
    assert url is not None
    return url


def rows(response: requests.Response) -> dict[int, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {record["id"]: record for record in parse_metrics_csv(response.content, CAMPAIGNS.layout).records}


def campaigns(server: FakeIterable, **wanted: Any) -> list[dict[str, Any]]:
    return [c for c in server.dataset.campaigns if all(c.get(k) == v for k, v in wanted.items())]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_get(server: FakeIterable, target: str) -> tuple[int, str, bytes]:
    """Send this exact request target (no client-side encoding): status, content type, body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", target, headers={"Api-Key": KEY})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


# ----------------------------------------------------------------------------- the CSV


def test_repeated_ids_give_one_row_per_known_campaign_in_id_order(server: FakeIterable) -> None:
    # given three campaigns of the project, asked for out of order and twice, plus an unknown id
    a, b, c = (int(str(x["id"])) for x in server.dataset.campaigns[10:13])
    # when the metrics are requested with campaignId repeated
    response = get(server, {"campaignId": [c, a, b, a, 999]})
    # then the body is CSV as text/plain, id first, one row per known campaign, ascending
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("id,Average Custom Conversion Value,Average Order Value,")
    assert list(rows(response)) == [a, b, c]


def test_columns_follow_the_medium_and_blank_cells_mark_other_media(server: FakeIterable) -> None:
    # given one email and one push campaign that both sent something
    email = next(
        c for c in campaigns(server, messageMedium="Email", campaignState="Finished") if c.get("sendSize")
    )
    push = next(
        c for c in campaigns(server, messageMedium="Push", campaignState="Finished") if c.get("sendSize")
    )
    # when both are asked for in one request
    response = get(server, {"campaignId": [email["id"], push["id"]]})
    records = rows(response)
    # then the header is the union; each row carries its own medium's metrics and not the other's
    assert "Total Email Sends" in response.text and "Total Pushes Sent" in response.text
    assert "totalEmailSends" in records[email["id"]] and "totalPushesSent" not in records[email["id"]]
    assert "totalPushesSent" in records[push["id"]] and "totalEmailSends" not in records[push["id"]]
    assert {"revenue", "totalPurchases"} <= records[push["id"]].keys() & records[email["id"]].keys()


def test_a_campaign_that_never_sent_has_a_row_of_zeros(server: FakeIterable) -> None:
    # given a draft campaign
    draft = campaigns(server, campaignState="Draft")[0]
    # when its metrics are requested
    record = rows(get(server, {"campaignId": draft["id"]}))[draft["id"]]
    # then every metric is zero
    assert {value for key, value in record.items() if key != "id"} == {0}


def test_no_campaign_id_answers_the_recorded_near_empty_csv(server: FakeIterable) -> None:
    # given a request without campaignId (Iterable answered this with 200 "id," in 2017)
    response = get(server, {"startDateTime": "2024-01-01"})
    # then the fake answers the same, and it parses to no records
    assert response.status_code == 200 and response.content == b"id,\n\n"
    assert parse_metrics_csv(response.content, CAMPAIGNS.layout).records == []


def test_the_same_request_gets_the_same_numbers(server: FakeIterable) -> None:
    # given a batch of campaigns / when asked twice / then the seeded values do not change
    params = {"campaignId": [c["id"] for c in server.dataset.campaigns[:40]]}
    assert get(server, params).content == get(server, params).content


# ----------------------------------------------------------------------------- the date range


def test_totals_respect_the_range_and_add_up_across_a_split(server: FakeIterable) -> None:
    # given an email blast that sent on its start day (engagement continues on later days)
    blast = next(
        c
        for c in campaigns(server, messageMedium="Email", campaignState="Finished", type="Blast")
        if rows(get(server, {"campaignId": c["id"]}))[c["id"]]["totalEmailSends"] > 0
    )
    day = blast["startAt"] // DAY_MS * DAY_MS
    before, split, after = iso(day - DAY_MS), iso(day + DAY_MS), "2030-01-01T00:00:00Z"

    def totals(start: str, end: str) -> dict[str, Any]:
        return rows(get(server, {"campaignId": blast["id"], "startDateTime": start, "endDateTime": end}))[
            blast["id"]
        ]

    # when the metrics are asked for the whole range, and for its two halves
    whole, first, second = totals(before, after), totals(before, split), totals(split, after)
    # then the sends are all on the first day, later days only add engagement
    assert first["totalEmailSends"] == whole["totalEmailSends"] > 0
    assert second["totalEmailSends"] == 0
    # and the additive counts of the halves add up to the whole
    for key in ("totalEmailOpens", "uniqueEmailOpens", "totalEmailsClicked", "totalPurchases"):
        assert first[key] + second[key] == whole[key], key
    assert whole["totalEmailOpens"] > first["totalEmailOpens"]
    # and a range before the campaign started is all zeros, an unbounded one equals the whole
    empty = totals("2000-01-01", before)
    assert {v for k, v in empty.items() if k != "id"} == {0}
    assert rows(get(server, {"campaignId": blast["id"]}))[blast["id"]] == whole


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"campaignId": "abc"}, "Invalid campaignId: abc"),
        ({"campaignId": "7000008,7000012"}, "Invalid campaignId: 7000008,7000012"),
        ({"campaignId": "7000008", "startDateTime": "yesterday"}, "Invalid startDateTime: yesterday"),
        (
            {"campaignId": "7000008", "startDateTime": "2024-02-01", "endDateTime": "2024-01-01"},
            "startDateTime must be before endDateTime",
        ),
    ],
)
def test_bad_params_get_iterables_400(server: FakeIterable, params: dict[str, str], message: str) -> None:
    # given malformed ids or dates / when requested
    response = get(server, params)
    # then the answer is 400 in Iterable's error envelope
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BadParams" and body["msg"].startswith(message)


def test_dates_in_the_documented_forms_are_accepted(server: FakeIterable) -> None:
    # given the same range written as a date, as ISO with Z, and with a space and an offset
    cid = server.dataset.campaigns[0]["id"]
    forms = [
        ("2023-01-01", "2025-01-01"),
        ("2023-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ("2023-01-01 00:00:00 +00:00", "2025-01-01 00:00:00 +00:00"),
    ]
    # when requested in each form / then every form gives the same row
    answers = [
        get(server, {"campaignId": cid, "startDateTime": s, "endDateTime": e}).content for s, e in forms
    ]
    assert answers[0] == answers[1] == answers[2]


# ----------------------------------------------------------------------------- the URI limit


def test_a_request_target_of_2048_characters_passes_and_2049_gets_a_414(server: FakeIterable) -> None:
    # given request targets padded to exactly 2048 and 2049 characters (an unknown parameter is ignored)
    prefix = f"{METRICS_PATH}?campaignId={server.dataset.campaigns[0]['id']}&pad="
    at_limit = prefix + "x" * (2048 - len(prefix))
    over = at_limit + "x"
    assert len(at_limit) == 2048
    # when each is sent as is
    ok_status, _, ok_body = raw_get(server, at_limit)
    status, content_type, body = raw_get(server, over)
    # then the first is answered, the second refused with akka-http's plain-text 414
    assert ok_status == 200 and ok_body.startswith(b"id,")
    assert status == 414
    assert content_type.startswith("text/plain")
    assert body == b"URI length exceeds the configured limit of 2048 characters"


def test_batches_sized_by_the_connector_all_pass_and_cover_every_campaign(server: FakeIterable) -> None:
    # given every campaign id of the project and the connector's batching for this base URL
    all_ids = [int(str(c["id"])) for c in server.dataset.campaigns]
    window = DateRange(datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))
    batches = batch_ids(server.base_url, METRICS_PATH, all_ids, window)
    # when each batch is fetched with the connector's params
    seen: list[int] = []
    for batch in batches:
        seen.extend(rows(get(server, metrics_params(batch, window))))
    # then no request met the URI limit and every campaign came back once
    assert sorted(seen) == sorted(all_ids)
    assert server.stats()["statuses"] == {"200": len(batches)}
    # and the batches were full: each but the last came within one id of the 1984-character budget
    lengths = [len(get_url(server, batch, window)) for batch in batches]
    assert all(1984 - 19 < length <= 1984 for length in lengths[:-1])


def test_a_fixed_batch_of_400_ids_gets_the_414_that_made_a_peer_cut_its_batch(server: FakeIterable) -> None:
    # given 400 ids in one request, as Estuary sent before its fix
    ids = [c["id"] for c in server.dataset.campaigns[:400]]
    # when requested / then the URI limit refuses it
    response = get(server, {"campaignId": ids})
    assert response.status_code == 414
    assert response.text == "URI length exceeds the configured limit of 2048 characters"


# ----------------------------------------------------------------------------- the rate limit


def test_the_default_limit_is_10_a_minute_with_iterables_429_body(
    server: FakeIterable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no override of the limit
    monkeypatch.delenv(RATE_ENV)
    server.reset()
    params = {"campaignId": server.dataset.campaigns[0]["id"]}
    # when 11 requests arrive within a minute
    statuses = [get(server, params).status_code for _ in range(11)]
    refused = get(server, params)
    # then 10 are answered and the rest get Iterable's 429 body, with no Retry-After
    assert statuses == [200] * 10 + [429]
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.json() == {
        "msg": "Exceeded rate limit of 10.0 per minute for endpoint: /api/campaigns/metrics, project: 2158 ",
        "code": "RateLimitExceeded",
        "params": {},
    }


def test_the_limit_follows_the_env_var_is_per_key_and_starts_afresh_after_a_reset(
    server: FakeIterable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of 3 a minute
    monkeypatch.setenv(RATE_ENV, "3")
    server.reset()
    params = {"campaignId": server.dataset.campaigns[0]["id"]}
    # when one key spends it, another key asks, and the server is reset
    first_key = [get(server, params).status_code for _ in range(4)]
    other_key = get(server, params, key=OTHER_KEY).status_code
    server.reset()
    after_reset = get(server, params).status_code
    # then the fourth call of the first key is refused, the other key and the reset start afresh
    assert first_key == [200, 200, 200, 429]
    assert other_key == 200
    assert after_reset == 200


def test_a_414_is_refused_before_it_spends_the_rate_limit(
    server: FakeIterable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of 1 a minute
    monkeypatch.setenv(RATE_ENV, "1")
    server.reset()
    # when a too-long request comes first, then a normal one
    too_long = get(server, {"campaignId": [c["id"] for c in server.dataset.campaigns[:200]]}).status_code
    normal = get(server, {"campaignId": server.dataset.campaigns[0]["id"]}).status_code
    # then the HTTP layer refused the first without counting it
    assert (too_long, normal) == (414, 200)


def test_a_wrong_key_is_refused_before_anything_else(server: FakeIterable) -> None:
    # given a key the project does not know / when requested / then 401 BadApiKey
    response = get(server, {"campaignId": 1}, key="not-a-key")
    assert response.status_code == 401 and response.json()["code"] == "BadApiKey"


# ----------------------------------------------------------------------------- a non-numeric cell


def test_a_non_numeric_cell_injected_by_a_fault_reaches_the_parser_as_visible_text(
    server: FakeIterable,
) -> None:
    # given a fault that answers 200 with a CSV holding "N/A" (never seen from Iterable, so not in the data)
    server.add_fault(
        {
            "kind": "status",
            "status": 200,
            "path": METRICS_PATH,
            "body": "id,Email Open Rate,Total Email Sends\n7000008,N/A,12\n",
        }
    )
    # when the metrics are fetched and parsed
    response = get(server, {"campaignId": 7000008})
    parsed = parse_metrics_csv(response.content, CAMPAIGNS.layout)
    # then the body is not lost: the number is typed and the text kept beside it, counted
    assert response.status_code == 200
    assert parsed.records == [
        {"id": 7000008, "totalEmailSends": 12, "_unparsedValues": {"emailOpenRate": "N/A"}}
    ]
    assert parsed.unparsed_cells == 1
    assert orjson.loads(orjson.dumps(parsed.records)) == parsed.records  # JSON-safe
