"""No export job orphaned by a SIGKILL (issue 15, section 3), through the console script against the fake:
syncs killed at varied delays around their job starts, each resumed from its last STATEs. Every job of
ours that was running at a kill is afterwards cancelled or reused by the next sync, none is left running
at the end, other clients' jobs are never touched, and every row arrives exactly once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

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
from integration_tests.test_concurrency import committed

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UTC = timezone.utc
STREAMS = ["email_send", "email_click", "users"]
JOB_SECONDS = 5.0  # a job of a killed sync runs this long: one left unowned would still run at the next sync
# Seconds from the first job intent of a sync to its SIGKILL: before, during and after the start call
# (whose answer the fake holds back 0.3 s after the job exists), and once windows were printed.
KILL_DELAYS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0, 2.0, 6.0)


def job_settings(server: FakeIterable, **settings: float) -> None:
    requests.post(server.base_url + "/_control/jobs/settings", json=settings, timeout=10).raise_for_status()


def foreign_job(server: FakeIterable, data_type: str) -> int:
    """A job another client of the project started (with its own key: the fake does not tell them apart)."""
    answer = requests.post(
        server.base_url + "/api/export/start",
        json={"dataTypeName": data_type, "outputFormat": "application/x-json-stream"},
        headers={"Api-Key": TEST_API_KEY},
        timeout=10,
    )
    return int(answer.json()["jobId"])


def kill_after_first_intent(connector: Connector, config: Any, catalog: Any, state: Any, delay: float) -> Run:
    process = connector.start("read", config, catalog, state)
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if '"type":"STATE"' in line and '"intents":' in line:
            break
    time.sleep(delay)
    return kill(process, "".join(seen))


def test_sigkills_around_job_starts_never_leave_a_job_of_ours_running_unowned(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path: Path, spool_dir: Path
) -> None:
    # given two jobs of another client: one of a type we read, started a minute ago (outside the
    # tolerance of any intent), and one running now of a type we do not read
    same_type = foreign_job(server, "emailSend")
    server.state.jobs.backdate(same_type, 60)
    other_type = foreign_job(server, "emailOpen")
    foreign = {same_type, other_type}
    # and jobs that run a while, whose start call answers 0.3 s after the job exists
    job_settings(server, base_latency=JOB_SECONDS, start_answer_seconds=0.3)
    connector = Connector(tmp_path / "run", connector_env(TMPDIR=str(spool_dir)))
    config = make_config(server.base_url, export_api="async")
    catalog = configured_catalog(discovered, "incremental", STREAMS)
    states: dict[str, Any] = {}
    printed: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    at_risk: list[tuple[float, set[int], Run]] = []

    # when each sync is killed at another delay after its first intent, and the next one resumes
    for delay in KILL_DELAYS:
        run = kill_after_first_intent(connector, config, catalog, list(states.values()) or None, delay)
        killed_at = time.time()
        assert run.returncode == -9
        # jobs of ours still running, and for long enough that the next sync must be the one to end them
        at_risk.append(
            (
                killed_at,
                {
                    job["id"]
                    for job in server.jobs()
                    if job["id"] not in foreign
                    and job["state"] in ("enqueued", "running")
                    and (job["run_start"] is None or job["run_start"] + JOB_SECONDS > killed_at + 3)
                },
                run,
            )
        )
        states.update({s["stream"]["stream_descriptor"]["name"]: s for s in run.last_states()})
        for stream in STREAMS:
            printed[stream] += committed(run, stream)
    job_settings(server, base_latency=0.1, start_answer_seconds=0.0)
    final_started = datetime.now(UTC)
    final = connector.run("read", config, catalog, list(states.values()))

    # then the last sync completed, and every row arrived exactly once
    assert final.returncode == 0, final.all_output[-3000:]
    for stream in STREAMS:
        union = printed[stream] + final.records(stream)
        assert canonical(union) == canonical(expected_records(server.dataset, stream, end=final_started)), (
            stream
        )
        assert not [row for row, n in Counter(canonical(union)).items() if n > 1], stream
    # and every job of ours running at a kill was cancelled, or reused, by the sync after it
    jobs = {job["id"]: job for job in server.jobs()}
    runs = [run for _, _, run in at_risk[1:]] + [final]
    for (killed_at, ids, _), after in zip(at_risk, runs, strict=True):
        logs = " ".join(m["log"]["message"] for m in after.of_type("LOG"))
        for job_id in ids:
            cancelled = jobs[job_id]["deleted_at"] is not None and jobs[job_id]["deleted_at"] >= killed_at
            reused = f"reusing export job {job_id} " in logs
            assert cancelled or reused, (job_id, jobs[job_id])
    assert sum(len(ids) for _, ids, _ in at_risk) >= len(KILL_DELAYS), (
        "the kills fell where jobs were running"
    )
    # none of ours is left running or queued, and the other client's jobs were never touched
    assert [
        j for j in jobs.values() if j["id"] not in foreign and j["state"] in ("enqueued", "running")
    ] == []
    for job_id in foreign:
        assert jobs[job_id]["delete_calls"] == 0 and jobs[job_id]["listings"] == 0, jobs[job_id]
    intent_cancels = [
        m
        for run in runs
        for m in run.of_type("LOG")
        if "stopped before recording its id" in m["log"]["message"]
    ]
    assert intent_cancels, "some kill fell between a job's start and the STATE naming it"
