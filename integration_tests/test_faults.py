"""The fault matrix, through the real console script against the fake Iterable server.

Every scenario also asserts that the distinctive test API key appears nowhere in stdout or stderr.
"""

from __future__ import annotations

import socket
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import READONLY_KEY
from integration_tests.expectations import STREAMS, canonical, expected_records
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

pytestmark = pytest.mark.integration
UTC = timezone.utc
RESOURCES = ["campaigns", "channels", "lists", "message_types", "metadata", "templates", "list_users"]


def assert_clean(run: Run) -> None:
    """The key appears nowhere, and every error message a user reads is plain text, not a traceback."""
    assert TEST_API_KEY not in run.all_output
    for trace in run.traces():
        assert "Traceback" not in trace["error"]["message"]


def export_requests(server: FakeIterable, data_type: str | None = None) -> list[dict[str, Any]]:
    return [
        entry
        for entry in server.stats()["log"]
        if entry["path"] == "/api/export/data.json"
        and (data_type is None or entry["query"].get("dataTypeName", "").lower() == data_type.lower())
    ]


def read(
    connector: Connector,
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    streams: list[str],
    **config: Any,
) -> Run:
    catalog = configured_catalog(discovered, "incremental", streams)
    return connector.run("read", make_config(server.base_url, **config), catalog)


def assert_complete(run: Run, server: FakeIterable, streams: list[str], started: datetime) -> None:
    assert run.returncode == 0, run.all_output[-3000:]
    for stream in streams:
        since = datetime(2024, 1, 1, tzinfo=UTC) if STREAMS[stream].incremental else None
        expected = expected_records(server.dataset, stream, end=started, incremental_since=since)
        drop = ("updatedAt",) if stream == "list_users" else ()
        assert canonical(run.records(stream), drop=drop) == canonical(expected), stream


# ------------------------------------------------------------------ transient faults: retried, sync completes


@pytest.mark.parametrize(
    "path,match",
    [
        ("/api/campaigns", {}),
        ("/api/lists/getUsers", {}),
        ("/api/export/data.json", {"dataTypeName": "emailSend"}),
        ("/api/metadata*", {}),
    ],
)
def test_429_without_retry_after_is_waited_out(
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    connector: Connector,
    path: str,
    match: dict[str, str],
) -> None:
    # given two 429s with Iterable's body and no Retry-After
    server.add_fault({"path": path, "match": match, "kind": "status", "status": 429, "times": 2})
    started = datetime.now(UTC)
    streams = ["campaigns", "list_users", "email_send", "metadata"]
    # when
    run = read(connector, server, discovered, streams)
    # then the sync completes with every record, and the 429s were really served
    assert server.stats()["statuses"].get("429") == 2
    assert_complete(run, server, streams, started)
    assert_clean(run)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_server_errors_are_retried_with_backoff(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector, status: int
) -> None:
    for path in ("/api/channels", "/api/templates", "/api/export/data.json", "/api/lists/getUsers"):
        server.add_fault({"path": path, "kind": "status", "status": status, "times": 2})
    started = datetime.now(UTC)
    streams = ["channels", "templates", "email_open", "list_users"]
    run = read(connector, server, discovered, streams)
    assert server.stats()["statuses"].get(str(status)) == 8
    assert_complete(run, server, streams, started)
    assert_clean(run)


def test_slow_first_byte_hits_the_read_timeout_and_is_retried(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Any
) -> None:
    connector = Connector(tmp_path, connector_env(ITERABLE_HTTP_READ_TIMEOUT_SECONDS="1"))
    server.add_fault({"path": "/api/channels", "kind": "delay", "seconds": 3, "times": 1})
    server.add_fault({"path": "/api/export/data.json", "kind": "delay", "seconds": 3, "times": 1})
    started = datetime.now(UTC)
    run = read(connector, server, discovered, ["channels", "email_click"])
    assert_complete(run, server, ["channels", "email_click"], started)
    assert_clean(run)


def test_a_persistent_read_timeout_fails_with_a_clear_message(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Any
) -> None:
    connector = Connector(tmp_path, connector_env(ITERABLE_HTTP_READ_TIMEOUT_SECONDS="0.5"))
    server.add_fault({"path": "/api/channels", "kind": "delay", "seconds": 2, "times": None})
    run = read(connector, server, discovered, ["channels", "lists"])
    assert run.returncode == 1
    [trace] = [t for t in run.traces() if t["error"].get("stream_descriptor", {}).get("name") == "channels"]
    message = trace["error"]["message"]
    assert "stream 'channels'" in message and "/api/channels" in message and "read timeout" in message
    assert run.records("channels") == []
    assert run.statuses("lists")[-1] == "COMPLETE"
    assert_clean(run)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_fails_with_a_clear_message(
    discovered: list[dict[str, Any]], connector: Connector
) -> None:
    config = make_config(f"http://127.0.0.1:{free_port()}")
    check = connector.run("check", config)
    assert check.returncode == 0
    status = check.connection_status()
    assert status["status"] == "FAILED" and "connection failed" in status["message"]
    run = connector.run("read", config, configured_catalog(discovered, "incremental", ["channels"]))
    assert run.returncode == 1
    assert any("connection failed" in t["error"]["message"] for t in run.traces())
    assert_clean(check)
    assert_clean(run)


