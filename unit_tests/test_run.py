"""The console script end to end, for the paths that need no server: spec and bad configs.

All the subprocesses of this module are started at once and awaited together, so the module costs
about as much as its slowest few runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, AirbyteRecordMessage, Level, Type

from source_iterable.run import message_bytes, record_bytes

from .builders import API_KEY

# field -> a config whose only problem is that field
BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "api_key": {"start_date": "2024-01-01"},
    "start_date": {"api_key": API_KEY, "start_date": "2024-13-01"},
    "window_in_days": {"api_key": API_KEY, "start_date": "2024-01-01", "window_in_days": 0},
    "region": {"api_key": API_KEY, "start_date": "2024-01-01", "region": "APAC"},
    "base_url": {"api_key": API_KEY, "start_date": "2024-01-01", "base_url": "ftp://x"},
}
COMMANDS = ("check", "discover", "read")


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
    for field, config in BAD_CONFIGS.items():
        path = folder / f"{field}.json"
        path.write_text(json.dumps(config))
        for command in COMMANDS:
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


@pytest.mark.parametrize("field", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", COMMANDS)
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


# --- the fast RECORD serialiser ---------------------------------------------------------------


def record_message(data: dict[str, Any], namespace: str | None = None) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.RECORD,
        record=AirbyteRecordMessage(
            stream="email_send", data=data, emitted_at=1710072000000, namespace=namespace
        ),
    )


RECORDS = [
    pytest.param(
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:47:02Z",
            "campaignId": 7013000,
            "transactionalData": {
                "orderId": "A-1001",
                "total": 59.9,
                "items": [{"sku": "sku-1001", "note": None}],
            },
            "isVip": False,
            "city": "São Paulo ✓",
        },
        id="export-row",
    ),
    pytest.param({"email": "a@example.com", "big": 2**53 + 1, "neg": -1.25e-7}, id="numbers"),
    pytest.param({}, id="empty"),
]


@pytest.mark.parametrize("data", RECORDS)
@pytest.mark.parametrize("namespace", [None, "iterable"])
def test_record_bytes_is_the_json_the_cdk_writes(data: dict[str, Any], namespace: str | None) -> None:
    message = record_message(data, namespace)

    line = record_bytes(message)

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == json.loads(AirbyteEntrypoint.airbyte_message_to_string(message))


def test_message_bytes_uses_the_fast_path_for_records() -> None:
    record = record_message({"email": "a@example.com"})

    assert message_bytes(record) == record_bytes(record)


def test_a_record_orjson_cannot_encode_falls_back_to_the_cdk() -> None:
    # given an integer beyond 64 bits, which orjson refuses and the CDK's fallback writes
    record = record_message({"email": "a@example.com", "huge": 2**70})
    with pytest.raises(TypeError):
        record_bytes(record)

    line = message_bytes(record)

    assert json.loads(line) == json.loads(AirbyteEntrypoint.airbyte_message_to_string(record))
    assert json.loads(line)["record"]["data"]["huge"] == 2**70


def test_other_messages_are_written_by_the_cdk_serialiser() -> None:
    log = AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message="hello"))

    assert message_bytes(log) == (AirbyteEntrypoint.airbyte_message_to_string(log) + "\n").encode()
