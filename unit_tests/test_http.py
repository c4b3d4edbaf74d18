from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock
from airbyte_cdk.models import FailureType

from source_iterable.errors import ApiError, BodyError
from source_iterable.http import HttpSettings, IterableClient, read_json
from source_iterable.rate_limit import SAFETY_MARGIN_SECONDS
from source_iterable.spool import spool_ndjson

from .builders import (
    API_KEY,
    BAD_API_KEY_BODY,
    BAD_PARAMS_BODY,
    BASE_URL,
    EXPORT_PATH,
    GENERIC_ERROR_BODY,
    NOT_FOUND_BODY,
    RATE_LIMITED_BODY,
    FakeClock,
    fast_limiters,
    make_client,
)

CHANNELS = "/api/channels"
CHANNELS_URL = BASE_URL + CHANNELS
CHANNELS_BODY = {"channels": [{"id": 41001, "name": "Marketing Channel", "channelType": "Marketing"}]}
SETTINGS = HttpSettings(backoff_base=2.0, backoff_cap=10.0, max_attempts=6, max_retry_seconds=900.0)


def client_for(
    clock: FakeClock, settings: HttpSettings = SETTINGS, rates: dict[str, float] | None = None
) -> IterableClient:
    return make_client(clock, settings=settings, limiters=fast_limiters(clock, rates))


def error(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"status_code": status, "json": body}


OK = {"status_code": 200, "json": CHANNELS_BODY}


def test_api_key_goes_in_the_header_and_never_in_the_url(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)

    result = client_for(clock).get_json(CHANNELS, {"page": 1}, what="stream 'channels'")

    assert result == CHANNELS_BODY
    sent = api.request_history[0]
    assert sent.headers["Api-Key"] == API_KEY
    assert API_KEY not in sent.url
    assert "api_key" not in sent.url.lower()
    assert sent.qs == {"page": ["1"]}


def test_timeouts_are_sent_with_every_request(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)

    client_for(clock, HttpSettings(connect_timeout=3.0, read_timeout=7.0)).get_json(CHANNELS, what="x")

    assert api.request_history[0].timeout == (3.0, 7.0)


