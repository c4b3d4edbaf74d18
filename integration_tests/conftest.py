"""Fixtures: one fake Iterable server for the session, reset before every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    FAST_PACE,
    Connector,
    connector_env,
    fast_fake,
    make_config,
)

READONLY_KEY = "itbl-READONLY-0d1e2f3a4b5c6d7e8f90"


@pytest.fixture(scope="session")
def server() -> Iterator[FakeIterable]:
    fake = fast_fake(readonly_keys=[READONLY_KEY])
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module", params=["hybrid", "userid_based"])
def typed_project(request: pytest.FixtureRequest) -> Iterator[FakeIterable]:
    """A fake project of each type whose users are not keyed on email (the session's is email-based)."""
    with fast_fake(project_type=request.param) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean_server(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").reset()


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path / "run")


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


@pytest.fixture
def spool_connector(tmp_path: Path, spool_dir: Path) -> Connector:
    """A connector whose temporary files go to a folder the test can inspect (left empty, always)."""
    return Connector(tmp_path / "run", connector_env(TMPDIR=str(spool_dir)))


@pytest.fixture
def config(server: FakeIterable) -> dict[str, Any]:
    return make_config(server.base_url)


@pytest.fixture(scope="session")
def discovered(server: FakeIterable, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    run = Connector(tmp_path_factory.mktemp("discover")).run("discover", make_config(server.base_url))
    assert run.returncode == 0, run.all_output
    streams: list[dict[str, Any]] = run.of_type("CATALOG")[0]["catalog"]["streams"]
    return streams


# The in-process fake reads its campaign-metrics limit from the environment: raise it with the
# connector's, as connector_env does for the subprocesses.
os.environ.setdefault("ITERABLE_METRICS_REQUESTS_PER_MINUTE", FAST_PACE)
