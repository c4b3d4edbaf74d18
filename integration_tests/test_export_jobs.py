"""Export windows through Iterable's export jobs, through the console script against the fake:
the path ``auto`` picks, identical records on both paths, every job fault, the key kept away from the
storage host, the fallback for a refused key, and jobs a killed sync leaves behind."""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from integration_tests.expectations import EXPORT_STREAMS, canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    TEST_API_KEY,
    Connector,
    Run,
    configured_catalog,
    connector_env,
    kill,
    make_config,
    requests_to,
)
from integration_tests.test_concurrency import committed

pytestmark = pytest.mark.integration
UTC = timezone.utc
START = "/api/export/start"
FILES = "/api/export/{jobId}/files"


def fault(server: FakeIterable, **rule: Any) -> None:
    server.add_fault(rule)


def jobs_feature(server: FakeIterable, **body: Any) -> None:
    answer = requests.post(server.base_url + "/_control/jobs/feature", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def read(
    connector: Connector,
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    streams: list[str],
    state: Any = None,
    **config: Any,
) -> Run:
    catalog = configured_catalog(discovered, "incremental", streams)
    return connector.run("read", make_config(server.base_url, **config), catalog, state)


def test_auto_reads_a_backfill_through_jobs_and_one_recent_window_through_data_json(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    # given a backfill of email_send (years of windows) and users resuming one day before now
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "users"},
                "stream_state": {"profileUpdatedAt": yesterday},
            },
        }
    ]
    started = datetime.now(UTC)
    run = read(spool_connector, server, discovered, ["email_send", "users"], state, export_api="auto")
    # then email_send went through export jobs only, users' single window through data.json only
    assert run.returncode == 0, run.all_output[-3000:]
    assert requests_to(server, START, "emailSend") and not requests_to(
        server, "/api/export/data.json", "emailSend"
    )
    assert requests_to(server, "/api/export/data.json", "user") and not requests_to(server, START, "user")
    assert canonical(run.records("email_send")) == canonical(
        expected_records(server.dataset, "email_send", end=started)
    )


