from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_iterable.config import ConfigError, parse_config, parse_start_date

from .builders import API_KEY, NOW, config_dict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T13:14:15Z", datetime(2024, 1, 1, 13, 14, 15, tzinfo=timezone.utc)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("01/31/2024", datetime(2024, 1, 31, tzinfo=timezone.utc)),
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
    ("start_date", {"start_date": "2024-01-01T00:00:00+02:00"}),
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
    ("base_url", {"base_url": "http://h:notaport"}),
    ("base_url", {"base_url": "http://h:99999"}),
    ("base_url", {"base_url": "https://h?x=1"}),
    ("base_url", {"base_url": "api.iterable.com"}),
    ("base_url", {"base_url": 8765}),
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
    ],
)
def test_base_url_replaces_the_region_host(base_url: str, expected: str) -> None:
    config = parse_config(config_dict(region="EU", base_url=base_url), NOW)

    assert config.base_url == expected
    assert config.region == "EU"


def test_empty_base_url_means_the_region_host() -> None:
    assert parse_config(config_dict(region="EU", base_url=""), NOW).base_url == "https://api.eu.iterable.com"


def test_host_is_the_origin_netloc() -> None:
    assert parse_config(config_dict(base_url="http://127.0.0.1:8765"), NOW).host == "127.0.0.1:8765"


def test_config_error_is_a_config_error_trace() -> None:
    with pytest.raises(AirbyteTracedException) as caught:
        parse_config(config_dict(api_key=""), NOW)

    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.failure_type == FailureType.config_error
    message = error.as_airbyte_message()
    assert message.trace is not None and message.trace.error is not None
    assert message.trace.error.failure_type == FailureType.config_error
    assert "'api_key'" in message.trace.error.message
