from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests_mock

from source_iterable.api import budgets

from .builders import FakeClock


@pytest.fixture(autouse=True)
def isolated_process_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no shared project limiters and no pacing, backoff or polling knob set
    (every ``ITERABLE_*`` variable of the environment is removed for the test)."""
    monkeypatch.setattr(budgets, "_SHARED", {})
    for name in [name for name in os.environ if name.startswith("ITERABLE_")]:
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
