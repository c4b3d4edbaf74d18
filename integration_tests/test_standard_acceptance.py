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
from airbyte_cdk.models import (
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConfiguredAirbyteStream,
    ConnectorSpecification,
    DestinationSyncMode,
    FailureType,
    SyncMode,
    Type,
)
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, discover
from airbyte_cdk.test.models.outcome import ExpectedOutcome
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.test.standard_tests._assertions import assert_check_outcome, assert_config_matches_spec
from airbyte_cdk.test.standard_tests._catalog_checks import find_catalog_problems, format_catalog_problems
from airbyte_cdk.test.standard_tests._read_assertions import assert_read_records
from airbyte_cdk.test.standard_tests._spec_lint import (
    assert_no_secrets_in_output,
    assert_spec_is_valid,
    get_single_spec,
)

from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import FAST_JOB_PACE, FAST_PACE, TEST_API_KEY, Connector, Run, fast_fake
from source_iterable.catalog import STREAMS
from source_iterable.source import SourceIterable
from unit_tests.builders import cdk_bad_catalog

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
    # The configs leave export_api at auto: backfills go through the fake's (fast) export jobs.
    fake = fast_fake(api_keys=[config["api_key"]], host=address.hostname, port=address.port)
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


# The same checks through the console script: the thing the image runs --------------------------------
#
# The CDK's suite above runs the connector in process, through its own entry point; our console script
# parses arguments, reads files and runs `read` without the CDK. Each scenario of
# acceptance-test-config.yml goes through the console script too, judged by the CDK's own assertions.


def console_output(run: Run) -> EntrypointOutput:
    """The console script's stdout as the CDK's test output; any line that is not a message fails."""
    return EntrypointOutput(messages=run.stdout.splitlines(), stderr=run.stderr)


def scenario_entries(*sections: str) -> list[Any]:
    tests = acceptance_tests()
    return [
        pytest.param(entry, id=f"{section}-{Path(entry['config_path']).stem}")
        for section in sections
        for entry in tests[section]["tests"]
    ]


@pytest.fixture(scope="module")
def console_spec(tmp_path_factory: pytest.TempPathFactory) -> ConnectorSpecification:
    run = Connector(tmp_path_factory.mktemp("spec")).run("spec")
    assert run.returncode == 0, run.all_output[-3000:]
    return get_single_spec(console_output(run), connector_name="source-iterable")


def test_console_spec_is_the_spec_file_and_passes_the_spec_lint(console_spec: ConnectorSpecification) -> None:
    for entry in acceptance_tests()["spec"]["tests"]:
        assert (
            console_spec.connectionSpecification == load_json(entry["spec_path"])["connectionSpecification"]
        )
    assert_spec_is_valid(console_spec, connector_name="source-iterable")


@pytest.mark.parametrize("entry", scenario_entries("spec"))
def test_console_spec_accepts_every_spec_config(entry: dict[str, Any], tmp_path: Path) -> None:
    run = Connector(tmp_path).run("spec")
    assert_config_matches_spec(
        config=load_json(entry["config_path"]),
        spec_result=console_output(run),
        connector_name="source-iterable",
        scenario_id=Path(entry["config_path"]).stem,
    )


@pytest.mark.parametrize("entry", scenario_entries("connection"))
def test_console_check_reports_each_connection_configs_status_without_its_secrets(
    entry: dict[str, Any],
    console_spec: ConnectorSpecification,
    acceptance_server: FakeIterable,
    tmp_path: Path,
) -> None:
    config = load_json(entry["config_path"])

    run = Connector(tmp_path).run("check", config)

    output = console_output(run)
    assert run.returncode == 0, run.all_output[-3000:]
    assert len(output.connection_status_messages) == 1
    assert_check_outcome(
        check_result=output,
        expected_outcome=ExpectedOutcome.from_status_str(entry.get("status")),
        connector_name="source-iterable",
    )
    assert_no_secrets_in_output(
        output, spec=console_spec, config=config, verb="check", connector_name="source-iterable"
    )
    assert config["api_key"] not in run.all_output


@pytest.mark.parametrize("entry", scenario_entries("discovery"))
def test_console_discover_passes_every_catalog_check(
    entry: dict[str, Any], acceptance_server: FakeIterable, tmp_path: Path
) -> None:
    run = Connector(tmp_path).run("discover", load_json(entry["config_path"]))

    assert run.returncode == 0, run.all_output[-3000:]
    catalogs = console_output(run).get_message_by_types([Type.CATALOG])
    assert len(catalogs) == 1 and catalogs[0].catalog is not None
    # every check, the ones the CDK only warns about yet included
    assert format_catalog_problems(find_catalog_problems(catalogs[0].catalog)) == ""


def discovered_streams(config: dict[str, Any], folder: Path) -> list[AirbyteStream]:
    run = Connector(folder).run("discover", config)
    assert run.returncode == 0, run.all_output[-3000:]
    [catalog] = console_output(run).get_message_by_types([Type.CATALOG])
    assert catalog.catalog is not None
    return list(catalog.catalog.streams)


@pytest.mark.parametrize("entry", scenario_entries("basic_read"))
def test_console_basic_read_returns_valid_records_for_every_discovered_stream(
    entry: dict[str, Any], acceptance_server: FakeIterable, tmp_path: Path
) -> None:
    """test_basic_read: with no configured_catalog_path, every discovered stream minus empty_streams, in
    full refresh, each with records that match its schema (CAT builds the same catalog at high)."""
    acceptance_server.reset()
    config = load_json(entry["config_path"])
    assert "configured_catalog_path" not in entry, "at high strictness CAT refuses a custom catalog here"
    empty = {stream["name"] for stream in entry.get("empty_streams", [])}
    catalog = ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=stream,
                sync_mode=SyncMode.full_refresh,
                destination_sync_mode=DestinationSyncMode.append_dedup,
            )
            for stream in discovered_streams(config, tmp_path / "discover")
            if stream.name not in empty
        ]
    )

    run = Connector(tmp_path / "read").run("read", config, ConfiguredAirbyteCatalogSerializer.dump(catalog))

    assert run.returncode == 0, run.all_output[-3000:]
    assert_read_records(
        records=console_output(run).records_iterator,
        configured_catalog=catalog,
        require_records_per_stream=True,
        validate_schema=entry.get("validate_schema", True),
    )


@pytest.mark.parametrize("entry", scenario_entries("basic_read", "full_refresh"))
def test_console_read_of_a_bad_catalog_is_one_config_error_and_exit_1(
    entry: dict[str, Any], acceptance_server: FakeIterable, tmp_path: Path
) -> None:
    acceptance_server.reset()

    run = Connector(tmp_path).run("read", load_json(entry["config_path"]), cdk_bad_catalog())

    assert run.returncode == 1
    output = console_output(run)
    assert [
        error.trace.error.failure_type for error in output.errors if error.trace and error.trace.error
    ] == [FailureType.config_error]
    message = output.errors[0].trace.error.message  # type: ignore[union-attr]
    assert "entry 1 (stream '__AIRBYTE__stream_that_does_not_exist'): 'sync_mode' is 'INVALID'" in message
    assert "'destination_sync_mode' is 'INVALID'" in message
    assert acceptance_server.stats()["requests"] == {}, "no request before the catalog is judged"
    assert "Traceback" not in run.all_output
