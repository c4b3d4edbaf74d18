"""``api/client.py`` and ``api/errors.py``: what each answer means, the one retry loop on the fake
clock, the budgets' say on 429s, the key refusal memory, the key gate, and where the key may go."""

from __future__ import annotations

import logging
import threading
from functools import partial
from itertools import pairwise
from typing import Any

import pytest
import requests
import requests_mock

from source_iterable.api.client import HttpSettings, IterableClient, read_json
from source_iterable.api.errors import (
    Aborted,
    Action,
    ApiError,
    BodyError,
    FailureType,
    iterable_message,
    resolve,
)
from source_iterable.api.limiter import KeyGate
from source_iterable.api.spool import spool_records
from source_iterable.config import ConfigError
from source_iterable.records import RecordShaper

from .builders import (
    API_KEY,
    BAD_API_KEY_BODY,
    BAD_PARAMS_BODY,
    BASE_URL,
    EXPORT_PATH,
    EXPORT_URL,
    GENERIC_ERROR_BODY,
    NOT_FOUND_BODY,
    RATE_LIMITED_BODY,
    STORAGE,
    FakeClock,
    client,
    woken_by_notify,
)

CHANNELS = "/api/channels"
CHANNELS_URL = BASE_URL + CHANNELS
CHANNELS_BODY = {"channels": [{"id": 41001, "name": "Marketing Channel", "channelType": "Marketing"}]}
# A path without a declared budget: no limiter takes part in its requests.
UNPACED = "/api/metadata"
UNPACED_URL = BASE_URL + UNPACED
SETTINGS = HttpSettings(backoff_base=2.0, backoff_cap=10.0, max_attempts=6, max_retry_seconds=900.0)
EXPORT_BUDGET = "data.json export"
WINDOW_AND_MARGIN = 61.0  # a 60 s budget window plus its 1 s margin


def client_for(
    clock: FakeClock, settings: HttpSettings = SETTINGS, rates: dict[str, float] | None = None
) -> IterableClient:
    return client(clock, settings=settings, rates=rates)


def error(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"status_code": status, "json": body}


OK = {"status_code": 200, "json": CHANNELS_BODY}


