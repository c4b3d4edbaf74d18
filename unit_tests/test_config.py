from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.models import FailureType as CdkFailureType

from source_iterable import protocol
from source_iterable.api.errors import ConnectorError, FailureType
from source_iterable.config import (
    DEFAULT_READ_AHEAD_MB,
    DEFAULT_READ_AHEAD_UNITS,
    MAX_EXPORT_JOBS,
    ConfigError,
    parse_config,
    parse_start_date,
)

from .builders import API_KEY, NOW, config_dict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T13:14:15Z", datetime(2024, 1, 1, 13, 14, 15, tzinfo=timezone.utc)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("01/31/2024", datetime(2024, 1, 31, tzinfo=timezone.utc)),
        # pasted forms: fractional seconds (dropped: windows are whole seconds), offsets converted to UTC
        ("2024-01-01T00:00:00.000Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T13:14:15.999999999Z", datetime(2024, 1, 1, 13, 14, 15, tzinfo=timezone.utc)),
        ("2024-01-01T00:00:00+00:00", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T09:30:00.250+02:00", datetime(2024, 1, 1, 7, 30, tzinfo=timezone.utc)),
        ("2024-01-01T20:00:00-05:00", datetime(2024, 1, 2, 1, 0, tzinfo=timezone.utc)),
    ],
)
def test_every_accepted_start_date_form_becomes_an_aware_utc_datetime(value: str, expected: datetime) -> None:
    parsed = parse_start_date(value)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert parse_config(config_dict(start_date=value), NOW).start_date == expected


def test_defaults_of_a_minimal_config() -> None:
    config = parse_config(config_dict(), NOW)

    assert config.api_key == API_KEY
    assert config.region == "US"
    assert config.base_url == "https://api.iterable.com"
    assert config.host == "api.iterable.com"
    assert config.window == timedelta(days=30)
    assert config.export_lag == timedelta(minutes=5)
    assert config.export_api == "auto"
    assert config.max_concurrent_export_jobs == MAX_EXPORT_JOBS == 4
    assert config.adaptive_windows is True
    assert config.read_ahead_units == DEFAULT_READ_AHEAD_UNITS == 8
    assert config.read_ahead_mb == DEFAULT_READ_AHEAD_MB == 1024
    assert config.lookback == timedelta(minutes=60)
    assert config.list_users_source == "auto"
    assert config.project_type == "email_based"


def test_window_and_lag_are_read_as_given() -> None:
    config = parse_config(config_dict(window_in_days=7, export_lag_minutes=0), NOW)

    assert config.window == timedelta(days=7)
    assert config.export_lag == timedelta(0)


def test_api_key_is_stripped_of_surrounding_whitespace() -> None:
    assert parse_config(config_dict(api_key=f"  {API_KEY}\n"), NOW).api_key == API_KEY


BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("api_key", {"api_key": None}),
    ("api_key", {"api_key": ""}),
    ("api_key", {"api_key": "   "}),
    ("api_key", {"api_key": 12345}),
    ("start_date", {"start_date": None}),
    ("start_date", {"start_date": "yesterday"}),
    ("start_date", {"start_date": "2024-13-01"}),
    ("start_date", {"start_date": "2024-02-30"}),
    ("start_date", {"start_date": "31/01/2024"}),
    ("start_date", {"start_date": "2024-01-01T00:00:00"}),
    ("start_date", {"start_date": "2024-01-01 00:00:00Z"}),
    ("start_date", {"start_date": "2024-01-01T00:00:00.Z"}),
    ("start_date", {"start_date": "2024-01-01T00:00:00+0200"}),
    ("start_date", {"start_date": "2024-01-01T00:00:00+25:00"}),
    ("start_date", {"start_date": 20240101}),
    ("start_date", {"start_date": (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}),
    ("window_in_days", {"window_in_days": 0}),
    ("window_in_days", {"window_in_days": -1}),
    ("window_in_days", {"window_in_days": "30"}),
    ("window_in_days", {"window_in_days": 1.5}),
    ("window_in_days", {"window_in_days": True}),
    ("export_lag_minutes", {"export_lag_minutes": -1}),
    ("export_lag_minutes", {"export_lag_minutes": "5"}),
    ("region", {"region": "APAC"}),
    ("region", {"region": 1}),
    ("base_url", {"base_url": "ftp://x"}),
    ("base_url", {"base_url": "http://"}),
    ("base_url", {"base_url": "http://h/path"}),
    ("base_url", {"base_url": "http://iterable-proxy.example.com"}),
    ("base_url", {"base_url": "http://10.0.0.5:8080"}),
    ("base_url", {"base_url": "http://128.0.0.1"}),
    ("base_url", {"base_url": "http://[::2]:8765"}),
    ("base_url", {"base_url": "http://localhost.example.com"}),
    ("base_url", {"base_url": "http://h:notaport"}),
    ("base_url", {"base_url": "http://h:99999"}),
    ("base_url", {"base_url": "https://h?x=1"}),
    ("base_url", {"base_url": "api.iterable.com"}),
    ("base_url", {"base_url": 8765}),
    ("export_api", {"export_api": "bulk"}),
    ("export_api", {"export_api": 1}),
    ("export_api", {"export_api": ["sync"]}),
    ("max_concurrent_export_jobs", {"max_concurrent_export_jobs": 0}),
    ("max_concurrent_export_jobs", {"max_concurrent_export_jobs": 5}),
    ("max_concurrent_export_jobs", {"max_concurrent_export_jobs": "2"}),
    ("max_concurrent_export_jobs", {"max_concurrent_export_jobs": 2.0}),
    ("max_concurrent_export_jobs", {"max_concurrent_export_jobs": True}),
    ("adaptive_windows", {"adaptive_windows": "true"}),
    ("adaptive_windows", {"adaptive_windows": 1}),
    ("adaptive_windows", {"adaptive_windows": "no"}),
    ("read_ahead_windows", {"read_ahead_windows": 0}),
    ("read_ahead_windows", {"read_ahead_windows": "8"}),
    ("read_ahead_windows", {"read_ahead_windows": False}),
    ("read_ahead_mb", {"read_ahead_mb": 0}),
    ("read_ahead_mb", {"read_ahead_mb": -512}),
    ("read_ahead_mb", {"read_ahead_mb": 1.5}),
    ("lookback_minutes", {"lookback_minutes": -1}),
    ("lookback_minutes", {"lookback_minutes": 1441}),
    ("lookback_minutes", {"lookback_minutes": 1.5}),
    ("lookback_minutes", {"lookback_minutes": "60"}),
    ("lookback_minutes", {"lookback_minutes": True}),
    ("list_users_source", {"list_users_source": "export"}),
    ("list_users_source", {"list_users_source": 1}),
    ("project_type", {"project_type": "email"}),
    ("project_type", {"project_type": "userId_based_project"}),
    ("project_type", {"project_type": ["hybrid"]}),
]


@pytest.mark.parametrize(("field", "overrides"), BAD_VALUES, ids=[f"{f}={o[f]!r}" for f, o in BAD_VALUES])
def test_each_bad_value_raises_a_config_error_naming_the_field(field: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_dict(**overrides), NOW)

    assert caught.value.field == field
    assert f"'{field}'" in caught.value.message


def test_future_start_date_is_judged_against_the_given_now() -> None:
    # given a start date one second after "now"
    raw = config_dict(start_date="2024-03-10T12:00:01Z")

    with pytest.raises(ConfigError, match="in the future"):
        parse_config(raw, NOW)
    # a start date exactly at "now" is not in the future
    assert parse_config(config_dict(start_date="2024-03-10T12:00:00Z"), NOW).start_date == NOW


