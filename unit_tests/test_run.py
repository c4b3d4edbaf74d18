"""The console script: spec and bad configs end to end (subprocesses, started at once and awaited
together), and unreadable input files through the commands in process."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from source_iterable.run import cdk_messages, read_command

from .builders import API_KEY

# field -> a config whose only problem is that field
BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "api_key": {"start_date": "2024-01-01"},
    "start_date": {"api_key": API_KEY, "start_date": "2024-13-01"},
    "window_in_days": {"api_key": API_KEY, "start_date": "2024-01-01", "window_in_days": 0},
    "region": {"api_key": API_KEY, "start_date": "2024-01-01", "region": "APAC"},
    "base_url": {"api_key": API_KEY, "start_date": "2024-01-01", "base_url": "ftp://x"},
}
# Settings only a sync reads: checked through read alone (it does not import the CDK, so it is cheap).
BAD_SYNC_CONFIGS: dict[str, dict[str, Any]] = {
    "export_api": {"api_key": API_KEY, "start_date": "2024-01-01", "export_api": "bulk"},
    "max_concurrent_export_jobs": {
        "api_key": API_KEY,
        "start_date": "2024-01-01",
        "max_concurrent_export_jobs": 5,
    },
}
COMMANDS = ("check", "discover", "read")
CASES = [(command, field) for command in COMMANDS for field in sorted(BAD_CONFIGS)] + [
    ("read", field) for field in sorted(BAD_SYNC_CONFIGS)
]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


def console_script() -> str:
    beside_python = Path(sys.executable).with_name("source-iterable")
    found = str(beside_python) if beside_python.exists() else shutil.which("source-iterable")
    assert found, "the source-iterable console script is not installed"
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Run]:
    """Every (command, bad field) run plus ``spec``, started in parallel."""
    folder = tmp_path_factory.mktemp("run")
    catalog = folder / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITERABLE_")}
    script = console_script()
    started: dict[tuple[str, str], subprocess.Popen[str]] = {}
    started[("spec", "")] = subprocess.Popen(
        [script, "spec"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    for field, config in {**BAD_CONFIGS, **BAD_SYNC_CONFIGS}.items():
        path = folder / f"{field}.json"
        path.write_text(json.dumps(config))
        for command in COMMANDS if field in BAD_CONFIGS else ("read",):
            args = [script, command, "--config", str(path)]
            if command == "read":
                args += ["--catalog", str(catalog)]
            started[(command, field)] = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
    finished = {}
    for key, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        finished[key] = Run(process.returncode, stdout, stderr)
    return finished


def test_spec_prints_the_specification(runs: dict[tuple[str, str], Run]) -> None:
    run = runs[("spec", "")]

    assert run.returncode == 0, run.stderr
    [spec] = run.of_type("SPEC")
    properties = spec["spec"]["connectionSpecification"]["properties"]
    assert properties["api_key"]["airbyte_secret"] is True
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize(("command", "field"), CASES)
def test_a_bad_field_ends_in_a_config_error_trace_naming_it(
    runs: dict[tuple[str, str], Run], command: str, field: str
) -> None:
    run = runs[(command, field)]

    # one TRACE of failure_type config_error that names the field, and no traceback anywhere
    [trace] = run.of_type("TRACE")
    error = trace["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert f"'{field}'" in error["message"]
    assert "stack_trace" not in error or not error["stack_trace"]
    assert "Traceback" not in run.stdout + run.stderr
    assert API_KEY not in run.stdout + run.stderr
    if command == "check":
        # check reports a failed connection and succeeds as a process
        assert run.returncode == 0
        [status] = run.of_type("CONNECTION_STATUS")
        assert status["connectionStatus"]["status"] == "FAILED"
        assert f"'{field}'" in status["connectionStatus"]["message"]
    else:
        assert run.returncode == 1
        assert run.of_type("CATALOG") == [] and run.of_type("RECORD") == []


def test_every_stdout_line_is_a_protocol_message(runs: dict[tuple[str, str], Run]) -> None:
    for key, run in runs.items():
        for line in run.stdout.splitlines():
            assert isinstance(json.loads(line), dict), (key, line)


# ------------------------------------------------------------------ unreadable files, in process


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"api_key": API_KEY, "start_date": "2024-01-01"}))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": []}))
    (tmp_path / "broken.json").write_text('{"streams": [')
    return tmp_path


@pytest.fixture
def collector_settings() -> Iterator[None]:
    """``read`` tunes the garbage collector for the process it runs in; put it back for the others."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def read_lines(argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    out = io.BytesIO()
    code = read_command(argv, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def only_trace(found: list[dict[str, Any]]) -> dict[str, Any]:
    [trace] = [m for m in found if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    error: dict[str, Any] = trace["trace"]["error"]
    return error


@pytest.mark.parametrize(
    ("option", "argv"),
    [
        ("--config", ["--config", "missing.json", "--catalog", "catalog.json"]),
        ("--catalog", ["--config", "config.json", "--catalog", "broken.json"]),
        ("--state", ["--config", "config.json", "--catalog", "catalog.json", "--state", "broken.json"]),
        ("--state", ["--config", "config.json", "--catalog", "catalog.json", "--state", "missing.json"]),
    ],
)
def test_read_reports_a_file_it_cannot_use_as_a_config_error_naming_the_option(
    files: Path, collector_settings: None, option: str, argv: list[str]
) -> None:
    # given paths in the test's folder
    paths = [str(files / arg) if arg.endswith(".json") else arg for arg in argv]

    # when
    code, found = read_lines(paths)

    # then one config_error trace names the option and the file, and nothing else is printed
    assert code == 1
    assert len(found) == 1
    error = only_trace(found)
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith(f"Invalid configuration: '{option}' file ")
    assert "could not be used" in error["message"]


def test_read_reports_a_catalog_that_is_not_a_configured_catalog(
    files: Path, collector_settings: None
) -> None:
    (files / "list.json").write_text("[]")

    code, found = read_lines(["--config", str(files / "config.json"), "--catalog", str(files / "list.json")])

    assert code == 1
    error = only_trace(found)
    assert (
        error["failure_type"] == "config_error"
        and "'--catalog' 'streams' must be a list: a configured catalog is a JSON object" in error["message"]
    )


def test_read_with_an_empty_catalog_succeeds_without_a_request(files: Path, collector_settings: None) -> None:
    code, found = read_lines(
        ["--config", str(files / "config.json"), "--catalog", str(files / "catalog.json")]
    )

    assert code == 0
    assert {m["type"] for m in found} == {"LOG"}


def test_check_reports_an_unreadable_config_as_a_failed_connection(files: Path) -> None:
    found = [orjson.loads(line) for line in cdk_messages(["check", "--config", str(files / "missing.json")])]

    error = only_trace(found)
    assert error["failure_type"] == "config_error" and "'--config' file" in error["message"]
    [status] = [m for m in found if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "FAILED"


def test_discover_raises_an_unreadable_config_as_a_config_error(files: Path) -> None:
    from source_iterable.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        list(cdk_messages(["discover", "--config", str(files / "broken.json")]))

    assert caught.value.field == "--config"