def timed(clock: FakeClock, seen: list[float], status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A response that records the fake time it was asked at."""

    def reply(request: Any, context: Any) -> dict[str, Any]:
        seen.append(clock.now)
        return body

    return {"status_code": status, "json": reply}


def response(status: int, content: bytes = b"", content_type: str | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = content
    if content_type:
        answer.headers["Content-Type"] = content_type
    return answer


# ------------------------------------------------------------------ the status -> action mapping


@pytest.mark.parametrize(
    ("status", "action", "failure_type"),
    [
        (400, Action.FAIL, FailureType.system_error),
        (401, Action.FAIL, FailureType.config_error),
        (403, Action.FAIL, FailureType.config_error),
        (404, Action.FAIL, FailureType.system_error),
        (408, Action.RETRY, FailureType.transient_error),
        (409, Action.RETRY, FailureType.transient_error),
        (414, Action.FAIL, FailureType.system_error),
        (429, Action.RATE_LIMITED, FailureType.transient_error),
        (500, Action.RETRY, FailureType.transient_error),
        (502, Action.RETRY, FailureType.transient_error),
        (503, Action.RETRY, FailureType.transient_error),
        (504, Action.RETRY, FailureType.transient_error),
        (520, Action.RETRY, FailureType.transient_error),
        (418, Action.FAIL, FailureType.system_error),
    ],
)
def test_each_status_maps_to_its_action_and_failure_type(
    status: int, action: Action, failure_type: FailureType
) -> None:
    # when / then
    resolution = resolve(response(status))
    assert (resolution.action, resolution.failure_type) == (action, failure_type)


def test_an_unmapped_status_names_itself() -> None:
    assert resolve(response(520)).message == "server error 520"
    assert resolve(response(418)).message == "unexpected HTTP status 418"


def test_a_refused_key_explains_region_and_key_type() -> None:
    for status in (401, 403):
        message = resolve(response(status)).message
        assert "region" in message and "api.eu.iterable.com" in message and "Server-side" in message


@pytest.mark.parametrize(
    ("failure", "action", "meaning"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), Action.RETRY, "read timeout"),
        (requests.exceptions.ConnectTimeout("connect timed out"), Action.RETRY, "connect timeout"),
        (requests.exceptions.SSLError("handshake"), Action.RETRY, "connection failed"),
        (requests.exceptions.ChunkedEncodingError("cut"), Action.RETRY, "response body cut mid-stream"),
        (requests.exceptions.TooManyRedirects("loop"), Action.RETRY, "request failed"),
        (requests.exceptions.InvalidURL("bad url"), Action.FAIL, "invalid URL"),
        (BodyError("html"), Action.RETRY, "unusable response body"),
        (ValueError("bug"), Action.FAIL, "unexpected ValueError"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_failures_match_by_their_most_specific_class(
    failure: Exception, action: Action, meaning: str
) -> None:
    # a ReadTimeout is a ConnectionError too: the more specific entry wins
    resolution = resolve(failure)
    assert (resolution.action, resolution.message) == (action, meaning)


def test_an_invalid_url_is_a_config_error() -> None:
    assert resolve(requests.exceptions.InvalidURL("x")).failure_type is FailureType.config_error


# ------------------------------------------------------------------ Iterable's error bodies


def test_iterables_message_is_its_code_and_msg() -> None:
    answer = response(
        400, b'{"msg": " Template ID: 42 does not exist ", "code": "BadParams", "params": null}'
    )
    assert iterable_message(answer) == "BadParams: Template ID: 42 does not exist"


def test_a_body_that_is_not_json_is_quoted_short_and_on_one_line() -> None:
    text = b"<html>\n<title>Bad Gateway</title>\n" + b"x" * 500
    quoted = iterable_message(response(502, text))
    assert quoted.startswith("<html> <title>Bad Gateway</title>") and len(quoted) == 200


def test_an_empty_error_body_says_so() -> None:
    assert iterable_message(response(503, b"")) == "(empty body)"


def test_json_without_code_or_msg_is_quoted_as_sent() -> None:
    assert iterable_message(response(500, b'{"error": "boom"}')) == '{"error": "boom"}'


# ------------------------------------------------------------------ requests


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

    sent: Any = api.request_history[0].timeout
    assert sent == (3.0, 7.0)


def test_a_post_sends_its_json_body(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.post(BASE_URL + "/api/export/start", json={"jobId": 7})

    found = client_for(clock).request(
        "/api/export/start", None, read_json, what="x", method="POST", json={"dataTypeName": "emailSend"}
    )

    assert found == {"jobId": 7}
    assert api.request_history[0].json() == {"dataTypeName": "emailSend"}


# ------------------------------------------------------------------ 429: the budget closes for one window


def test_a_429_closes_the_budget_for_one_window_and_the_wait_does_not_escalate(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given the export budget at 4/min answering 429 twice, then 200
    seen: list[float] = []
    api.get(
        EXPORT_URL,
        [
            timed(clock, seen, 429, RATE_LIMITED_BODY),
            timed(clock, seen, 429, RATE_LIMITED_BODY),
            timed(clock, seen, 200, CHANNELS_BODY),
        ],
    )
    http = client_for(clock, rates={EXPORT_BUDGET: 4.0})

    # when
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        result = http.request(EXPORT_PATH, None, read_json, what="export")

    # then each retry starts one window (plus the margin) after the 429 before it, every time
    assert result == CHANNELS_BODY
    assert [later - earlier for earlier, later in pairwise(seen)] == [
        pytest.approx(WINDOW_AND_MARGIN),
        pytest.approx(WINDOW_AND_MARGIN),
    ]
    assert http.limiter(EXPORT_BUDGET).throttled == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "another client spent the data.json export budget, waiting 61s" in warnings[0]


def test_429_on_an_endpoint_without_a_budget_backs_off_from_the_base(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(UNPACED_URL, [error(429, RATE_LIMITED_BODY), error(429, RATE_LIMITED_BODY), OK])

    client_for(clock).get_json(UNPACED, what="x")

    assert clock.sleeps == [2.0, 4.0]


def test_429_rides_out_a_spent_budget_even_when_the_caller_allows_few_attempts(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a caller that allows 3 attempts (an export window before it is split) and 4 answers of 429
    seen: list[float] = []
    api.get(EXPORT_URL, [timed(clock, seen, 429, RATE_LIMITED_BODY)] * 4 + [timed(clock, seen, 200, {})])

    result = client_for(clock, rates={EXPORT_BUDGET: 4.0}).request(
        EXPORT_PATH, None, read_json, what="export", max_attempts=3
    )

    # then the 429s are waited out with the rate-limited attempts, not the caller's 3, a window each
    assert result == {}
    assert api.call_count == 5
    assert [later - earlier for earlier, later in pairwise(seen)] == [pytest.approx(WINDOW_AND_MARGIN)] * 4


def test_persistent_429_gives_up_after_the_rate_limited_attempts(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(EXPORT_URL, **error(429, RATE_LIMITED_BODY))
    settings = HttpSettings(backoff_cap=1.0, rate_limited_max_attempts=5)

    with pytest.raises(ApiError) as caught:
        client_for(clock, settings).request(EXPORT_PATH, None, read_json, what="export")

    assert api.call_count == 5
    assert caught.value.status == 429
    assert caught.value.transient
    assert caught.value.failure_type is FailureType.transient_error
    assert "RateLimitExceeded" in caught.value.message
    assert "failed after 5 attempts" in caught.value.message


# ------------------------------------------------------------------ retries and backoff


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
    assert failure.path == CHANNELS and failure.budget == "resources"
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


def test_the_caller_may_allow_fewer_attempts(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, status_code=500, json=GENERIC_ERROR_BODY)

    with pytest.raises(ApiError, match="after 2 attempts"):
        client_for(clock).request(CHANNELS, None, read_json, what="x", max_attempts=2)

    assert api.call_count == 2


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
    assert failure.key_refused
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
    assert not caught.value.transient and not caught.value.key_refused
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
    status: int,
    body: dict[str, Any],
    quoted: str,
) -> None:
    # given the export endpoint (read as a stream) answering an error
    api.get(EXPORT_URL, status_code=status, json=body)
    settings = HttpSettings(rate_limited_max_attempts=1)

    with pytest.raises(ApiError) as caught:
        client_for(clock, settings).request(
            EXPORT_PATH,
            None,
            partial(spool_records, convert=RecordShaper(dict).lines),
            what="export",
            stream=True,
        )

    # then the message quotes Iterable's code and msg, not "(empty body)"
    assert quoted in caught.value.message
    assert caught.value.status == status


def test_400_with_a_plain_text_body_quotes_the_text(api: requests_mock.Mocker, clock: FakeClock) -> None:
    body = 'Json error: {"obj.value":[{"msg":"error.expected.jsobject","args":[]}]}'
    api.get(CHANNELS_URL, status_code=400, text=body, headers={"Content-Type": "text/plain; charset=utf-8"})

    with pytest.raises(ApiError) as caught:
        client_for(clock).get_json(CHANNELS, what="x")

    assert body in caught.value.message


# ------------------------------------------------------------------ bodies that are not JSON


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
    assert "Action not found" in caught.value.message


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
    with pytest.raises(BodyError, match="empty body"):
        read_json(response(200, b"  \n"))


def test_read_json_names_the_content_type_size_and_start_of_a_body_that_is_not_json() -> None:
    with pytest.raises(BodyError) as caught:
        read_json(response(200, b"<html>maintenance</html>", "text/html"))

    assert "not JSON (text/html, 24 bytes: '<html>maintenance</html>')" in str(caught.value)


# ------------------------------------------------------------------ transport failures


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


# ------------------------------------------------------------------ redaction


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

    text = caught.value.message + str(caught.value) + caplog.text
    assert API_KEY[:8] not in text
    assert API_KEY[-8:] not in text
    assert "****" in caught.value.message


def test_redact_masks_every_occurrence_of_the_key(clock: FakeClock) -> None:
    assert client_for(clock).redact(f"a {API_KEY} b {API_KEY}") == "a **** b ****"


def test_debug_logging_shows_each_request_with_the_key_masked(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    api.get(CHANNELS_URL, json=CHANNELS_BODY)

    # when the connector logs at debug level
    with caplog.at_level(logging.DEBUG, logger="airbyte"):
        client_for(clock).get_json(CHANNELS, {"page": 1}, what="stream 'channels'")

    # then the request is logged, with the headers it sent and the key masked
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert line.startswith(f"stream 'channels': GET {CHANNELS_URL}?page=1 -> HTTP 200, headers sent: ")
    assert "'Api-Key': '****'" in line
    assert API_KEY not in caplog.text


def test_without_debug_logging_nothing_is_logged_for_a_good_request(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)

    with caplog.at_level(logging.INFO, logger="airbyte"):
        client_for(clock).get_json(CHANNELS, what="x")

    assert caplog.records == []


# ------------------------------------------------------------------ where the key goes


def test_the_key_is_sent_to_the_api_origin_only(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a pre-signed download on a storage host, and the API
    api.get(f"{STORAGE}/f-1.json", json={"ok": True})
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    http = client_for(clock)

    # when both are fetched
    http.request("", None, read_json, what="file", url=f"{STORAGE}/f-1.json?X-Amz-Signature=abc")
    http.get_json(CHANNELS, what="x")

    # then only the API request carried the key
    storage, iterable = api.request_history
    assert "Api-Key" not in storage.headers and API_KEY not in str(storage.headers)
    assert iterable.headers["Api-Key"] == API_KEY


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        ("https://api.iterable.com/api/lists", True),
        ("HTTPS://API.ITERABLE.COM/api/lists", True),
        ("http://api.iterable.com/api/lists", False),
        ("https://api.iterable.com:8443/api/lists", False),
        ("https://api.iterable.com.attacker.example/api/lists", False),
        ("https://api.eu.iterable.com/api/lists", False),
        (f"{STORAGE}/f-1.json", False),
    ],
)
def test_only_the_configured_origin_gets_the_key(clock: FakeClock, url: str, keyed: bool) -> None:
    assert client_for(clock).headers_for(url) == ({"Api-Key": API_KEY} if keyed else {})


def test_the_api_key_does_not_follow_a_redirect_to_another_origin(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given the API answering with a redirect to another host
    api.get(CHANNELS_URL, status_code=302, headers={"Location": "https://elsewhere.example.com/channels"})
    api.get("https://elsewhere.example.com/channels", json=CHANNELS_BODY)

    # when the client follows it (or refuses to)
    try:
        client_for(clock).get_json(CHANNELS, what="x")
    except ApiError:
        pass

    # then the other host never saw the key
    for request in api.request_history:
        if not request.url.startswith(BASE_URL + "/"):
            assert "Api-Key" not in request.headers, f"the key was sent to {request.url}"


def test_a_download_from_another_origin_draws_on_no_budget_and_skips_the_key_gate(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(f"{STORAGE}/f-1.json", json={})
    http = client_for(clock)

    http.request("", None, read_json, what="file", url=f"{STORAGE}/f-1.json")

    assert all(limiter.requests == 0 for limiter in http.limiters.all().values())
    assert not http.gate.proven  # only an answer of Iterable's proves the key


# ------------------------------------------------------------------ the key refusal memory


def test_a_key_refused_on_a_budget_answers_later_calls_on_it_without_a_request(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given the export endpoint refusing the key, and a resource endpoint accepting it
    api.get(EXPORT_URL, status_code=401, json=BAD_API_KEY_BODY)
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    http = client_for(clock)
    with pytest.raises(ApiError):
        http.request(EXPORT_PATH, None, read_json, what="stream 'email_send', window A")

    # when another export request is made on the same budget
    with pytest.raises(ApiError) as caught:
        http.request(EXPORT_PATH, None, read_json, what="stream 'email_open', window B")

    # then it fails with the first answer, as a config error, and no request is made
    assert api.call_count == 1
    later = caught.value
    assert later.failure_type is FailureType.config_error and later.status == 401 and not later.transient
    assert later.budget == EXPORT_BUDGET and later.key_refused
    assert later.message.startswith("stream 'email_open', window B: GET /api/export/data.json not attempted")
    assert "the key was already refused there" in later.message and "BadApiKey" in later.message
    # and a call on another budget still goes out
    assert http.get_json(CHANNELS, what="x") == CHANNELS_BODY
    assert api.call_count == 2


def test_a_refusal_on_a_path_without_a_budget_is_not_remembered(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(UNPACED_URL, status_code=403, json=BAD_API_KEY_BODY)
    http = client_for(clock)

    for _ in range(2):
        with pytest.raises(ApiError, match="HTTP 403"):
            http.get_json(UNPACED, what="x")

    assert api.call_count == 2


def test_other_failures_are_not_remembered(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [error(400, BAD_PARAMS_BODY), OK])
    http = client_for(clock)

    with pytest.raises(ApiError):
        http.get_json(CHANNELS, what="x")

    assert http.get_json(CHANNELS, what="x") == CHANNELS_BODY
    assert http.refused == {}


# ------------------------------------------------------------------ the key gate


@pytest.mark.parametrize(
    ("status", "proven"), [(200, True), (500, True), (404, True), (401, False), (403, False)]
)
def test_any_answer_but_a_refusal_proves_the_key(
    api: requests_mock.Mocker, clock: FakeClock, status: int, proven: bool
) -> None:
    api.get(UNPACED_URL, status_code=status, json={})
    http = client_for(clock, HttpSettings(max_attempts=1))

    try:
        http.get_json(UNPACED, what="x")
    except ApiError:
        pass

    assert http.gate.proven is proven


def test_a_transport_failure_does_not_prove_the_key(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(UNPACED_URL, exc=requests.exceptions.ConnectTimeout("x"))
    http = client_for(clock, HttpSettings(max_attempts=1))

    with pytest.raises(ApiError):
        http.get_json(UNPACED, what="x")

    assert not http.gate.proven


def test_until_the_key_is_answered_a_second_request_waits_for_the_first(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a first request (channels) whose answer the test holds back, and a second one on another budget
    answer_first = threading.Event()
    first_sent = threading.Event()
    second_waits = threading.Event()

    def held(request: Any, context: Any) -> dict[str, Any]:
        first_sent.set()
        assert answer_first.wait(5), "the test never let the first answer go"
        return CHANNELS_BODY

    api.get(CHANNELS_URL, json=held)
    api.get(BASE_URL + "/api/users/getFields", json={"fields": {}})
    http = client(clock, settings=SETTINGS, waiter=woken_by_notify)

    def noting(condition: threading.Condition, seconds: float) -> None:
        second_waits.set()
        condition.wait(seconds)

    http.gate = KeyGate(waiter=noting)
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(http.get_json(CHANNELS, what="first")))
    second = threading.Thread(
        target=lambda: results.append(http.get_json("/api/users/getFields", what="second"))
    )

    # when both are made while the first is unanswered
    first.start()
    assert first_sent.wait(5)
    second.start()
    assert second_waits.wait(5)

    # then the second one waits at the gate, not on the wire
    assert [r.path for r in api.request_history] == ["/api/channels"]
    answer_first.set()
    first.join(5)
    second.join(5)
    assert [r.path for r in api.request_history] == ["/api/channels", "/api/users/getFields"]
    assert http.gate.proven and len(results) == 2


# ------------------------------------------------------------------ ignored statuses, counting, stopping


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


def test_on_status_may_claim_an_error_answer(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, status_code=403, text="Request has expired")

    claimed = client_for(clock).request(
        CHANNELS, None, read_json, what="x", on_status=lambda status, answer: f"claimed {status}"
    )

    assert claimed == "claimed 403"


def test_every_attempt_takes_a_slot_of_its_budget(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a 1/min export budget, a 500 then a 200
    seen: list[float] = []
    api.get(EXPORT_URL, [timed(clock, seen, 500, GENERIC_ERROR_BODY), timed(clock, seen, 200, {})])

    client_for(clock, rates={EXPORT_BUDGET: 1.0}).request(EXPORT_PATH, None, read_json, what="export")

    # then the retry waits its backoff (2 s), then the rest of the budget's minute plus its margin
    assert clock.sleeps[0] == 2.0
    assert seen[1] - seen[0] == pytest.approx(WINDOW_AND_MARGIN)


def test_requests_made_counts_every_attempt(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, [error(500, GENERIC_ERROR_BODY), OK])
    http = client_for(clock)

    http.get_json(CHANNELS, what="x")

    assert http.requests_made == 2
    assert http.limiter("resources").requests == 2


def test_a_stopped_sync_makes_no_request(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(CHANNELS_URL, json=CHANNELS_BODY)
    api.delete(BASE_URL + "/api/export/7", json={})
    http = client_for(clock)
    http.abort.set()

    with pytest.raises(Aborted):
        http.get_json(CHANNELS, what="x")

    # except the clean-up calls of a stopping sync
    assert (
        http.request("/api/export/7", None, read_json, what="x", method="DELETE", even_if_aborted=True) == {}
    )
    assert [r.method for r in api.request_history] == ["DELETE"]


def test_a_stop_during_a_backoff_ends_the_request(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given a backoff wait that is cut short by a stop (the sleep answers True)
    api.get(CHANNELS_URL, status_code=500, json=GENERIC_ERROR_BODY)
    cfg_client = client_for(clock)
    cfg_client._sleep = lambda seconds: True

    with pytest.raises(Aborted):
        cfg_client.get_json(CHANNELS, what="x")

    assert api.call_count == 1


# ------------------------------------------------------------------ settings


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


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_a_bad_knob_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ITERABLE_BACKOFF_BASE_SECONDS", value)

    with pytest.raises(ConfigError) as caught:
        HttpSettings.from_env()

    assert caught.value.field == "ITERABLE_BACKOFF_BASE_SECONDS"


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    settings = HttpSettings(backoff_base=2.0, backoff_cap=10.0)
    assert [settings.backoff(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


# ------------------------------------------------------------------ a hook before each attempt is sent

START_PATH = "/api/export/start"
JOBS_BUDGET = "export jobs"


def test_before_send_runs_once_per_attempt_after_the_slot_is_taken_and_before_the_request(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a start call answered 500 once, then 200
    calls: list[tuple[int, int]] = []
    api.post(BASE_URL + START_PATH, [error(500, GENERIC_ERROR_BODY), {"json": {"jobId": 1}}])
    http = client_for(clock)
    limiter = http.limiter(JOBS_BUDGET)

    def hook() -> None:
        calls.append((limiter.requests, len(api.request_history)))

    # when it is made with a hook
    http.request(START_PATH, None, read_json, what="x", method="POST", json={}, before_send=hook)
    # then the hook ran before each attempt, each time with that attempt's slot taken and nothing sent yet
    assert calls == [(1, 0), (2, 1)]


def test_a_hook_that_aborts_sends_nothing_and_gives_the_slot_back(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.post(BASE_URL + START_PATH, json={"jobId": 1})
    http = client_for(clock)

    def refuse() -> None:
        raise Aborted()

    with pytest.raises(Aborted):
        http.request(START_PATH, None, read_json, what="x", method="POST", json={}, before_send=refuse)
    assert api.call_count == 0
    # the budget is free for the next request at once
    assert http.request(START_PATH, None, read_json, what="x", method="POST", json={}) == {"jobId": 1}


def test_a_hook_that_waited_past_the_margin_takes_a_fresh_slot_before_sending(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a budget of 1 a minute (a margin of 1 s) and three start calls, the second one's hook taking
    # 2 s (the main thread printing its intent) after its slot was taken
    seen: list[float] = []

    def answer(request: Any, context: Any) -> dict[str, int]:
        seen.append(clock.now)
        return {"jobId": 1}

    def printing() -> None:
        clock.sleep(2.0)

    api.post(BASE_URL + START_PATH, json=answer)
    http = client_for(clock, rates={JOBS_BUDGET: 1.0})
    for hook in (None, printing, None):
        http.request(START_PATH, None, read_json, what="x", method="POST", json={}, before_send=hook)

    # then each call reaches Iterable at least a window after the one before: the late one did not
    # bring the next one within Iterable's window of it
    window = http.limiter(JOBS_BUDGET).window
    assert [b - a >= window for a, b in pairwise(seen)] == [True, True]