def test_config_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'config'"):
        parse_config(["api_key"], NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("region", ["EU", "eu", "Eu"])
def test_eu_region_in_any_case_uses_the_eu_host(region: str) -> None:
    config = parse_config(config_dict(region=region), NOW)

    assert config.region == "EU"
    assert config.base_url == "https://api.eu.iterable.com"


@pytest.mark.parametrize("region", ["us", "US", "", None])
def test_us_region_or_none_uses_the_us_host(region: str | None) -> None:
    assert parse_config(config_dict(region=region), NOW).base_url == "https://api.iterable.com"


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("https://iterable-proxy.example.com", "https://iterable-proxy.example.com"),
        # plain http only where the key never leaves the machine: 127.0.0.0/8, ::1, localhost
        ("http://127.3.4.5:8765", "http://127.3.4.5:8765"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://LOCALHOST", "http://LOCALHOST"),
        ("http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_base_url_replaces_the_region_host(base_url: str, expected: str) -> None:
    config = parse_config(config_dict(region="EU", base_url=base_url), NOW)

    assert config.base_url == expected
    assert config.region == "EU"


def test_plain_http_to_another_host_is_refused_because_the_key_would_travel_in_clear_text() -> None:
    with pytest.raises(ConfigError, match="clear text") as caught:
        parse_config(config_dict(base_url="http://iterable-proxy.example.com"), NOW)

    assert caught.value.field == "base_url"


def test_empty_base_url_means_the_region_host() -> None:
    assert parse_config(config_dict(region="EU", base_url=""), NOW).base_url == "https://api.eu.iterable.com"


def test_host_is_the_origin_netloc() -> None:
    assert parse_config(config_dict(base_url="http://127.0.0.1:8765"), NOW).host == "127.0.0.1:8765"


def test_config_error_is_a_config_error_trace() -> None:
    with pytest.raises(ConnectorError) as caught:
        parse_config(config_dict(api_key=""), NOW)

    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.failure_type == FailureType.config_error
    message = AirbyteMessageSerializer.load(
        orjson.loads(protocol.error_trace(error.message, error.failure_type))
    )
    assert message.trace is not None and message.trace.error is not None
    assert message.trace.error.failure_type == CdkFailureType.config_error
    assert "'api_key'" in message.trace.error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", "auto"),
        ("sync", "sync"),
        ("ASYNC", "async"),
        (" Sync ", "sync"),
        ("", "auto"),
        (None, "auto"),
    ],
)
def test_export_api_is_one_of_three_paths_in_any_case(value: str | None, expected: str) -> None:
    assert parse_config(config_dict(export_api=value), NOW).export_api == expected


@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
def test_up_to_four_export_jobs_may_run_at_once(jobs: int) -> None:
    assert parse_config(config_dict(max_concurrent_export_jobs=jobs), NOW).max_concurrent_export_jobs == jobs


def test_more_export_jobs_than_iterable_runs_are_refused_with_the_range() -> None:
    with pytest.raises(
        ConfigError, match=r"must be between 1 and 4 \(Iterable runs at most 4 exports at once\), got 5"
    ):
        parse_config(config_dict(max_concurrent_export_jobs=5), NOW)


@pytest.mark.parametrize("flag", [True, False])
def test_adaptive_windows_is_a_boolean(flag: bool) -> None:
    assert parse_config(config_dict(adaptive_windows=flag), NOW).adaptive_windows is flag


def test_read_ahead_is_read_as_given() -> None:
    config = parse_config(config_dict(read_ahead_windows=2, read_ahead_mb=64), NOW)

    assert (config.read_ahead_units, config.read_ahead_mb) == (2, 64)


@pytest.mark.parametrize("minutes", [0, 1, 60, 1440])
def test_lookback_is_a_whole_number_of_minutes_from_0_to_1440(minutes: int) -> None:
    assert parse_config(config_dict(lookback_minutes=minutes), NOW).lookback == timedelta(minutes=minutes)


def test_a_lookback_out_of_range_names_the_range() -> None:
    with pytest.raises(ConfigError, match="from 0 to 1440, got 1441"):
        parse_config(config_dict(lookback_minutes=1441), NOW)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("list_users_source", "get_users", "get_users"),
        ("list_users_source", "AUTO", "auto"),
        ("project_type", "hybrid", "hybrid"),
        ("project_type", " UserID_Based ", "userid_based"),
    ],
)
def test_list_users_source_and_project_type_are_choices_in_any_case(
    field: str, value: str, expected: str
) -> None:
    assert getattr(parse_config(config_dict(**{field: value}), NOW), field) == expected


def test_a_setting_given_as_null_takes_its_default() -> None:
    config = parse_config(
        config_dict() | {"max_concurrent_export_jobs": None, "adaptive_windows": None, "read_ahead_mb": None},
        NOW,
    )

    assert (config.max_concurrent_export_jobs, config.adaptive_windows, config.read_ahead_mb) == (
        4,
        True,
        1024,
    )