# ------------------------------------------------------------------ one list failing for good


def test_a_list_with_persistent_500_fails_only_list_users_after_every_other_list(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    # given Iterable's GenericError on one dynamic list (read through getUsers), every time
    bad_list = 3301150
    server.add_fault(
        {
            "path": "/api/lists/getUsers",
            "match": {"listId": str(bad_list)},
            "kind": "status",
            "status": 500,
            "times": None,
        }
    )
    started = datetime.now(UTC)
    # when list_users runs between other streams
    run = read(connector, server, discovered, ["channels", "list_users", "lists"])
    # then members of every other list arrive, the stream fails naming the list, the others complete
    emitted = canonical(run.records("list_users"), drop=("updatedAt",))
    expected = [
        r for r in expected_records(server.dataset, "list_users", end=started) if r["listId"] != bad_list
    ]
    assert emitted == canonical(expected)
    assert run.statuses("list_users")[-1] == "INCOMPLETE"
    assert run.statuses("channels")[-1] == "COMPLETE" and run.statuses("lists")[-1] == "COMPLETE"
    [trace] = [t for t in run.traces() if t["error"].get("stream_descriptor", {}).get("name") == "list_users"]
    assert f"list {bad_list}" in trace["error"]["message"]
    assert "GenericError" in trace["error"]["message"]
    assert run.returncode == 1
    assert_clean(run)


# ------------------------------------------------------------------ failures that must not be retried


@pytest.mark.parametrize(
    "path,stream", [("/api/channels", "channels"), ("/api/export/data.json", "email_open")]
)
def test_401_fails_fast_as_a_config_error_naming_the_likely_causes(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector, path: str, stream: str
) -> None:
    server.add_fault({"path": path, "kind": "status", "status": 401, "times": None})
    run = read(connector, server, discovered, [stream, "lists"])
    assert server.stats()["requests"].get(path) == 1  # no retry loop, and no second try by another stream
    if path == "/api/channels":
        # a resource endpoint refusing the key: a wrong key, the whole sync stops with one trace
        [trace] = run.traces()
        assert "stream_descriptor" not in trace["error"]
        assert run.statuses("lists")[-1] == "INCOMPLETE"
    else:
        # the export API refusing a key the resources accept: the export stream fails, lists completes
        [trace] = [t for t in run.traces() if t["error"].get("stream_descriptor", {}).get("name") == stream]
        assert run.statuses("lists")[-1] == "COMPLETE"
    assert trace["error"]["failure_type"] == "config_error"
    message = trace["error"]["message"]
    assert "invalid or disabled" in message and "region" in message and "Server-side" in message
    assert run.returncode == 1
    assert_clean(run)


def test_400_fails_fast_with_iterables_own_message(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    body = {"msg": "Invalid startDateTime: 2024-13-01", "code": "BadParams", "params": None}
    server.add_fault(
        {"path": "/api/export/data.json", "kind": "status", "status": 400, "body": body, "times": None}
    )
    run = read(connector, server, discovered, ["email_bounce"])
    asked = [e["query"]["startDateTime"] for e in export_requests(server)]
    assert asked and len(asked) == len(set(asked))  # no window asked twice: a 400 is not retried
    [trace] = run.traces()[:1]
    assert "Invalid startDateTime: 2024-13-01" in trace["error"]["message"]
    assert "stream 'email_bounce'" in trace["error"]["message"]
    assert run.records("email_bounce") == []
    assert_clean(run)


@pytest.mark.parametrize("kind", ["html", "empty"])
def test_a_200_without_json_is_an_error_naming_stream_and_endpoint(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector, kind: str
) -> None:
    server.add_fault({"path": "/api/messageTypes", "kind": kind, "times": None})
    run = read(connector, server, discovered, ["message_types"])
    assert run.records("message_types") == []
    [trace] = run.traces()[:1]
    message = trace["error"]["message"]
    assert "stream 'message_types'" in message and "/api/messageTypes" in message
    assert ("not JSON" in message) if kind == "html" else ("empty body" in message)
    assert run.returncode == 1
    assert_clean(run)


# ------------------------------------------------------------------ killed mid-read, resumed from its last STATE


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


def test_sigkill_mid_read_then_resume_from_the_last_state_loses_and_duplicates_nothing(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    connector = Connector(tmp_path / "run", connector_env(TMPDIR=str(spool_dir)))
    streams = ["email_send", "email_open", "users"]
    catalog = configured_catalog(discovered, "incremental", streams)
    config = make_config(server.base_url, window_in_days=7, adaptive_windows=False)
    # given a slow window in the middle of email_open, so the kill lands mid-sync
    server.add_fault(
        {
            "path": "/api/export/data.json",
            "match": {"dataTypeName": "emailOpen", "startDateTime": "2024-03-04 00:00:00"},
            "kind": "delay",
            # long enough to outlast the kill; the resumed read may meet it again (the kill can land
            # before the request), so it is kept short
            "seconds": 5,
            "times": 1,
        }
    )
    process = connector.start("read", config, catalog)
    assert process.stdout is not None
    read_so_far: list[str] = []
    email_open_states = 0
    for line in process.stdout:
        read_so_far.append(line)
        if '"type":"STATE"' in line and '"name":"email_open"' in line:
            email_open_states += 1
            if email_open_states == 9:  # nine weekly windows: the next one is the slow one
                break
    # when the process is killed without warning
    first = kill(process, "".join(read_so_far))
    assert first.returncode == -9
    assert list(spool_dir.iterdir()) == []  # spooled bodies are unnamed files: nothing outlives a kill
    assert "COMPLETE" not in first.statuses("email_open")  # it really died before the end
    # then a new read from the last STATE it printed finishes the sync
    started = datetime.now(UTC)
    second = connector.run("read", config, catalog, first.last_states())
    assert second.returncode == 0, second.all_output[-3000:]
    for stream in streams:
        union = committed(first, stream) + second.records(stream)
        assert canonical(union) == canonical(expected_records(server.dataset, stream, end=started)), stream
    assert committed(first, "email_open"), (
        "the first run must have committed something for this to test resuming"
    )
    assert_clean(first)
    assert_clean(second)


# ------------------------------------------------------------------ state input


def test_unparsable_state_value_is_a_clear_error_naming_the_stream(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "email_send"},
                "stream_state": {"createdAt": "last tuesday"},
            },
        }
    ]
    run = connector.run(
        "read",
        make_config(server.base_url),
        configured_catalog(discovered, "incremental", ["email_send"]),
        state,
    )
    assert run.returncode == 1
    message = run.traces()[0]["error"]["message"]
    assert "email_send" in message and "last tuesday" in message
    assert run.records("email_send") == []
    assert_clean(run)


