"""What Iterable's answers mean: each status or transport failure mapped to an action, as data.

``ERROR_MAPPING`` says, per status code or exception class, whether a request is retried, waited out
(rate limit) or failed, and what the failure means for the user; ``client.IterableClient`` is the only
loop that acts on it. Messages name the likely cause, so a user reading the trace knows what to fix
(401: key, data center or key type).

Nothing here imports the CDK: the read path does not pay for its 2 s import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import orjson
import requests


class FailureType(str, Enum):
    """The Airbyte protocol's failure types (the values are the protocol's spelling)."""

    config_error = "config_error"
    system_error = "system_error"
    transient_error = "transient_error"


class Action(Enum):
    RETRY = "retry"  # back off, then try again (bounded)
    RATE_LIMITED = "rate limited"  # the budget is spent: wait for it to reopen, then try again
    FAIL = "fail"  # asking again will not help


@dataclass(frozen=True)
class Resolution:
    action: Action
    failure_type: FailureType
    message: str


class ConnectorError(Exception):
    """A failure we understand: one message for the user, its Airbyte failure type, no traceback."""

    def __init__(self, message: str, failure_type: FailureType = FailureType.system_error) -> None:
        super().__init__(message)
        self.message = message
        self.failure_type = failure_type


class ApiError(ConnectorError):
    """A request that failed for good; the message says what was asked, what came back and why."""

    def __init__(
        self,
        message: str,
        failure_type: FailureType,
        status: int | None,
        transient: bool,
        path: str = "",
        budget: str | None = None,
    ) -> None:
        super().__init__(message, failure_type)
        self.status = status
        self.transient = transient
        self.path = path
        self.budget = budget  # the budget (endpoint family) the request drew from

    @property
    def key_refused(self) -> bool:
        return self.status in (401, 403)


class BodyError(Exception):
    """A 200 response whose body is not what the endpoint promises (HTML, empty, cut, bad line)."""


class Aborted(Exception):
    """The sync is stopping (a refused key, a signal): no further requests are made."""


def _retry(message: str) -> Resolution:
    return Resolution(Action.RETRY, FailureType.transient_error, message)


def _fail(message: str, failure_type: FailureType = FailureType.system_error) -> Resolution:
    return Resolution(Action.FAIL, failure_type, message)


KEY_PROBLEM = (
    "the API key is invalid or disabled, belongs to a project in the other data center "
    "(check the region setting: US is api.iterable.com, EU is api.eu.iterable.com), or is of a type "
    "that may not call this endpoint (the export and list-member endpoints need a Server-side key)"
)

ERROR_MAPPING: Mapping[int | type[Exception], Resolution] = {
    400: _fail("Iterable rejected the request parameters"),
    401: _fail(f"Iterable refused the API key: {KEY_PROBLEM}", FailureType.config_error),
    403: _fail(f"Iterable forbids this call for the API key: {KEY_PROBLEM}", FailureType.config_error),
    404: _fail("Iterable has no such resource"),
    408: _retry("request timeout"),
    409: _retry("conflict"),
    414: _fail("the request URI is too long for Iterable"),
    429: Resolution(Action.RATE_LIMITED, FailureType.transient_error, "rate limit exceeded"),
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


def resolve(outcome: requests.Response | Exception) -> Resolution:
    """The resolution for a response or a transport failure; exceptions match by class hierarchy
    (a ReadTimeout is also a ConnectionError, and the more specific entry wins)."""
    if isinstance(outcome, Exception):
        for klass in type(outcome).__mro__:
            found = ERROR_MAPPING.get(klass)
            if found is not None:
                return found
        return _fail(f"unexpected {type(outcome).__name__}")
    status = outcome.status_code
    found = ERROR_MAPPING.get(status)
    if found is not None:
        return found
    if status >= 500:
        return _retry(f"server error {status}")
    return _fail(f"unexpected HTTP status {status}")


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
