"""Small builders shared by the unit tests: configs, clients, NDJSON bodies, a fake clock.

The bodies follow the fact sheet (../shared/iterable-api.md): error envelopes, export rows and
resource payloads as Iterable sends them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from urllib3.exceptions import ProtocolError

from source_iterable.config import IterableConfig, parse_config
from source_iterable.http import HttpSettings, IterableClient
from source_iterable.rate_limit import ProjectLimiters

API_KEY = "0123456789abcdef0123456789abcdef"
BASE_URL = "https://api.iterable.com"
EXPORT_PATH = "/api/export/data.json"
GET_USERS_PATH = "/api/lists/getUsers"
EXPORT_URL = BASE_URL + EXPORT_PATH
# "Now" of every test that needs one: well after the default start_date below.
NOW = datetime(2024, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
# High enough that the limiters never make a unit test wait.
FAST_RATES: Mapping[str, float] = {EXPORT_PATH: 60_000.0, GET_USERS_PATH: 60_000.0}

# Error bodies quoted in the fact sheet, section 2.
BAD_API_KEY_BODY = {
    "msg": "Invalid API key",
    "code": "BadApiKey",
    "params": {"ip": "192.184.158.61", "endpoint": "/api/experiments/metrics"},
}
RATE_LIMITED_BODY = {
    "msg": "Exceeded rate limit of 4.0 per minute for endpoint: /api/export/data.json, project: 2158 ",
    "code": "RateLimitExceeded",
    "params": {},
}
GENERIC_ERROR_BODY = {
    "msg": "An error occurred. Please try again later. If problem persists, please contact your CSM",
    "code": "GenericError",
    "params": None,
}
BAD_PARAMS_BODY = {
    "msg": "Template ID: 42 does not exist for this project",
    "code": "BadParams",
    "params": None,
}
NOT_FOUND_BODY = {
    "msg": "No metadata found in table exampletable with key dnuofton",
    "code": "NotFound",
    "params": None,
}


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A valid raw config; ``None`` as an override removes the field."""
    raw: dict[str, Any] = {"api_key": API_KEY, "start_date": "2024-03-01T00:00:00Z"}
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def iterable_config(now: datetime = NOW, **overrides: Any) -> IterableConfig:
    return parse_config(config_dict(**overrides), now)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def ndjson(rows: Iterable[Mapping[str, Any]], trailing_newline: bool = True) -> bytes:
    """An export body: one JSON object per line."""
    body = b"\n".join(orjson.dumps(row) for row in rows)
    return body + b"\n" if body and trailing_newline else body


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a request URL, decoded and with their case kept."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called; records every sleep."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fast_limiters(clock: FakeClock, rates: Mapping[str, float] | None = None) -> ProjectLimiters:
    """The project's limiters on the fake clock, fast unless ``rates`` slows a path down."""
    return ProjectLimiters(clock=clock, sleep=clock.sleep, rates={**FAST_RATES, **(rates or {})})


def make_client(
    clock: FakeClock,
    config: IterableConfig | None = None,
    settings: HttpSettings | None = None,
    limiters: ProjectLimiters | None = None,
) -> IterableClient:
    """A client whose sleeps and clock are the fake clock's: no test ever waits."""
    return IterableClient(
        config or iterable_config(),
        limiters or fast_limiters(clock),
        settings=settings or HttpSettings(),
        sleep=clock.sleep,
        clock=clock,
    )


class CutBody(io.RawIOBase):
    """A raw response body that delivers ``data`` and then breaks like a connection closed mid-body."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data
        self._sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._sent:
            raise ProtocolError("Connection broken: IncompleteRead(0 bytes read, 512 more expected)")
        self._sent = True
        buffer[: len(self._data)] = self._data
        return len(self._data)
