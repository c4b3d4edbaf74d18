"""What Iterable's answers mean: each status or transport failure mapped to an action, as data.

``ERROR_MAPPING`` is the CDK's ``ErrorResolution`` per status code or exception class; the client in
``http.py`` is the only loop that acts on it. Messages name the likely cause, so a user reading the
trace knows what to fix (401: key, data center or key type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class BodyError(Exception):
    """A 200 response whose body is not what the endpoint promises (HTML, empty, cut, bad line)."""


def _retry(message: str) -> ErrorResolution:
    return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, message)


def _fail(message: str, failure_type: FailureType = FailureType.system_error) -> ErrorResolution:
    return ErrorResolution(ResponseAction.FAIL, failure_type, message)


KEY_PROBLEM = (
    "the API key is invalid or disabled, belongs to a project in the other data center "
    "(check the region setting: US is api.iterable.com, EU is api.eu.iterable.com), or is of a type "
    "that may not call this endpoint (the export and list-member endpoints need a Server-side key)"
)

ERROR_MAPPING: Mapping[int | str | type[Exception], ErrorResolution] = {
    400: _fail("Iterable rejected the request parameters"),
    401: _fail(f"Iterable refused the API key: {KEY_PROBLEM}", FailureType.config_error),
    403: _fail(f"Iterable forbids this call for the API key: {KEY_PROBLEM}", FailureType.config_error),
    404: _fail("Iterable has no such resource"),
    408: _retry("request timeout"),
    409: _retry("conflict"),
    429: ErrorResolution(ResponseAction.RATE_LIMITED, FailureType.transient_error, "rate limit exceeded"),
    500: _retry("Iterable internal error"),
    502: _retry("bad gateway"),
    503: _retry("service unavailable"),
    504: _retry("gateway timeout"),
    BodyError: _retry("unusable response body"),
    requests.exceptions.ConnectTimeout: _retry("connect timeout"),
    requests.exceptions.ReadTimeout: _retry("read timeout"),
    requests.exceptions.ChunkedEncodingError: _retry("response body cut mid-stream"),
    requests.exceptions.ConnectionError: _retry("connection failed"),
    requests.exceptions.InvalidURL: _fail("invalid URL", FailureType.config_error),
    requests.exceptions.RequestException: _retry("request failed"),
}


class IterableErrorHandler(HttpStatusErrorHandler):
    """The CDK handler, but exceptions match by class hierarchy (a ReadTimeout is a ConnectionError)."""

    def interpret_response(
        self, response_or_exception: requests.Response | Exception | None = None
    ) -> ErrorResolution:
        if isinstance(response_or_exception, Exception):
            for klass in type(response_or_exception).__mro__:
                resolution = self._error_mapping.get(klass)
                if resolution is not None:
                    return resolution
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code >= 500:
            if response_or_exception.status_code not in self._error_mapping:
                return _retry(f"server error {response_or_exception.status_code}")
        return super().interpret_response(response_or_exception)


class ApiError(AirbyteTracedException):
    """A request that failed for good; the message says what was asked, what came back and why."""

    def __init__(self, message: str, failure_type: FailureType, status: int | None, transient: bool) -> None:
        super().__init__(message=message, internal_message=message, failure_type=failure_type)
        self.status = status
        self.transient = transient


def iterable_message(response: requests.Response, redact: Callable[[str], str] = str) -> str:
    """Iterable's own ``code: msg`` from an error body, or a short excerpt when it is not JSON.

    ``redact`` runs before the excerpt is cut, so a key echoed in the body cannot survive in part.
    """
    body = response.content[:2000]
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = redact(body.decode("utf-8", "replace")).strip().replace("\n", " ")
        return text[:200] or "(empty body)"
    if isinstance(parsed, dict) and ("msg" in parsed or "code" in parsed):
        return redact(f"{parsed.get('code', '')}: {str(parsed.get('msg', '')).strip()}").strip(": ")
    return redact(body.decode("utf-8", "replace"))[:200]