def test_both_export_paths_emit_identical_records_for_every_export_stream(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    started = datetime.now(UTC)
    through_jobs = read(spool_connector, server, discovered, EXPORT_STREAMS, export_api="async")
    through_data_json = read(spool_connector, server, discovered, EXPORT_STREAMS, export_api="sync")
    assert through_jobs.returncode == 0, through_jobs.all_output[-3000:]
    assert through_data_json.returncode == 0, through_data_json.all_output[-3000:]
    for stream in EXPORT_STREAMS:
        jobs_records = canonical(through_jobs.records(stream))
        assert jobs_records == canonical(through_data_json.records(stream)), stream
        assert jobs_records == canonical(expected_records(server.dataset, stream, end=started)), stream
    logs = " ".join(m["log"]["message"] for m in through_jobs.of_type("LOG"))
    assert "export jobs: " in logs and " started, " in logs


JOB_FAULTS = {
    "failed job": {"kind": "job_failed", "times": 1},
    "slow job": {"kind": "job_slow", "seconds": 1.5, "times": 1},
    "expired URL": {"kind": "url_expired", "times": 1},
    "cut file": {"kind": "file_cut", "times": 1},
    "malformed line": {"kind": "file_malformed", "times": 1},
    "truncated job": {"kind": "job_truncated", "times": 1},
    "429 on start": {"kind": "status", "status": 429, "path": START, "times": 2},
}


@pytest.mark.parametrize("rule", list(JOB_FAULTS.values()), ids=list(JOB_FAULTS))
def test_every_job_fault_still_gives_every_row_exactly_once(
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    spool_connector: Connector,
    spool_dir: Path,
    rule: dict[str, Any],
) -> None:
    # given the fault on email_send's first job (the first window holds rows in several files)
    match = (
        {}
        if rule["kind"] == "status"
        else {"match": {"dataTypeName": "emailSend", "start": "2024-01-01 00:00:00"}}
    )
    fault(server, **rule, **match)
    started = datetime.now(UTC)
    run = read(spool_connector, server, discovered, ["email_send"], export_api="async")
    # then the window was read again or around the fault, every row once, and nothing left on disk
    assert run.returncode == 0, run.all_output[-3000:]
    assert canonical(run.records("email_send")) == canonical(
        expected_records(server.dataset, "email_send", end=started)
    )
    fired = [f for job in server.jobs() for f in job.get("faults", [])]
    if rule["kind"] == "status":
        assert server.stats()["statuses"].get("429", 0) == 2
    else:
        logged = [e.get("fault") for e in server.stats()["log"] + server.storage_stats().get("log", [])]
        assert rule["kind"] in fired or rule["kind"] in logged, (fired, logged)
    assert list(spool_dir.iterdir()) == []
    assert TEST_API_KEY not in run.all_output


def test_a_window_whose_jobs_keep_failing_fails_its_stream_naming_window_and_jobs(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    fault(
        server,
        kind="job_failed",
        match={"dataTypeName": "emailSend", "start": "2024-01-01 00:00:00"},
        times=None,
    )
    run = read(spool_connector, server, discovered, ["email_send", "email_open"], export_api="async")
    assert run.returncode == 1
    [trace] = run.traces()
    message = trace["error"]["message"]
    assert trace["error"]["stream_descriptor"] == {"name": "email_send"}
    assert "window [2024-01-01T00:00:00Z, " in message and "export job" in message
    failed_ids = [job["id"] for job in server.jobs() if job["state"] == "failed"]
    assert len(failed_ids) == 3 and all(str(job) in message for job in failed_ids)
    assert run.statuses("email_open")[-1] == "COMPLETE"


def test_the_api_key_goes_to_iterable_and_never_to_the_storage_host(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    run = read(spool_connector, server, discovered, ["email_send", "users"], export_api="async")
    assert run.returncode == 0, run.all_output[-3000:]
    downloads = server.storage_stats()["log"]
    assert len(downloads) > 2
    assert not any(entry["api_key_present"] for entry in downloads)
    assert requests_to(server, START)  # the API host did get keyed calls (the fake refuses unkeyed ones)


def test_auto_falls_back_to_data_json_with_one_warning_when_the_key_may_not_use_jobs(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    jobs_feature(server, enabled=False)
    started = datetime.now(UTC)
    run = read(spool_connector, server, discovered, ["email_send", "email_open"], export_api="auto")
    assert run.returncode == 0, run.all_output[-3000:]
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert len([w for w in warnings if "refused export jobs" in w]) == 1
    assert len(requests_to(server, START)) <= 2  # the first refusal ends the attempts
    for stream in ("email_send", "email_open"):
        assert canonical(run.records(stream)) == canonical(
            expected_records(server.dataset, stream, end=started)
        )


def test_async_with_a_key_that_may_not_use_jobs_is_a_config_error(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    jobs_feature(server, enabled=False)
    run = read(spool_connector, server, discovered, ["email_send"], export_api="async")
    assert run.returncode == 1
    [trace] = run.traces()
    assert trace["error"]["failure_type"] == "config_error" and "export_api" in trace["error"]["message"]
    assert run.records() == []


@pytest.mark.parametrize("enabled", [True, False])
def test_check_says_which_export_path_the_key_can_use(
    server: FakeIterable, connector: Connector, enabled: bool
) -> None:
    jobs_feature(server, enabled=enabled)
    run = connector.run("check", make_config(server.base_url, export_api="auto"))
    status = run.connection_status()
    assert status["status"] == "SUCCEEDED"
    assert ("export jobs for backfills" in status["message"]) is enabled
    assert ("data.json only" in status["message"]) is not enabled


def test_sigkill_mid_backfill_then_resume_reuses_or_cancels_its_jobs_and_never_touches_another_clients(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Path, spool_dir: Path
) -> None:
    # given another client's job in the project, and slow jobs so several of ours are running at the kill
    foreign = requests.post(
        server.base_url + START,
        json={
            "dataTypeName": "emailOpen",
            "outputFormat": "application/x-json-stream",
            "startDateTime": "2024-01-01 00:00:00",
            "endDateTime": "2024-02-01 00:00:00",
        },
        headers={"Api-Key": TEST_API_KEY},
        timeout=10,
    ).json()["jobId"]
    requests.post(
        server.base_url + "/_control/jobs/settings", json={"base_latency": 3.0}, timeout=10
    ).raise_for_status()
    connector = Connector(tmp_path / "run", connector_env(TMPDIR=str(spool_dir)))
    streams = ["email_send", "email_open", "email_click", "users"]
    catalog = configured_catalog(discovered, "incremental", streams)
    config = make_config(server.base_url, export_api="async")
    process = connector.start("read", config, catalog)
    assert process.stdout is not None
    seen: list[str] = []
    announced: set[str] = set()
    for line in process.stdout:
        seen.append(line)
        if '"type":"STATE"' in line and '"jobs":' in line:
            announced.add(json.loads(line)["state"]["stream"]["stream_descriptor"]["name"])
            if len(announced) == len(streams):
                break
    # when the sync is killed while every stream has a job running
    first = kill(process, "".join(seen))
    assert first.returncode == -9
    assert list(spool_dir.iterdir()) == []
    ours = {
        entry["id"]
        for state in first.last_states()
        for entry in state["stream"]["stream_state"].get("jobs", [])
    }
    assert len(ours) >= len(streams) and foreign not in ours
    requests.post(
        server.base_url + "/_control/jobs/settings", json={"base_latency": 0.1}, timeout=10
    ).raise_for_status()
    # then the next sync resumes from the last states: every row once, each orphan reused or cancelled
    started = datetime.now(UTC)
    second = connector.run("read", config, catalog, first.last_states())
    assert second.returncode == 0, second.all_output[-3000:]
    for stream in streams:
        union = committed(first, stream) + second.records(stream)
        assert canonical(union) == canonical(expected_records(server.dataset, stream, end=started)), stream
    by_id = {job["id"]: job for job in server.jobs()}
    restarted = {
        (e["body"]["dataTypeName"], e["body"]["startDateTime"])
        for e in requests_to(server, START)
        if e["t"] >= started.timestamp()
    }
    for job_id in ours:
        job = by_id[job_id]
        reused = (job["dataTypeName"], job["startDateTime"]) not in restarted
        cancelled = job["deleted_by"] is not None
        assert reused or cancelled or job["state"] in ("completed", "failed"), job
    assert by_id[foreign]["deleted_by"] is None
    assert not any(f"/api/export/{foreign}/" in e.get("path", "") for e in server.stats()["log"])
    assert TEST_API_KEY not in first.all_output + second.all_output


def test_a_sigterm_stops_the_sync_and_cancels_every_job_it_was_running(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Path
) -> None:
    # given slow jobs of two streams running (how Airbyte's platform cancels a sync: SIGTERM)
    requests.post(
        server.base_url + "/_control/jobs/settings", json={"base_latency": 30.0}, timeout=10
    ).raise_for_status()
    connector = Connector(tmp_path / "run", connector_env())
    catalog = configured_catalog(discovered, "incremental", ["email_send", "email_open"])
    process = connector.start("read", make_config(server.base_url, export_api="async"), catalog)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if len([job for job in server.jobs() if job["state"] in ("running", "enqueued")]) >= 2:
            break
    # when the sync is asked to stop
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    run = Run.parse(process.returncode, "".join(seen) + rest, "")
    # then it ends at once with one trace, and none of the jobs it started is left holding a slot
    assert run.returncode == 1
    assert any("SIGTERM" in trace["error"]["message"] for trace in run.traces())
    started = [job for job in server.jobs()]
    assert started and all(job["deleted_by"] is not None for job in started), started


def test_windows_grow_the_same_whether_iterable_cuts_exports_into_small_files_or_not(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector
) -> None:
    # given the same backfill through export jobs, once with files of up to 10 MB and once of 1 KB, one
    # job at a time (so each window is planned once the one before it is read, whatever the timing)
    jobs: dict[int, list[dict[str, Any]]] = {}
    for file_bytes in (10_000_000, 1024):
        server.reset()
        requests.post(
            server.base_url + "/_control/jobs/settings", json={"file_bytes": file_bytes}, timeout=10
        ).raise_for_status()
        started = datetime.now(UTC)
        run = read(
            spool_connector,
            server,
            discovered,
            ["email_open"],
            export_api="async",
            max_concurrent_export_jobs=1,
        )
        assert run.returncode == 0, run.all_output[-3000:]
        assert canonical(run.records("email_open")) == canonical(
            expected_records(server.dataset, "email_open", end=started)
        )
        jobs[file_bytes] = server.jobs()
    # then small files did cut the exports, and the windows (so the jobs) are the same: each starts
    # where it did with large files (the last one ends at each sync's own "now")
    assert max(len(job["files"]) for job in jobs[1024]) > 3
    assert max(len(job["files"]) for job in jobs[10_000_000]) == 1
    starts = {
        size: sorted((j["dataTypeName"], j["startDateTime"]) for j in found) for size, found in jobs.items()
    }
    assert starts[1024] == starts[10_000_000]
