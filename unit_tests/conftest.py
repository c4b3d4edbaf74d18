from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests_mock

from source_iterable import rate_limit

from .builders import FakeClock

RATE_ENV_VARS = ("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE")
HTTP_ENV_VARS = (
    "ITERABLE_HTTP_CONNECT_TIMEOUT_SECONDS",
    "ITERABLE_HTTP_READ_TIMEOUT_SECONDS",
    "ITERABLE_BACKOFF_BASE_SECONDS",
    "ITERABLE_BACKOFF_CAP_SECONDS",
    "ITERABLE_RETRY_MAX_SECONDS",
)


@pytest.fixture(autouse=True)
def isolated_process_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no shared project limiters and no pacing or backoff knobs set."""
    monkeypatch.setattr(rate_limit, "_PROJECTS", {})
    for name in (*RATE_ENV_VARS, *HTTP_ENV_VARS):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory every temporary body goes to during the test (so it can be checked empty)."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[requests_mock.Mocker]:
    """requests-mock that keeps the case of paths and query strings (``emailUnSubscribe``)."""
    with requests_mock.Mocker(case_sensitive=True) as mocker:
        yield mocker