def test_429_without_retry_after_is_retried_in_units_of_the_limiter_slot(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given the export endpoint paced at 120/min (a 0.5 s slot) answering 429 twice, then 200
    api.get(BASE_URL + EXPORT_PATH, [error(429, RATE_LIMITED_BODY), error(429, RATE_LIMITED_BODY), OK])

    result = client_for(clock, rates={EXPORT_PATH: 120.0}).request(
        EXPORT_PATH, None, read_json, what="export"
    )

    assert result == CHANNELS_BODY
    assert api.call_count == 3
    assert clock.sleeps == [0.5, 1.0]


def test_429_on_an_unpaced_endpoint_backs_off_from_the_base(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CHANNELS_URL, [error(429, RATE_LIMITED_BODY), OK])

    client_for(clock).get_json(CHANNELS, what="x")

    assert clock.sleeps == [2.0]


def test_429_rides_out_a_spent_budget_even_when_the_caller_allows_few_attempts(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a caller that allows 3 attempts (an export window before it is split) and 4 answers of 429
    api.get(BASE_URL + EXPORT_PATH, [error(429, RATE_LIMITED_BODY)] * 4 + [OK])

    result = client_for(clock, rates={EXPORT_PATH: 60.0}).request(
        EXPORT_PATH, None, read_json, what="export", max_attempts=3
    )

    # then the 429s are waited out with the rate-limited budget, not the caller's 3 attempts
    assert result == CHANNELS_BODY
    assert api.call_count == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_persistent_429_gives_up_after_the_rate_limited_attempts(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(BASE_URL + EXPORT_PATH, **error(429, RATE_LIMITED_BODY))
    settings = HttpSettings(backoff_cap=1.0, rate_limited_max_attempts=5)

    with pytest.raises(ApiError) as caught:
        client_for(clock, settings).request(EXPORT_PATH, None, read_json, what="export")

    assert api.call_count == 5
    assert caught.value.status == 429
    assert caught.value.transient
    assert "RateLimitExceeded" in caught.value.message


def test_500_generic_error_twice_then_200_is_retried_with_exponential_waits(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CHANNELS_URL, [error(500, GENERIC_ERROR_BODY), error(500, GENERIC_ERROR_BODY), OK])

    result = client_for(clock).get_json(CHANNELS, what="stream 'channels'")

    assert result == CHANNELS_BODY
    assert api.call_count == 3
    assert clock.sleeps == [2.0, 4.0]


def test_waits_are_capped_by_backoff_cap(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [error(503, {})] * 5 + [OK])

    client_for(clock).get_json(CHANNELS, what="x")

    assert clock.sleeps == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_persistent_503_fails_as_transient_after_max_attempts(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CHANNELS_URL, status_code=503, text="Request timeout. Try again later.")

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="stream 'channels'")

    assert api.call_count == SETTINGS.max_attempts
    failure = caught.value
    assert failure.transient
    assert failure.status == 503
    assert failure.failure_type == FailureType.transient_error
    assert "stream 'channels'" in failure.message
    assert "GET /api/channels" in failure.message
    assert "HTTP 503" in failure.message
    assert f"after {SETTINGS.max_attempts} attempts" in failure.message
    assert "Request timeout. Try again later." in failure.message


def test_retrying_stops_before_the_time_budget_is_spent(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given waits of 2, 4, 8, ... and a budget of 10 s
    api.get(CHANNELS_URL, status_code=500, json=GENERIC_ERROR_BODY)
    settings = HttpSettings(backoff_base=2.0, backoff_cap=60.0, max_attempts=100, max_retry_seconds=10.0)

    with pytest.raises(ApiError, match="after 3 attempts"):
        client_for(clock, settings).get_json(CHANNELS, what="x")

    assert clock.sleeps == [2.0, 4.0]


def test_an_unmapped_5xx_is_retried(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [{"status_code": 520, "text": "origin error"}, OK])

    assert client_for(clock).get_json(CHANNELS, what="x") == CHANNELS_BODY
    assert api.call_count == 2


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_fails_at_once_as_a_config_error_explaining_region_and_key_type(
    api: requests_mock.Mocker, clock: FakeClock, status: int
) -> None:
    api.get(CHANNELS_URL, **error(status, BAD_API_KEY_BODY))

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="check")

    assert api.call_count == 1
    assert clock.sleeps == []
    failure = caught.value
    assert failure.failure_type == FailureType.config_error
    assert not failure.transient
    assert failure.status == status
    assert "region" in failure.message
    assert "Server-side" in failure.message
    assert "api.eu.iterable.com" in failure.message
    assert "BadApiKey: Invalid API key" in failure.message


def test_400_bad_params_fails_at_once_with_iterables_message(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CHANNELS_URL, **error(400, BAD_PARAMS_BODY))

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    assert api.call_count == 1
    assert not caught.value.transient
    assert caught.value.status == 400
    assert "BadParams: Template ID: 42 does not exist for this project" in caught.value.message


@pytest.mark.parametrize(
    ("status", "body", "quoted"),
    [
        (400, BAD_PARAMS_BODY, "BadParams: Template ID: 42 does not exist for this project"),
        (401, BAD_API_KEY_BODY, "BadApiKey: Invalid API key"),
        (429, RATE_LIMITED_BODY, "RateLimitExceeded: Exceeded rate limit of 4.0 per minute"),
    ],
)
def test_a_streamed_request_quotes_iterables_error_body(
    api: requests_mock.Mocker,
    clock: FakeClock,
    spool_dir: Path,
    status: int,
    body: dict[str, Any],
    quoted: str,
) -> None:
    # given the export endpoint (read as a stream) answering an error
    api.get(BASE_URL + EXPORT_PATH, status_code=status, json=body)
    settings = HttpSettings(rate_limited_max_attempts=1)

    with pytest.raises(ApiError) as caught:
        client_for(clock, settings).request(EXPORT_PATH, None, spool_ndjson, what="export", stream=True)

    # then the message quotes Iterable's code and msg, not "(empty body)"
    assert quoted in caught.value.message
    assert caught.value.status == status


def test_400_with_a_plain_text_body_quotes_the_text(api: requests_mock.Mocker, clock: FakeClock) -> None:
    body = 'Json error: {"obj.value":[{"msg":"error.expected.jsobject","args":[]}]}'
    api.get(CHANNELS_URL, status_code=400, text=body, headers={"Content-Type": "text/plain; charset=utf-8"})

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    assert body in caught.value.message


def test_html_on_200_is_retried_then_fails_naming_the_endpoint(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(
        CHANNELS_URL,
        text="<html><title>Action not found</title></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="stream 'channels'")

    assert api.call_count == SETTINGS.max_attempts
    assert caught.value.transient
    assert "GET /api/channels" in caught.value.message
    assert "not JSON" in caught.value.message
    assert "text/html" in caught.value.message


def test_html_once_then_json_recovers(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [{"text": "<html></html>"}, OK])

    assert client_for(clock).get_json(CHANNELS, what="x") == CHANNELS_BODY
    assert clock.sleeps == [2.0]


def test_an_empty_200_body_is_retried_and_named(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, text="")

    with pytest.raises(ApiError, match="empty body"):
        client_for(clock).get_json(CHANNELS, what="x")

    assert api.call_count == SETTINGS.max_attempts


def test_read_json_rejects_whitespace_only() -> None:
    response = requests.Response()
    response.status_code = 200
    response._content = b"  \n"

    with pytest.raises(BodyError, match="empty body"):
        read_json(response)


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectionError("connection refused"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_transport_failures_are_retried(
    api: requests_mock.Mocker, clock: FakeClock, failure: requests.RequestException
) -> None:
    api.get(CHANNELS_URL, [{"exc": failure}, OK])

    assert client_for(clock).get_json(CHANNELS, what="x") == CHANNELS_BODY
    assert api.call_count == 2
    assert clock.sleeps == [2.0]


def test_a_persistent_transport_failure_names_the_exception(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(CHANNELS_URL, exc=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    assert caught.value.status is None
    assert caught.value.transient
    assert "ReadTimeout" in caught.value.message
    assert "read timeout" in caught.value.message


def test_an_invalid_url_is_not_retried(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, exc=requests.exceptions.InvalidURL("bad url"))

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    assert api.call_count == 1
    assert caught.value.failure_type == FailureType.config_error


# The key as a server (or a proxy in front of it) might echo it back.
ECHOES = [
    pytest.param({"json": {"msg": f"Invalid API key {API_KEY}", "code": "BadApiKey"}}, id="json-msg"),
    pytest.param({"json": {"error": f"key={API_KEY}"}}, id="json-without-msg"),
    pytest.param({"text": f"<html>Api-Key: {API_KEY}</html>"}, id="text"),
    # the key straddles the 200-character excerpt of a text body
    pytest.param({"text": "x" * 180 + API_KEY + "y" * 100}, id="text-cut-through-the-key"),
    pytest.param({"json": {"error": "x" * 180 + API_KEY}}, id="json-cut-through-the-key"),
]


@pytest.mark.parametrize("body", ECHOES)
@pytest.mark.parametrize("status", [401, 500])
def test_the_api_key_never_appears_in_an_error_or_a_log_line(
    api: requests_mock.Mocker,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
    status: int,
) -> None:
    api.get(CHANNELS_URL, status_code=status, **body)

    with caplog.at_level(logging.DEBUG, logger="airbyte"), pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    text = caught.value.message + str(caught.value.internal_message) + caplog.text
    assert API_KEY[:8] not in text
    assert API_KEY[-8:] not in text
    assert "****" in caught.value.message


def test_a_status_in_ignore_statuses_returns_none(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, **error(404, NOT_FOUND_BODY))

    result = client_for(clock).request(CHANNELS, None, read_json, what="x", ignore_statuses=frozenset({404}))

    assert result is None
    assert api.call_count == 1


def test_a_404_not_ignored_fails_at_once(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, **error(404, NOT_FOUND_BODY))

    with pytest.raises(ApiError, match="NotFound"):
        client_for(clock).get_json(CHANNELS, what="x")

    assert api.call_count == 1


def test_every_attempt_takes_a_limiter_slot(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a 1/min export pace and a 500 then a 200
    api.get(BASE_URL + EXPORT_PATH, [error(500, GENERIC_ERROR_BODY), OK])

    client_for(clock, rates={EXPORT_PATH: 1.0}).request(EXPORT_PATH, None, read_json, what="export")

    # then the retry waits its backoff (2 s), then the rest of the limiter's minute (58 s) plus its margin
    assert clock.sleeps == [2.0, 58.0 + SAFETY_MARGIN_SECONDS]


def test_requests_made_counts_every_attempt(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [error(500, GENERIC_ERROR_BODY), OK])
    client = client_for(clock)

    client.get_json(CHANNELS, what="x")

    assert client.requests_made == 2


def test_http_settings_read_the_test_knobs_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERABLE_HTTP_CONNECT_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("ITERABLE_HTTP_READ_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("ITERABLE_BACKOFF_BASE_SECONDS", "0.01")
    monkeypatch.setenv("ITERABLE_BACKOFF_CAP_SECONDS", "0.1")
    monkeypatch.setenv("ITERABLE_RETRY_MAX_SECONDS", "")

    settings = HttpSettings.from_env()

    assert (settings.connect_timeout, settings.read_timeout) == (1.5, 2.0)
    assert (settings.backoff_base, settings.backoff_cap) == (0.01, 0.1)
    assert settings.max_retry_seconds == HttpSettings().max_retry_seconds == 900.0