def test_a_state_file_that_is_not_json_is_a_clear_error(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    run = connector.run(
        "read",
        make_config(server.base_url),
        configured_catalog(discovered, "incremental", ["channels"]),
        "{not json",
    )
    assert run.returncode == 1
    assert run.records() == []
    assert any("state" in t["error"]["message"].lower() for t in run.traces())
    assert_clean(run)


def test_future_state_reads_nothing_fails_nothing_and_unknown_streams_are_ignored(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    future = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": {cursor: future}}}
        for name, cursor in [
            ("email_send", "createdAt"),
            ("users", "profileUpdatedAt"),
            ("campaigns", "updatedAt"),
        ]
    ] + [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "push_send"}, "stream_state": {"x": 1}}}]
    run = connector.run(
        "read",
        make_config(server.base_url),
        configured_catalog(discovered, "incremental", ["email_send", "users", "campaigns"]),
        state,
    )
    assert run.returncode == 0, run.all_output[-2000:]
    assert run.records() == []
    assert export_requests(server) == []
    assert_clean(run)


# ------------------------------------------------------------------ check


def test_check_with_a_read_only_key_says_a_server_side_key_is_needed(
    server: FakeIterable, connector: Connector
) -> None:
    run = connector.run("check", make_config(server.base_url, api_key=READONLY_KEY))
    status = run.connection_status()
    assert status["status"] == "FAILED"
    assert "Server-side key" in status["message"] and "email_* and users" in status["message"]
    assert READONLY_KEY not in run.all_output


def test_check_with_an_unknown_key_mentions_the_region(server: FakeIterable, connector: Connector) -> None:
    run = connector.run("check", make_config(server.base_url, api_key="itbl-EU-PROJECT-KEY-0000000000"))
    status = run.connection_status()
    assert status["status"] == "FAILED"
    assert "region US" in status["message"] and "set region to EU" in status["message"]
    assert "itbl-EU-PROJECT-KEY-0000000000" not in run.all_output


def test_debug_logging_never_prints_the_key(
    server: FakeIterable, discovered: list[dict[str, Any]], connector: Connector
) -> None:
    server.add_fault({"path": "/api/channels", "kind": "status", "status": 500, "times": 1})
    server.add_fault({"path": "/api/lists", "kind": "status", "status": 401, "times": None})
    catalog = configured_catalog(discovered, "incremental", ["channels", "lists", "email_send"])
    args = [*connector.command("read", make_config(server.base_url), catalog), "--debug"]
    completed = subprocess.run(
        args, capture_output=True, text=True, env=connector.env, timeout=300, check=False
    )
    run = Run.parse(completed.returncode, completed.stdout, completed.stderr)
    # debug lines are LOG messages at level DEBUG; ours echo each request with its headers
    echoed = [
        m["log"]["message"]
        for m in run.of_type("LOG")
        if m["log"]["level"] == "DEBUG" and "headers sent" in m["log"]["message"]
    ]
    assert echoed and all("'Api-Key': '****'" in line for line in echoed)
    assert_clean(run)
