"""The connector under PyAirbyte: check, a first read into DuckDB, then an incremental second read.

Runs in .venv-pyairbyte (PyAirbyte has its own dependency pins), not in the project's .venv, and
against a fake Iterable server that scripts/run_pyairbyte_e2e.sh starts, which also sets:

    PYAIRBYTE_E2E_BASE_URL    the fake server's origin
    PYAIRBYTE_E2E_API_KEY     a key the fake server accepts
    PYAIRBYTE_E2E_SEED        the fake server's --seed (its dataset)
    PYAIRBYTE_E2E_EXECUTABLE  the connector's console script (the project's .venv/bin/source-iterable)
    PYAIRBYTE_E2E_REPORT      optional: a JSON file that receives the counts and timings
    AIRBYTE_OFFLINE_MODE=1, DO_NOT_TRACK=1, ITERABLE_*_REQUESTS_PER_MINUTE

The expected counts come from the fake's dataset through integration_tests.expectations (which
needs only the fake server package, the standard library and orjson), not from the connector.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import airbyte as ab
import pytest
from airbyte.caches import DuckDBCache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration_tests.expectations import START, STREAMS, expected_records  # noqa: E402
from integration_tests.fake_iterable import build_dataset  # noqa: E402
from integration_tests.fake_iterable.experiments import build_variants  # noqa: E402

pytestmark = pytest.mark.pyairbyte

INCREMENTAL = sorted(name for name, expect in STREAMS.items() if expect.incremental)
FULL_REFRESH = sorted(name for name, expect in STREAMS.items() if not expect.incremental)


@dataclass
class Settings:
    base_url: str
    api_key: str
    seed: int
    executable: Path
    report: Path | None

    @property
    def config(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "start_date": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_in_days": 30,
            "base_url": self.base_url,
            # Read up to the sync's start, as the expected records are computed.
            "export_lag_minutes": 0,
        }


@dataclass
class Read:
    processed_records: int
    streams: list[str]
    table_counts: dict[str, int]
    seconds: float
    started: datetime


@dataclass
class Report:
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def settings() -> Settings:
    missing = [
        name
        for name in ("PYAIRBYTE_E2E_BASE_URL", "PYAIRBYTE_E2E_API_KEY", "AIRBYTE_OFFLINE_MODE")
        if not os.environ.get(name)
    ]
    if missing:
        pytest.fail(f"run this through scripts/run_pyairbyte_e2e.sh; not set: {', '.join(missing)}")
    executable = Path(
        os.environ.get("PYAIRBYTE_E2E_EXECUTABLE") or ROOT / ".venv" / "bin" / "source-iterable"
    )
    assert executable.is_file(), f"no connector console script at {executable}"
    report = os.environ.get("PYAIRBYTE_E2E_REPORT")
    return Settings(
        base_url=os.environ["PYAIRBYTE_E2E_BASE_URL"],
        api_key=os.environ["PYAIRBYTE_E2E_API_KEY"],
        seed=int(os.environ.get("PYAIRBYTE_E2E_SEED") or 7),
        executable=executable,
        report=Path(report) if report else None,
    )


@pytest.fixture(scope="module")
def report(settings: Settings) -> Iterator[Report]:
    collected = Report()
    yield collected
    if settings.report is not None:
        settings.report.write_text(
            json.dumps({"timings": collected.timings, "counts": collected.counts}, indent=2)
        )


@pytest.fixture(scope="module")
def source(settings: Settings, report: Report) -> ab.Source:
    started = time.monotonic()
    connector = ab.get_source(
        "source-iterable",
        config=settings.config,
        local_executable=settings.executable,
        install_if_missing=False,
    )
    connector.select_all_streams()
    report.timings["get_source"] = round(time.monotonic() - started, 2)
    return connector


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> DuckDBCache:
    folder = tmp_path_factory.mktemp("pyairbyte-cache")
    return DuckDBCache(db_path=folder / "pyairbyte-e2e.duckdb", cache_dir=folder / "files")


def read(source: ab.Source, cache: DuckDBCache) -> Read:
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    result = source.read(cache=cache)
    seconds = round(time.monotonic() - clock, 2)
    streams = sorted(result)
    return Read(
        processed_records=result.processed_records,
        streams=streams,
        table_counts={name: len(cache[name]) for name in streams},
        seconds=seconds,
        started=started,
    )


@pytest.fixture(scope="module")
def first_read(source: ab.Source, cache: DuckDBCache, report: Report) -> Read:
    done = read(source, cache)
    report.timings["first_read"] = done.seconds
    report.counts["first_read"] = {"processed": done.processed_records, "tables": done.table_counts}
    return done


@pytest.fixture(scope="module")
def second_read(first_read: Read, source: ab.Source, cache: DuckDBCache, report: Report) -> Read:
    done = read(source, cache)
    report.timings["second_read"] = done.seconds
    report.counts["second_read"] = {"processed": done.processed_records, "tables": done.table_counts}
    return done


@pytest.fixture(scope="module")
def expected_counts(settings: Settings, first_read: Read, report: Report) -> Mapping[str, int]:
    """Rows per stream of a first sync from start_date: PyAirbyte reads incrementally where it can,
    so campaigns and templates updated before start_date are left out."""
    dataset = build_dataset(settings.seed)
    # The metrics streams: one record per campaign, and per experiment variant (their values are checked
    # by the integration tests).
    metrics = {
        "campaigns_metrics": len(dataset.campaigns),
        "experiment_metrics": len(build_variants(dataset)),
    }
    counts = {
        name: metrics[name]
        if name in metrics
        else len(
            expected_records(
                dataset, name, end=first_read.started, incremental_since=START if expect.incremental else None
            )
        )
        for name, expect in STREAMS.items()
    }
    report.counts["expected"] = counts
    return counts


def test_check_succeeds(source: ab.Source, report: Report) -> None:
    started = time.monotonic()
    source.check()  # raises when the connector reports FAILED
    report.timings["check"] = round(time.monotonic() - started, 2)


def test_pyairbyte_sees_every_stream(source: ab.Source) -> None:
    assert sorted(source.get_available_streams()) == sorted(STREAMS)
    assert len(STREAMS) == 68


def test_the_first_read_fills_every_table_with_the_fake_dataset(
    first_read: Read, expected_counts: Mapping[str, int]
) -> None:
    assert first_read.streams == sorted(STREAMS)
    assert all(count > 0 for count in expected_counts.values()), expected_counts
    assert first_read.table_counts == dict(expected_counts)
    # Every record emitted once: a duplicate would be merged away in a keyed table but counted here.
    assert first_read.processed_records == sum(expected_counts.values())


def test_the_second_read_is_incremental(second_read: Read, expected_counts: Mapping[str, int]) -> None:
    """The incremental streams continue from the state kept in the cache and find nothing new."""
    assert second_read.streams == sorted(STREAMS)
    # Only the full-refresh streams emit records again (merged into their tables by primary key).
    assert second_read.processed_records == sum(expected_counts[name] for name in FULL_REFRESH)
    assert second_read.table_counts == dict(expected_counts)
    assert len(INCREMENTAL) == 57
