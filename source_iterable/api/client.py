"""HTTP client for Iterable: one session, explicit timeouts, one retry loop.

``errors.ERROR_MAPPING`` says what each status or transport failure means; ``budgets`` says when a
request may start; ``IterableClient.request`` is the only loop that acts on them. The body is read
inside that loop, so a body cut mid-stream or not in the expected format is retried like a 5xx, and
nothing from a bad body reaches a stream.

The API key goes to the configured API origin only: file downloads of export jobs (pre-signed URLs
on a storage host) are made without it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import orjson
import requests

from .budgets import Limiters, budget_for
from .errors import Aborted, Action, ApiError, BodyError, FailureType, iterable_message, resolve
from .limiter import KeyGate, Limiter

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
        from ..config import ConfigError

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

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempt - 1)))


class IterableClient:
    """All HTTP traffic of one sync: one session, the project's budgets, one retry loop."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        limiters: Limiters,
        settings: HttpSettings | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        abort: threading.Event | None = None,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self._api_key = api_key
        self.limiters = limiters
        self.settings = settings or HttpSettings.from_env()
        self._session = session or requests.Session()
        self._session.headers.update({"Accept": "application/json"})
        self._clock = clock
        self.abort = abort or threading.Event()
        # Backoff waits end early when the sync stops (True: stopped); tests pass a fake clock's.
        self._sleep = sleep or self.abort.wait
        self._count_lock = threading.Lock()
        self.requests_made = 0
        self.gate = KeyGate()
        # A budget whose endpoint refused the key (401/403): asking again cannot succeed, so its later
        # requests fail at once with the first answer, without a request.
        self.refused: dict[str, ApiError] = {}

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "****") if self._api_key else text

    def headers_for(self, url: str) -> dict[str, str]:
        """The key only for the API origin: never for a storage host's pre-signed URL."""
        return {"Api-Key": self._api_key} if _origin(url) == self._origin else {}

    def request(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        read_body: Callable[[requests.Response], T],
        *,
        what: str,
        method: str = "GET",
        json: Any = None,
        url: str | None = None,
        stream: bool = False,
        max_attempts: int | None = None,
        ignore_statuses: frozenset[int] = frozenset(),
        on_status: Callable[[int, requests.Response], Any] | None = None,
        even_if_aborted: bool = False,
        before_send: Callable[[], None] | None = None,
    ) -> T | None:
        """``method path`` (or an absolute ``url``) and return ``read_body(response)``, retrying what
        ``ERROR_MAPPING`` says. ``what`` names the caller's context (stream, window, list id) for every
        message. A status in ``ignore_statuses`` returns None; ``on_status`` may claim any non-2xx
        answer first (return non-None to return that instead). ``even_if_aborted`` is for the clean-up
        calls of a stopping sync (cancelling its export jobs). ``before_send`` runs before each attempt
        is sent, once its rate-budget slot is taken (an export job's intent is recorded there); it may
        raise ``Aborted`` to send nothing."""
        target = url or self.base_url + path
        limiter = None if url else self.limiters.for_request(method, path)
        budget = None if url else budget_for(method, path)
        budget_name = budget.name if budget is not None else None
        where = f"{method} {path or _origin(target)}"
        started = self._clock()
        attempt = 0
        abort = None if even_if_aborted else self.abort
        while True:
            attempt += 1
            if abort is not None and abort.is_set():
                raise Aborted()
            self._raise_if_refused(budget_name, what, where)
            if limiter is not None:
                limiter.acquire(abort)
            holding = limiter is not None  # a slot taken with acquire, given back with answered
            outcome: requests.Response | Exception
            response: requests.Response | None = None
            answered: int | None = None
            keyed = not url
            try:
                if keyed:
                    self.gate.enter(abort)
                self._raise_if_refused(budget_name, what, where)
                if before_send is not None:
                    asked = self._clock()
                    before_send()
                    if limiter is not None and self._clock() - asked > limiter.margin:
                        # The slot was stamped before the wait: sent this much later, the request could
                        # reach Iterable within one window of the next one. Take a fresh slot.
                        holding = False
                        limiter.answered(None)
                        limiter.acquire(abort)
                        holding = True
                with self._count_lock:
                    self.requests_made += 1
                response = self._session.request(
                    method,
                    target,
                    params=params,
                    json=json,
                    headers=self.headers_for(target),
                    # requests keeps custom headers across a redirect to another host: a keyed call
                    # must not follow one, or the key would leave Iterable.
                    allow_redirects=not keyed,
                    stream=stream,
                    timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                )
                answered = response.status_code
                outcome = response
                if LOGGER.isEnabledFor(logging.DEBUG):
                    sent = {
                        k: ("****" if k.lower() == "api-key" else v)
                        for k, v in response.request.headers.items()
                    }
                    LOGGER.debug(
                        self.redact(
                            f"{what}: {method} {response.url} -> HTTP {answered}, headers sent: {sent}"
                        )
                    )
                if answered in ignore_statuses:
                    return None
                if response.ok:
                    return read_body(response)
                if on_status is not None:
                    claimed = on_status(answered, response)
                    if claimed is not None:
                        return cast(T, claimed)
                if stream:
                    response.content  # noqa: B018 - the message quotes the short error body
            except (requests.RequestException, BodyError) as exc:
                outcome = exc
            finally:
                if answered in (401, 403) and budget_name is not None and response is not None:
                    # Recorded before anyone waiting on the gate or the budget is let go.
                    detail = self._describe(response, resolve(response).message)
                    self.refused.setdefault(
                        budget_name, self._refusal(what, where, detail, answered, path, budget_name)
                    )
                if keyed:
                    self.gate.leave(answered)
                if limiter is not None and holding:
                    limiter.answered(answered)
                if response is not None:
                    response.close()

            resolution = resolve(outcome)
            detail = self._describe(outcome, resolution.message)
            status = outcome.status_code if isinstance(outcome, requests.Response) else None
            if resolution.action is Action.FAIL:
                raise ApiError(
                    self.redact(f"{what}: {where} failed: {detail}"),
                    resolution.failure_type,
                    status,
                    False,
                    path,
                    budget_name,
                )
            # ``max_attempts`` bounds the failures a caller can act on (an export window is split after
            # them); a spent rate budget is waited out whatever the caller asked for.
            if resolution.action is Action.RATE_LIMITED:
                limit = self.settings.rate_limited_max_attempts
                wait = 0.0 if limiter is not None else self.settings.backoff(attempt)
            else:
                limit = max_attempts or self.settings.max_attempts
                wait = self.settings.backoff(attempt)
            elapsed = self._clock() - started
            if attempt >= limit or elapsed + wait > self.settings.max_retry_seconds:
                raise ApiError(
                    self.redact(
                        f"{what}: {where} failed after {attempt} attempts in {elapsed:.0f}s; last error: {detail}"
                    ),
                    FailureType.transient_error,
                    status,
                    True,
                    path,
                    budget_name,
                )
            if resolution.action is Action.RATE_LIMITED and limiter is not None:
                LOGGER.warning(
                    self.redact(
                        f"{what}: {where}: {detail}; another client spent the {limiter.name} budget, waiting "
                        f"{limiter.delay():.0f}s for it to reopen (attempt {attempt})"
                    )
                )
            else:
                LOGGER.warning(
                    self.redact(f"{what}: {where}: {detail}; retrying in {wait:.1f}s (attempt {attempt})")
                )
            if wait and self._sleep(wait) and abort is not None:
                raise Aborted()

    def _refusal(self, what: str, where: str, detail: str, status: int, path: str, budget: str) -> ApiError:
        message = self.redact(f"{what}: {where} failed: {detail}")
        return ApiError(message, FailureType.config_error, status, False, path, budget)

    def _raise_if_refused(self, budget: str | None, what: str, where: str) -> None:
        first = self.refused.get(budget) if budget is not None else None
        if first is not None:
            detail = first.message.split(" failed: ", 1)[-1]
            raise ApiError(
                f"{what}: {where} not attempted: the key was already refused there ({detail})",
                FailureType.config_error,
                first.status,
                False,
                first.path,
                budget,
            )

    def _describe(self, outcome: requests.Response | Exception, meaning: str) -> str:
        if isinstance(outcome, requests.Response):
            return f"HTTP {outcome.status_code} ({iterable_message(outcome, self.redact)}); {meaning}"
        return f"{meaning} ({type(outcome).__name__}: {self.redact(str(outcome))[:300]})"

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> Any:
        return self.request(path, params, read_json, what=what)

    def limiter(self, name: str) -> Limiter:
        return self.limiters.named(name)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def read_json(response: requests.Response) -> Any:
    """The parsed JSON body; a 200 with HTML or nothing in it is a ``BodyError``, not data."""
    body = response.content
    if not body.strip():
        raise BodyError(f"HTTP {response.status_code} with an empty body where JSON was expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        kind = response.headers.get("Content-Type", "no content type")
        excerpt = body[:80].decode("utf-8", "replace").replace("\n", " ")
        raise BodyError(
            f"HTTP {response.status_code} with a body that is not JSON ({kind}, {len(body)} bytes: {excerpt!r})"
        ) from None
