"""The concurrent engine through the console script: every budget spent at once, exactly once under
SIGKILL with several streams in flight, failures isolated, a wrong key stopped at its first request."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer

from integration_tests.expectations import canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    TEST_API_KEY,
    Connector,
    Run,
    configured_catalog,
    connector_env,
    kill,
    make_config,
)
from source_iterable.api.limiter import LONG_WAIT_SECONDS

pytestmark = pytest.mark.integration
UTC = timezone.utc
SEED_STREAMS = (
    "campaigns channels email_bounce email_click email_complaint email_open email_send email_send_skip "
    "email_subscribe email_unsubscribe list_users lists message_types metadata templates users"
).split()


def timed_lines(process: subprocess.Popen[str], deadline: float) -> list[tuple[float, str]]:
    """Every stdout line with the moment it arrived (the platform's view of a quiet source)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append((time.monotonic(), line))
        if time.monotonic() > deadline:
            process.kill()
            break
    process.wait(timeout=30)
    return lines


def committed(run: Run, stream: str) -> list[dict[str, Any]]:
    """Records followed by a STATE of their stream: what a destination keeps from a killed sync."""
    kept: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for message in run.messages:
        if message["type"] == "RECORD" and message["record"]["stream"] == stream:
            pending.append(message["record"]["data"])
        elif message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] == stream:
            kept += pending
            pending = []
    return kept


