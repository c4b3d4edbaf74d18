"""HTTP client for Iterable: one session, explicit timeouts, one retry loop.

``errors.ERROR_MAPPING`` says what each status or transport failure means (the CDK's ``ErrorResolution``);
``IterableBackoff`` says how long to wait before the next attempt; ``IterableClient.request`` is the
only loop that acts on them. The body is read inside that loop, so a body cut mid-stream or not in
the expected format is retried like a 5xx, and nothing from a bad body reaches a stream.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

from .config import ConfigError, IterableConfig
from .errors import ERROR_MAPPING, ApiError, BodyError, IterableErrorHandler, iterable_message
from .rate_limit import ProjectLimiters, RollingWindowLimiter

T = TypeVar("T")
LOGGER = logging.getLogger("airbyte")


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 30.0
    # Exports of a large window can take minutes before the first byte arrives.
    read_timeout: float = 300.0
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    max_attempts: int = 6
    rate_limited_max_attempts: int = 30
    max_retry_seconds: float = 900.0

    @classmethod
    def from_env(cls) -> HttpSettings:
        """Timeouts and backoff can be shortened for tests; production uses the defaults."""

        def number(name: str, default: float) -> float:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value < 0:
                raise ConfigError(name, f"must be a non-negative number of seconds, got {raw!r}")
            return value

        defaults = cls()
        return cls(
            connect_timeout=number("ITERABLE_HTTP_CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout),
            read_timeout=number("ITERABLE_HTTP_READ_TIMEOUT_SECONDS", defaults.read_timeout),
            backoff_base=number("ITERABLE_BACKOFF_BASE_SECONDS", defaults.backoff_base),
            backoff_cap=number("ITERABLE_BACKOFF_CAP_SECONDS", defaults.backoff_cap),
            max_retry_seconds=number("ITERABLE_RETRY_MAX_SECONDS", defaults.max_retry_seconds),
        )


class IterableBackoff(BackoffStrategy):
    """Exponential backoff with a cap; after a 429 wait in units of the endpoint's budget slot.

    Iterable's 429 carries no Retry-After. The limiter keeps us within the budget, so a 429 means
    another client of the same project spent it: wait one slot, then two, four... up to the cap.
    """

    def __init__(self, settings: HttpSettings, limiter: RollingWindowLimiter | None) -> None:
        self._settings = settings
        self._limiter = limiter

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | Exception | None,
        attempt_count: int,
    ) -> float | None:
        unit = self._settings.backoff_base
        if (
            isinstance(response_or_exception, requests.Response)
            and response_or_exception.status_code == 429
            and self._limiter is not None
        ):
            unit = self._limiter.slot_seconds
        return float(min(self._settings.backoff_cap, unit * 2 ** max(0, attempt_count - 1)))


class IterableClient:
    """All HTTP traffic of one sync: one session, the project's limiters, one retry loop."""

    def __init__(
        self,
        config: IterableConfig,
        limiters: ProjectLimiters,
        settings: HttpSettings | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._limiters = limiters
        self.settings = settings or HttpSettings.from_env()
        self._session = session or requests.Session()
        self._session.headers.update({"Api-Key": config.api_key, "Accept": "application/json"})
        self._errors = IterableErrorHandler(
            LOGGER, error_mapping=ERROR_MAPPING, max_time=timedelta(seconds=self.settings.max_retry_seconds)
        )
        self._sleep = sleep
        self._clock = clock
        self.requests_made = 0

    def redact(self, text: str) -> str:
        return text.replace(self._config.api_key, "****") if self._config.api_key else text

    def request(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        read_body: Callable[[requests.Response], T],
        *,
        what: str,
        stream: bool = False,
        max_attempts: int | None = None,
        ignore_statuses: frozenset[int] = frozenset(),
    ) -> T | None:
        """GET ``path`` and return ``read_body(response)``, retrying what ``ERROR_MAPPING`` says.

        ``what`` names the caller's context (stream, window, list id) for every message.
        Returns None for a status in ``ignore_statuses``.
        """
        limiter = self._limiters.for_path(path)
        backoff = IterableBackoff(self.settings, limiter)
        url = self._config.base_url + path
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                limiter.acquire()
            outcome: requests.Response | Exception
            response: requests.Response | None = None
            try:
                self.requests_made += 1
                response = self._session.get(
                    url,
                    params=params,
                    stream=stream,
                    timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                )
                outcome = response
                if LOGGER.isEnabledFor(logging.DEBUG):
                    LOGGER.debug(
                        self.redact(
                            f"{what}: GET {response.url} -> HTTP {response.status_code}, headers sent: "
                            f"{dict(response.request.headers)}"
                        )
                    )
                if response.status_code in ignore_statuses:
                    response.close()
                    return None
                if response.ok:
                    return read_body(response)
                if stream:
                    # The message quotes the (short) error body: read it before the stream is closed below.
                    response.content  # noqa: B018
            except (requests.RequestException, BodyError) as exc:
                outcome = exc
            finally:
                if response is not None and stream:
                    response.close()

            resolution = self._errors.interpret_response(outcome)
            detail = self._describe(outcome, resolution)
            action = resolution.response_action
            transient = action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
            status = outcome.status_code if isinstance(outcome, requests.Response) else None
            if not transient:
                raise ApiError(
                    self.redact(f"{what}: GET {path} failed: {detail}"),
                    resolution.failure_type or FailureType.system_error,
                    status,
                    transient=False,
                )
            # ``max_attempts`` bounds the failures a caller can act on (an export window is split after
            # them); a spent rate budget is waited out whatever the caller asked for.
            if action == ResponseAction.RATE_LIMITED:
                limit = self.settings.rate_limited_max_attempts
            else:
                limit = max_attempts or self.settings.max_attempts
            wait = backoff.backoff_time(outcome, attempt) or 0.0
            elapsed = self._clock() - started
            if attempt >= limit or elapsed + wait > self.settings.max_retry_seconds:
                raise ApiError(
                    self.redact(
                        f"{what}: GET {path} failed after {attempt} attempts in {elapsed:.0f}s; last error: {detail}"
                    ),
                    FailureType.transient_error,
                    status,
                    transient=True,
                )
            LOGGER.warning(
                self.redact(f"{what}: GET {path}: {detail}; retrying in {wait:.1f}s (attempt {attempt})")
            )
            self._sleep(wait)

    def _describe(self, outcome: requests.Response | Exception, resolution: ErrorResolution) -> str:
        if isinstance(outcome, requests.Response):
            message = iterable_message(outcome, self.redact)
            return f"HTTP {outcome.status_code} ({message}); {resolution.error_message}"
        return f"{resolution.error_message} ({type(outcome).__name__}: {str(outcome)[:300]})"

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> Any:
        return self.request(path, params, read_json, what=what)


def read_json(response: requests.Response) -> Any:
    """The parsed JSON body; a 200 with HTML or nothing in it is a ``BodyError``, not data."""
    body = response.content
    if not body.strip():
        raise BodyError(f"HTTP {response.status_code} with an empty body where JSON was expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        kind = response.headers.get("Content-Type", "no content type")
        excerpt = filter_secrets(body[:2000].decode("utf-8", "replace"))[:80].replace("\n", " ")
        raise BodyError(
            f"HTTP {response.status_code} with a body that is not JSON ({kind}, {len(body)} bytes: {excerpt!r})"
        ) from None
