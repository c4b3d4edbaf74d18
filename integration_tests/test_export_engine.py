"""The export engine through the console script: damaged bodies are retried or split, every row
arrives exactly once, temporary files never outlive the process, and the 4/min limit is kept."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from integration_tests.expectations import canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    TEST_API_KEY,
    Connector,
    Run,
    configured_catalog,
    connector_env,
    make_config,
)

pytestmark = pytest.mark.integration
UTC = timezone.utc


def export_log(server: FakeIterable, data_type: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in server.stats()["log"]
        if entry["path"] == "/api/export/data.json" and entry["query"].get("dataTypeName") == data_type
    ]


def sync(
    engine: Connector, server: FakeIterable, discovered: list[dict[str, Any]], stream: str, **config: Any
) -> Run:
    return engine.run(
        "read",
        make_config(server.base_url, **config),
        configured_catalog(discovered, "incremental", [stream]),
    )


def assert_exactly_once(run: Run, server: FakeIterable, stream: str, started: datetime) -> None:
    assert run.returncode == 0, run.all_output[-3000:]
    assert canonical(run.records(stream)) == canonical(expected_records(server.dataset, stream, end=started))


FIRST_WINDOW = {"dataTypeName": "emailSend", "startDateTime": "2024-01-01 00:00:00"}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "cut", "after_rows": 10, "times": 2},
        {"kind": "malformed", "after_rows": 5, "times": 1},
        {"kind": "stall", "after_rows": 5, "seconds": 3, "times": 1},
        {"kind": "no_trailing_newline", "times": 1},
    ],
    ids=["cut-twice", "malformed-line", "stalled-mid-body", "last-line-without-newline"],
)
def test_a_damaged_body_is_retried_and_every_row_arrives_once(
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    tmp_path: Path,
    spool_dir: Path,
    fault: dict[str, Any],
) -> None:
    # given a damaged body on the first window of email_send
    engine = Connector(
        tmp_path / "run", connector_env(TMPDIR=str(spool_dir), ITERABLE_HTTP_READ_TIMEOUT_SECONDS="1")
    )
    server.add_fault({"path": "/api/export/data.json", "match": FIRST_WINDOW, **fault})
    started = datetime.now(UTC)
    # when
    run = sync(engine, server, discovered, "email_send")
    # then every row exactly once, the state is the last window's end, and no file is left behind
    assert_exactly_once(run, server, "email_send", started)
    first_window = [
        e for e in export_log(server, "emailSend") if e["query"]["startDateTime"] == "2024-01-01 00:00:00"
    ]
    expected_attempts = 1 if fault["kind"] == "no_trailing_newline" else 1 + fault["times"]
    assert len(first_window) == expected_attempts
    assert list(spool_dir.iterdir()) == []
    assert TEST_API_KEY not in run.all_output


def test_a_window_that_keeps_failing_is_split_and_its_rows_emitted_once(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector, spool_dir: Path
) -> None:
    # given a window Iterable always cuts when asked for whole, but serves in halves
    whole = {**FIRST_WINDOW, "endDateTime": "2024-01-31 00:00:00"}
    server.add_fault(
        {"path": "/api/export/data.json", "match": whole, "kind": "cut", "after_rows": 3, "times": None}
    )
    started = datetime.now(UTC)
    run = sync(spool_connector, server, discovered, "email_send")
    assert_exactly_once(run, server, "email_send", started)
    asked = [
        (e["query"]["startDateTime"], e["query"]["endDateTime"])
        for e in export_log(server, "emailSend")
        if e["query"]["startDateTime"] < "2024-01-31"  # other windows download at the same time
    ]
    assert asked[:5] == [("2024-01-01 00:00:00", "2024-01-31 00:00:00")] * 3 + [
        ("2024-01-01 00:00:00", "2024-01-16 00:00:00"),
        ("2024-01-16 00:00:00", "2024-01-31 00:00:00"),
    ]
    # the split window still checkpoints once, at its own end
    marks = [s["stream"]["stream_state"]["createdAt"] for s in run.states("email_send")]
    assert marks[0] == "2024-01-31T00:00:00Z"
    assert list(spool_dir.iterdir()) == []


def test_a_window_failing_at_the_split_floor_fails_the_stream_and_emits_nothing_of_it(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector, spool_dir: Path
) -> None:
    # given every emailSend request cut, whatever its size
    server.add_fault(
        {
            "path": "/api/export/data.json",
            "match": {"dataTypeName": "emailSend"},
            "kind": "cut",
            "times": None,
        }
    )
    run = spool_connector.run(
        "read",
        make_config(server.base_url, window_in_days=1),
        configured_catalog(discovered, "incremental", ["email_send", "email_open"]),
    )
    # then email_send fails naming stream, window and cause; email_open still completes
    assert run.returncode == 1
    assert run.records("email_send") == []
    assert run.states("email_send") == []
    [trace] = [t for t in run.traces() if t["error"].get("stream_descriptor", {}).get("name") == "email_send"]
    message = trace["error"]["message"]
    assert "stream 'email_send'" in message and "window [2024-01-01T" in message
    assert "smallest window" in message and "cut mid-stream" in message
    assert run.statuses("email_open")[-1] == "COMPLETE"
    assert list(spool_dir.iterdir()) == []
    assert TEST_API_KEY not in run.all_output


def test_a_second_sync_after_a_failed_window_resumes_at_that_window(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    # given a sync whose third window fails for good
    third = {"dataTypeName": "emailSend", "startDateTime": "2024-03-01 00:00:00"}
    server.add_fault(
        {"path": "/api/export/data.json", "match": third, "kind": "status", "status": 400, "times": None}
    )
    first = sync(spool_connector, server, discovered, "email_send")
    assert first.returncode == 1
    assert first.stream_state("email_send")["createdAt"] == "2024-03-01T00:00:00Z"  # type: ignore[index]
    # when the fault is gone and the sync resumes from the state it left
    server.clear_faults()
    started = datetime.now(UTC)
    second = spool_connector.run(
        "read",
        make_config(server.base_url),
        configured_catalog(discovered, "incremental", ["email_send"]),
        first.last_states(),
    )
    # then the union is every row exactly once, and the resumed sync began at the failed window (with
    # the lookback's hour before it read again: its rows were delivered, and are not again)
    assert second.returncode == 0, second.all_output[-2000:]
    union = first.records("email_send") + second.records("email_send")
    assert canonical(union) == canonical(expected_records(server.dataset, "email_send", end=started))
    resumed = [e for e in export_log(server, "emailSend") if e["t"] >= started.timestamp()]
    assert resumed[0]["query"]["startDateTime"] == "2024-02-29 23:00:00"