@pytest.mark.slow
def test_every_budget_is_spent_side_by_side_at_the_real_limits(
    discovered: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Three export streams x three windows (9 data.json calls, 4 a minute: at least 120 s) and ten lists
    read through getUsers (10 calls, 5 a minute: at least 60 s). One after the other that is 180 s; side
    by side, 120."""
    with FakeIterable(
        api_keys=[TEST_API_KEY], export_rpm=4, getusers_rpm=5, recent_months=3, extra_lists=2
    ) as paced:
        env = connector_env()
        for name in ("ITERABLE_EXPORT_REQUESTS_PER_MINUTE", "ITERABLE_GETUSERS_REQUESTS_PER_MINUTE"):
            env.pop(name)  # the connector's own defaults: Iterable's real limits
        connector = Connector(tmp_path / "run", env)
        started = datetime.now(UTC)
        since = started - timedelta(days=89)
        config = make_config(
            paced.base_url,
            start_date=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            adaptive_windows=False,
            list_users_source="get_users",
        )
        streams = ["email_click", "email_open", "email_send", "list_users", "lists", "channels"]
        process = connector.start("read", config, configured_catalog(discovered, "incremental", streams))
        began = time.monotonic()
        lines = timed_lines(process, began + 400)
        elapsed = time.monotonic() - began
        stats = paced.stats()
        dataset = paced.dataset
    run = Run.parse(process.returncode, "".join(line for _, line in lines), "")
    # then both budgets were spent at once: the sync takes the larger one, with zero 429s
    assert run.returncode == 0, run.all_output[-3000:]
    assert stats["requests"]["/api/export/data.json"] == 9
    assert stats["requests"]["/api/lists/getUsers"] == 10
    assert stats["statuses"].get("429", 0) == 0
    assert 120 <= elapsed < 120 * 1.15 + 10, elapsed
    log = stats["log"]
    first_export = min(e["t"] for e in log if e["path"] == "/api/export/data.json")
    last_export = max(e["t"] for e in log if e["path"] == "/api/export/data.json")
    getusers = [e["t"] for e in log if e["path"] == "/api/lists/getUsers"]
    assert first_export < max(getusers) < last_export, "the getUsers calls went out while data.json waited"
    # every record arrived once
    for stream in ("email_click", "email_open", "email_send"):
        expected = expected_records(
            dataset, stream, end=started + timedelta(minutes=10), incremental_since=since
        )
        assert canonical(run.records(stream)) == canonical(expected), stream
    assert len(run.records("list_users")) == len(expected_records(dataset, "list_users", end=started))
    # and the export streams said when they waited on data.json: RUNNING with reason RATE_LIMITED and the
    # moment the budget reopens, a wait at a time (never more than the stream's own requests)
    for stream in ("email_click", "email_open", "email_send"):
        limited = [
            trace
            for trace in (m["trace"] for m in run.of_type("TRACE"))
            if trace["type"] == "STREAM_STATUS"
            and trace["stream_status"]["stream_descriptor"]["name"] == stream
            and trace["stream_status"].get("reasons")
        ]
        assert 1 <= len(limited) <= 3, (stream, limited)
        for trace in limited:
            assert trace["stream_status"]["status"] == "RUNNING"
            [reason] = trace["stream_status"]["reasons"]
            assert reason["type"] == "RATE_LIMITED"
            reopens_in = reason["rate_limited"]["quota_reset"] - trace["emitted_at"]
            assert LONG_WAIT_SECONDS * 1000 < reopens_in <= 62_000, (stream, reopens_in)
    # every line is a message the protocol's own model loads
    for message in run.messages:
        AirbyteMessageSerializer.load(message)
    # and the platform never saw 60 s of silence: a progress line at least every 30 s
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(lines)]
    assert max(gaps) < 35, max(gaps)
    logs = [m["log"]["message"] for m in run.of_type("LOG")]
    assert [line for line in logs if line.startswith("plan for stream 'email_send'")]
    assert [
        line for line in logs if line.startswith("expected minimum wall time: 2m00s, set by the data.json")
    ]
    assert [
        line
        for line in logs
        if line.startswith("progress after") and "waiting for the data.json export budget" in line
    ]
    print(
        f"side by side at the real limits: {elapsed:.1f} s for 9 data.json + 10 getUsers calls (minimum 120 s)"
    )


def test_a_wrong_key_on_every_seed_stream_costs_one_request_and_one_config_error(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    # given a key Iterable does not know, on a catalog of the 16 seed streams
    config = make_config(server.base_url, api_key="itbl-WRONG-0000000000000000000000")
    began = time.monotonic()
    run = connector.run("read", config, configured_catalog(discovered, "incremental", SEED_STREAMS))
    elapsed = time.monotonic() - began
    # then one request, one config_error naming what to fix, exit 1, within seconds
    assert sum(server.stats()["requests"].values()) == 1
    assert run.returncode == 1 and elapsed < 15
    [trace] = run.traces()
    assert trace["error"]["failure_type"] == "config_error"
    assert "invalid or disabled" in trace["error"]["message"] and "region" in trace["error"]["message"]
    assert run.records() == []
    for message in run.of_type("LOG"):
        assert "Traceback" not in message["log"]["message"]
    assert all(run.statuses(name)[-1] == "INCOMPLETE" for name in SEED_STREAMS)
    assert "itbl-WRONG" not in run.all_output


def test_a_persistent_500_on_one_list_fails_list_users_alone_while_every_other_stream_completes(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    server.add_fault(
        {
            "path": "/api/lists/getUsers",
            "match": {"listId": "3301151"},
            "kind": "status",
            "status": 500,
            "times": None,
        }
    )
    streams = ["list_users", "email_send", "users", "campaigns", "lists"]
    started = datetime.now(UTC)
    run = connector.run(
        "read", make_config(server.base_url), configured_catalog(discovered, "incremental", streams)
    )
    assert run.returncode == 1
    assert run.statuses("list_users")[-1] == "INCOMPLETE"
    for stream in ("email_send", "users", "campaigns", "lists"):
        assert run.statuses(stream)[-1] == "COMPLETE", stream
    assert canonical(run.records("email_send")) == canonical(
        expected_records(server.dataset, "email_send", end=started)
    )
    [trace] = run.traces()
    assert trace["error"]["stream_descriptor"] == {"name": "list_users"}
    assert "3301151" in trace["error"]["message"] and "GenericError" in trace["error"]["message"]
    emitted_lists = {record["listId"] for record in run.records("list_users")}
    assert 3301151 not in emitted_lists and {3301122, 3301150, 3301199} <= emitted_lists
    for message in run.of_type("LOG"):
        assert "Traceback" not in message["log"]["message"]


def test_every_state_counts_the_records_of_its_stream_since_the_previous_state(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    streams = ["email_send", "email_open", "users", "list_users", "templates", "metadata"]
    run = connector.run(
        "read", make_config(server.base_url), configured_catalog(discovered, "incremental", streams)
    )
    assert run.returncode == 0, run.all_output[-2000:]
    since: dict[str, int] = dict.fromkeys(streams, 0)
    for message in run.messages:
        if message["type"] == "RECORD":
            since[message["record"]["stream"]] += 1
        elif message["type"] == "STATE":
            name = message["state"]["stream"]["stream_descriptor"]["name"]
            assert message["state"]["sourceStats"]["recordCount"] == since[name], name
            since[name] = 0
    assert all(count == 0 for count in since.values()), "records after a stream's last STATE"
    # and each stream's status: STARTED, RUNNING before its first record, then COMPLETE
    for stream in streams:
        assert run.statuses(stream) == ["STARTED", "RUNNING", "COMPLETE"], stream
        kinds = [
            "R" if m["type"] == "RECORD" else "S"
            for m in run.messages
            if (m["type"] == "RECORD" and m["record"]["stream"] == stream)
            or (
                m["type"] == "TRACE"
                and m["trace"]["type"] == "STREAM_STATUS"
                and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
                and m["trace"]["stream_status"]["status"] == "RUNNING"
            )
        ]
        assert kinds[0] == "S", stream


def test_sigkill_with_several_streams_in_flight_then_resume_loses_and_duplicates_nothing(
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    spool_connector: Connector,
    spool_dir: Path,
) -> None:
    connector = spool_connector
    streams = ["email_send", "email_open", "email_click", "users", "list_users", "campaigns"]
    catalog = configured_catalog(discovered, "incremental", streams)
    config = make_config(server.base_url, window_in_days=7, adaptive_windows=False)
    # given slow windows in three streams, so several downloads are in flight when the kill lands
    for data_type in ("emailOpen", "emailClick", "user"):
        server.add_fault(
            {
                "path": "/api/export/data.json",
                "match": {"dataTypeName": data_type, "startDateTime": "2024-02-26 00:00:00"},
                "kind": "delay",
                "seconds": 5,
                "times": 1,
            }
        )
    process = connector.start("read", config, catalog)
    assert process.stdout is not None
    read_so_far: list[str] = []
    waiting = {"email_open", "email_click", "users"}
    for line in process.stdout:
        read_so_far.append(line)
        if '"type":"STATE"' in line:
            name = json.loads(line)["state"]["stream"]["stream_descriptor"]["name"]
            if name in waiting and '"2024-02-26T00:00:00Z"' in line:
                waiting.discard(name)
            if not waiting:
                break
    # when the process is killed without warning while those windows are still downloading
    first = kill(process, "".join(read_so_far))
    assert first.returncode == -9
    assert list(spool_dir.iterdir()) == []
    assert first.statuses("users")[-1] != "COMPLETE"
    # then a read from the last STATE of each stream finishes the sync with every row exactly once
    started = datetime.now(UTC)
    second = connector.run("read", config, catalog, first.last_states())
    assert second.returncode == 0, second.all_output[-3000:]
    for stream in ("email_send", "email_open", "email_click", "users"):
        union = committed(first, stream) + second.records(stream)
        assert canonical(union) == canonical(expected_records(server.dataset, stream, end=started)), stream
        assert committed(first, stream), (
            f"the first run must have committed some {stream} for this to test resuming"
        )
    assert TEST_API_KEY not in first.all_output + second.all_output
