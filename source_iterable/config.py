"""The user's configuration, parsed once into a typed value.

Every problem becomes a ``ConfigError`` that names the field and the accepted form, so that the
entry point can report it as an Airbyte ``config_error`` trace instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from .api.errors import ConnectorError, FailureType

REGION_HOSTS: Mapping[str, str] = {
    "US": "https://api.iterable.com",
    "EU": "https://api.eu.iterable.com",
}
DEFAULT_WINDOW_IN_DAYS = 30
# Iterable indexes events into the export pipeline with a delay; reading right up to "now" would
# bookmark past events that are not visible yet and lose them for good.
DEFAULT_EXPORT_LAG_MINUTES = 5
EXPORT_APIS = ("auto", "sync", "async")
MAX_EXPORT_JOBS = 4  # Iterable runs at most 4 exports at once per organization; the rest queue
# Fetched ahead of printing, per stream and in temporary disk: enough to keep every budget busy while
# one stream's records are printed, small enough that a backfill never fills the disk.
DEFAULT_READ_AHEAD_UNITS = 8
DEFAULT_READ_AHEAD_MB = 1024
MAX_READ_AHEAD_UNITS = 64
MAX_READ_AHEAD_MB = 65536
MAX_WINDOW_IN_DAYS = 365  # adaptive windows never grow past a year either (windows.MAX_WINDOW)
MAX_EXPORT_LAG_MINUTES = 1440
# Iterable makes some events exportable minutes after their createdAt (real data: opens 5-6 minutes
# late), and custom events and purchases may be tracked with any past createdAt: each sync re-reads
# this span behind its bookmark and delivers only the rows it has not delivered before.
DEFAULT_LOOKBACK_MINUTES = 60
MAX_LOOKBACK_MINUTES = 1440
LIST_USERS_SOURCES = ("auto", "get_users")
# Iterable's three project types; a project's type is fixed when it is created.
PROJECT_TYPES = ("email_based", "hybrid", "userid_based")

START_DATE_FORMS = (
    "YYYY-MM-DDTHH:MM:SSZ (fractional seconds and a +HH:MM offset allowed), YYYY-MM-DD or MM/DD/YYYY (UTC)"
)
# The same forms as spec.json's pattern: what Airbyte's date picker writes (...Z), what the seed
# documented (MM/DD/YYYY, a date alone) and what users paste (fractions, +00:00 offsets).
_START_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_START_DATES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{2}/\d{2}/\d{4}$"), "%m/%d/%Y"),
)
# The API key travels in a header of every request: plain http is only for a server on this machine.
LOOPBACK_NAMES = frozenset({"localhost"})


class ConfigError(ConnectorError):
    """A config value the connector cannot use; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Invalid configuration: '{field}' {problem}", FailureType.config_error)
        self.field = field


@dataclass(frozen=True)
class IterableConfig:
    api_key: str
    start_date: datetime
    window: timedelta
    region: str
    base_url: str
    export_lag: timedelta
    export_api: str = "auto"
    max_concurrent_export_jobs: int = MAX_EXPORT_JOBS
    adaptive_windows: bool = True
    read_ahead_units: int = DEFAULT_READ_AHEAD_UNITS
    read_ahead_mb: int = DEFAULT_READ_AHEAD_MB
    lookback: timedelta = timedelta(minutes=DEFAULT_LOOKBACK_MINUTES)
    list_users_source: str = "auto"
    project_type: str = "email_based"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc


def parse_start_date(value: Any) -> datetime:
    """Parse the accepted forms of ``start_date`` into an aware UTC datetime, in whole seconds."""
    if not isinstance(value, str):
        raise ConfigError("start_date", f"is required, as {START_DATE_FORMS}")
    text = value.strip()
    try:
        if _START_DATE_TIME.match(text):
            # Windows are whole seconds (the export API's resolution): a fraction is dropped, which
            # starts the read up to a second earlier and loses nothing.
            parsed = datetime.fromisoformat(text).astimezone(timezone.utc)
            return parsed.replace(microsecond=0)
        for pattern, fmt in _START_DATES:
            if pattern.match(text):
                return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    raise ConfigError("start_date", f"'{text}' is not a date; use {START_DATE_FORMS}")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves this machine."""
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_int(
    raw: Mapping[str, Any], field: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    value = raw.get(field, default)
    if value is None:
        return default
    accepted = (
        f"a whole number from {minimum} to {maximum}"
        if maximum is not None
        else f"a whole number of at least {minimum}"
    )
    # bool is an int subclass in Python; true/false in a JSON config is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"must be {accepted}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(field, f"must be {accepted}, got {value}")
    return value


def _choice(raw: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(field, default)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise ConfigError(field, f"must be one of {', '.join(choices)}, got {value!r}")
    return value.strip().lower()


def _flag(raw: Mapping[str, Any], field: str, default: bool) -> bool:
    value = raw.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(field, f"must be true or false, got {value!r}")
    return value


def _base_url(raw: Mapping[str, Any], region: str) -> str:
    value = raw.get("base_url")
    if value in (None, ""):
        return REGION_HOSTS[region]
    accepted = "an origin such as https://proxy.example.com (http only to a loopback address), without a path"
    if not isinstance(value, str):
        raise ConfigError("base_url", f"must be {accepted}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError("base_url", f"'{value}' is not {accepted}")
    if parts.query or parts.fragment:
        raise ConfigError("base_url", f"'{value}' is not {accepted}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        raise ConfigError("base_url", f"'{value}' has an invalid port; use {accepted}") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            "base_url",
            f"'{value}' would send the API key in clear text: use https://, or http:// only to a loopback "
            "address (localhost, 127.0.0.1, ::1)",
        )
    return f"{parts.scheme}://{parts.netloc}"


def parse_config(raw: Mapping[str, Any], now: datetime | None = None) -> IterableConfig:
    """Validate the raw JSON config; raise ``ConfigError`` naming the first bad field."""
    if not isinstance(raw, Mapping):
        raise ConfigError("config", "must be a JSON object")
    api_key = raw.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        raise ConfigError(
            "api_key", "is required: a Server-side API key from Iterable (Integrations > API Keys)"
        )

    start_date = parse_start_date(raw.get("start_date"))
    now = now or datetime.now(timezone.utc)
    if start_date > now:
        raise ConfigError(
            "start_date",
            f"{start_date:%Y-%m-%dT%H:%M:%SZ} is in the future; use a past date, {START_DATE_FORMS}",
        )

    # The maxima are the form's (spec.json): a value Airbyte would not let a user save is not one the
    # command line takes either.
    window_in_days = _positive_int(
        raw, "window_in_days", DEFAULT_WINDOW_IN_DAYS, minimum=1, maximum=MAX_WINDOW_IN_DAYS
    )
    lag_minutes = _positive_int(
        raw, "export_lag_minutes", DEFAULT_EXPORT_LAG_MINUTES, minimum=0, maximum=MAX_EXPORT_LAG_MINUTES
    )
    jobs = _positive_int(raw, "max_concurrent_export_jobs", MAX_EXPORT_JOBS, minimum=1)
    if jobs > MAX_EXPORT_JOBS:
        raise ConfigError(
            "max_concurrent_export_jobs",
            f"must be between 1 and {MAX_EXPORT_JOBS} (Iterable runs at most {MAX_EXPORT_JOBS} exports at once), got {jobs}",
        )
    read_ahead_units = _positive_int(
        raw, "read_ahead_windows", DEFAULT_READ_AHEAD_UNITS, minimum=1, maximum=MAX_READ_AHEAD_UNITS
    )
    read_ahead_mb = _positive_int(
        raw, "read_ahead_mb", DEFAULT_READ_AHEAD_MB, minimum=1, maximum=MAX_READ_AHEAD_MB
    )
    lookback = _positive_int(
        raw, "lookback_minutes", DEFAULT_LOOKBACK_MINUTES, minimum=0, maximum=MAX_LOOKBACK_MINUTES
    )

    region_raw = raw.get("region") or "US"
    region = region_raw.upper() if isinstance(region_raw, str) else ""
    if region not in REGION_HOSTS:
        raise ConfigError("region", f"must be US or EU (the data center of your project), got {region_raw!r}")

    return IterableConfig(
        api_key=api_key.strip(),
        start_date=start_date,
        window=timedelta(days=window_in_days),
        region=region,
        base_url=_base_url(raw, region),
        export_lag=timedelta(minutes=lag_minutes),
        export_api=_choice(raw, "export_api", EXPORT_APIS, "auto"),
        max_concurrent_export_jobs=jobs,
        adaptive_windows=_flag(raw, "adaptive_windows", True),
        read_ahead_units=read_ahead_units,
        read_ahead_mb=read_ahead_mb,
        lookback=timedelta(minutes=lookback),
        list_users_source=_choice(raw, "list_users_source", LIST_USERS_SOURCES, "auto"),
        project_type=_choice(raw, "project_type", PROJECT_TYPES, "email_based"),
    )
