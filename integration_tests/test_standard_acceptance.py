"""Airbyte's acceptance tests, as the CDK's standard tests, against the fake Iterable server.

The suite is driven by ``acceptance-test-config.yml`` at the repository root and runs the connector
in process. It needs the CDK's pytest plugin, which only the command line can load:

    .venv/bin/python -m pytest integration_tests/test_standard_acceptance.py \
        -p airbyte_cdk.test.standard_tests.pytest_hooks -m "not image_tests" -q

(``image_tests`` build and run the Docker image; they need a Docker daemon.)

The configs that file names point at a fake server on a fixed port (their ``base_url``); the
module-wide fixture below starts it there. Two tests of our own cover what the CDK does not
collect: the ``incremental`` section (a read from a future state emits nothing) and the
configured catalog's agreement with ``discover``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from airbyte_cdk.test.entrypoint_wrapper import discover
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import FAST_JOB_PACE, FAST_JOBS, FAST_PACE, TEST_API_KEY, Connector
from source_iterable.catalog import STREAMS
from source_iterable.source import SourceIterable

ROOT = Path(__file__).resolve().parents[1]
ACCEPTANCE_TEST_CONFIG = ROOT / "acceptance-test-config.yml"
SERVER_CONFIG = ROOT / "integration_tests" / "acceptance" / "config.json"
# The connector runs in process and paces itself by these; the fake follows the same paces.
PACE_VARIABLES = {
    "ITERABLE_EXPORT_REQUESTS_PER_MINUTE": FAST_PACE,
    "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE": FAST_PACE,
    "ITERABLE_METRICS_REQUESTS_PER_MINUTE": FAST_PACE,
    "ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND": FAST_JOB_PACE,
    "ITERABLE_EXPORT_JOB_POLL_SECONDS": "0.05",
}


def load_json(relative: str | Path) -> Any:
    return json.loads((ROOT / relative).read_text())


def acceptance_tests() -> dict[str, Any]:
    return dict(yaml.safe_load(ACCEPTANCE_TEST_CONFIG.read_text())["acceptance_tests"])


@pytest.fixture(scope="module", autouse=True)
def acceptance_server() -> Iterator[FakeIterable]:
    """The fake Iterable at the base_url of the acceptance configs, with the configs' key."""
    config = load_json(SERVER_CONFIG)
    address = urlsplit(config["base_url"])
    assert address.hostname and address.port, f"{SERVER_CONFIG} needs a base_url with a fixed port"
    # The key must be one the integration tests' leak checks do not already own.
    assert config["api_key"] != TEST_API_KEY
    fake = FakeIterable(
        api_keys=[config["api_key"]],
        export_rpm=float(FAST_PACE),
        getusers_rpm=float(FAST_PACE),
        host=address.hostname,
        port=address.port,
        **FAST_JOBS,  # the configs leave export_api at auto: backfills go through export jobs
    )
    try:
        fake.start()
    except OSError as error:
        pytest.fail(
            f"cannot start the fake Iterable at {config['base_url']} (the base_url of the acceptance "
            f"configs): {error}. Is another test run or server using port {address.port}?"
        )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PACE_VARIABLES.items():
            patch.setenv(name, value)
        yield fake
    fake.stop()


class TestSourceIterableStandard(SourceTestSuiteBase):
    """Every standard test of the CDK, parametrized by the configs of acceptance-test-config.yml."""

    # The CDK would import a module named after the repository folder; name the class instead.
    connector = SourceIterable

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT


# What the CDK's suite does not collect ------------------------------------------------------------


def incremental_entries() -> list[dict[str, Any]]:
    return list(acceptance_tests()["incremental"]["tests"])


def test_the_incremental_section_has_a_future_state_for_every_incremental_stream() -> None:
    """At test_strictness_level high, CAT wanted a future state for each incremental stream."""
    entries = incremental_entries()
    assert entries
    for entry in entries:
        catalog = load_json(entry["configured_catalog_path"])
        incremental = {s["stream"]["name"] for s in catalog["streams"] if s["sync_mode"] == "incremental"}
        state = load_json(entry["future_state"]["future_state_path"])
        assert all(item["type"] == "STREAM" for item in state)
        covered = {item["stream"]["stream_descriptor"]["name"] for item in state}
        assert covered == incremental
        assert incremental == {spec.name for spec in STREAMS if spec.incremental}  # every incremental stream


@pytest.mark.parametrize("entry", incremental_entries(), ids=lambda e: Path(e["config_path"]).stem)
def test_a_read_from_the_future_state_emits_no_record(
    entry: dict[str, Any], acceptance_server: FakeIterable, tmp_path: Path
) -> None:
    """CAT's test_state_with_abnormally_large_values, through the console script."""
    acceptance_server.reset()
    catalog = load_json(entry["configured_catalog_path"])
    incremental_only = {"streams": [s for s in catalog["streams"] if s["sync_mode"] == "incremental"]}
    run = Connector(tmp_path / "run").run(
        "read",
        load_json(entry["config_path"]),
        incremental_only,
        load_json(entry["future_state"]["future_state_path"]),
    )
    assert run.returncode == 0, run.all_output[-3000:]
    assert run.traces() == []
    assert run.counts() == {}, "a read from a state far in the future must not emit records"
    assert run.states(), "the read must still checkpoint"
    for stream in incremental_only["streams"]:
        assert run.statuses(stream["stream"]["name"])[-1] == "COMPLETE"


def test_the_configured_catalog_lists_every_discovered_stream_as_discover_declares_it() -> None:
    """The CDK only checks the catalog's stream names; keep its modes, cursors and keys in step too."""
    output = discover(SourceIterable(), load_json(SERVER_CONFIG))
    assert not output.errors and output.catalog is not None and output.catalog.catalog is not None
    discovered = {stream.name: stream for stream in output.catalog.catalog.streams}
    catalog = load_json("integration_tests/configured_catalog.json")
    assert [s["stream"]["name"] for s in catalog["streams"]] == sorted(discovered)
    for configured in catalog["streams"]:
        stream = discovered[configured["stream"]["name"]]
        modes = [mode.value for mode in stream.supported_sync_modes]
        assert configured["stream"]["supported_sync_modes"] == modes
        if "incremental" in modes:
            assert configured["sync_mode"] == "incremental"
            assert configured["cursor_field"] == stream.default_cursor_field
            assert configured["stream"]["default_cursor_field"] == stream.default_cursor_field
        else:
            assert configured["sync_mode"] == "full_refresh"
            assert "cursor_field" not in configured
        assert configured.get("primary_key") == stream.source_defined_primary_key
        assert configured["stream"].get("source_defined_primary_key") == stream.source_defined_primary_key
