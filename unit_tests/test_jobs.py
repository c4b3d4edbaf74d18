"""Export jobs, one window at a time: the job state machine, its faults, and orphaned jobs (fake clock)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import requests_mock

from source_iterable.api.errors import Aborted, ConnectorError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import JOBS
from source_iterable.engine.units import Fetched, Unit
from source_iterable.readers.exports import ExportRun
from source_iterable.readers.job_states import (
    FIRST_POLL_SECONDS,
    MAX_POLL_SECONDS,
    JobIntent,
    JobStarted,
    JobState,
    files_page,
    job_state,
    poll_delays,
    recorded_jobs,
)
from source_iterable.readers.jobs import JobRunner
from source_iterable.windows import Window

from .builders import API_KEY, BASE_URL, NOW, STORAGE, FakeClock, Notices, context, event, ndjson, utc

WINDOW = Window(utc(2024, 1, 1), utc(2024, 1, 31))
START = BASE_URL + "/api/export/start"


def files_url(job: int) -> str:
    return f"{BASE_URL}/api/export/{job}/files"


def listing(state: str, *names: str, truncated: bool = False, job: int = 3562) -> dict[str, Any]:
    files = [{"file": name, "url": f"{STORAGE}/{name}?X-Amz-Signature=abc"} for name in names]
    return {"jobId": job, "jobState": state, "exportTruncated": truncated, "files": files}


def setup(clock: FakeClock, **config: Any) -> tuple[JobRunner, ExportRun, Unit, list[Any]]:
    ctx = context(clock, **config)
    runner = JobRunner(ctx, sleep=clock.sleep, clock=clock, wall=lambda: NOW)
    run = ExportRun(STREAMS_BY_NAME["email_send"], ctx, utc(2024, 1, 1), jobs=runner)
    notices = Notices()
    unit = Unit("email_send", JOBS, f"window {WINDOW}", lambda u: Fetched.__new__(Fetched))
    unit.notify = notices
    return runner, run, unit, notices


def rows_of(fetched: Fetched) -> list[bytes]:
    return [line for block in fetched.batch.blocks() for line in block]


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    "raw,state",
    [
        ("enqueued", JobState.QUEUED),
        ("Enqueued", JobState.QUEUED),
        ("queued", JobState.QUEUED),
        ("Running", JobState.RUNNING),
        ("COMPLETED", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("cancelling", JobState.CANCELLED),
        ("Cancelled", JobState.CANCELLED),
    ],
)
def test_job_states_are_read_case_insensitively(raw: str, state: JobState) -> None:
    assert job_state(raw) is state


def test_an_unknown_job_state_is_not_taken_for_one() -> None:
    assert job_state("paused") is None and job_state(None) is None
    with pytest.raises(Exception, match="unknown jobState"):
        files_page({"jobState": "paused", "files": []}, 1)


def test_polls_start_near_a_second_and_grow_to_a_cap() -> None:
    delays = poll_delays()
    first = [next(delays) for _ in range(12)]
    assert first[0] == FIRST_POLL_SECONDS
    assert first == sorted(first) and first[-1] == MAX_POLL_SECONDS


def test_recorded_jobs_reads_what_a_state_wrote_and_skips_what_it_cannot_read() -> None:
    state = {
        "createdAt": "2024-01-01T00:00:00Z",
        "jobs": [{"id": 7, "start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"}, {"id": "x"}],
    }
    assert recorded_jobs(state) == [(7, WINDOW)]
    assert recorded_jobs({"createdAt": "2024-01-01T00:00:00Z"}) == []


# ------------------------------------------------------------------ one window through a job


def test_a_window_is_one_start_and_one_files_call_when_the_job_is_done_by_the_first_poll(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a job that has completed with two files by the time it is first polled
    runner, run, unit, notices = setup(clock)
    api.post(START, json={"jobId": 3562})
    api.get(files_url(3562), json=listing("completed", "f-1.json", "f-2.json"))
    first = ndjson([event("2024-01-02 10:00:00 +00:00")])
    second = ndjson([event("2024-01-03 10:00:00 +00:00"), event("2024-01-04 10:00:00 +00:00")])
    api.get(f"{STORAGE}/f-1.json", content=first)
    api.get(f"{STORAGE}/f-2.json", content=second)
    # when the window is fetched
    fetched = runner.read(run, run.query(WINDOW), unit)
    # then every row of both files is on disk, converted, as one piece (two files are not a split), and
    # the job was announced once, after its intent
    assert [b'"createdAt":"2024-01-0' in line for line in rows_of(fetched)] == [True, True, True]
    assert fetched.rows == 3 and fetched.pieces == 1 and not fetched.truncated
    # and the window is sized by the bytes Iterable sent, which the log reports as downloaded
    assert fetched.body_bytes == runner.bytes_downloaded == len(first) + len(second)
    assert notices == [JobIntent("emailSend", WINDOW, NOW), JobStarted(3562, WINDOW)]
    calls = [(r.method, r.url.split("?")[0]) for r in api.request_history]
    assert calls == [
        ("POST", START),
        ("GET", files_url(3562)),
        ("GET", f"{STORAGE}/f-1.json"),
        ("GET", f"{STORAGE}/f-2.json"),
    ]
    assert api.request_history[0].json() == {
        "dataTypeName": "emailSend",
        "outputFormat": "application/x-json-stream",
        "startDateTime": "2024-01-01 00:00:00",
        "endDateTime": "2024-01-31 00:00:00",
    }


def test_the_api_key_goes_to_iterable_and_never_to_the_storage_host(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 1})
    api.get(files_url(1), json=listing("completed", "f-1.json", job=1))
    api.get(f"{STORAGE}/f-1.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    runner.read(run, run.query(WINDOW), unit)
    for request in api.request_history:
        sent = {k.lower(): v for k, v in request.headers.items()}
        if request.url.startswith(BASE_URL):
            assert sent["api-key"] == API_KEY
        else:
            assert "api-key" not in sent and "api_key" not in sent


def test_files_are_fetched_as_they_appear_and_the_listing_pages_after_the_last_one(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a job that is enqueued, then running with one file, then completed with a full page of ten
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 5})
    ten = [f"f-{n:02d}.json" for n in range(2, 12)]
    api.get(
        files_url(5),
        [
            {"json": listing("Enqueued", job=5)},
            {"json": listing("running", "f-01.json", job=5)},
            {"json": listing("completed", *ten, job=5)},
            {"json": listing("completed", "f-12.json", job=5)},
        ],
    )
    api.get(re.compile(re.escape(STORAGE) + ".*"), content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    fetched = runner.read(run, run.query(WINDOW), unit)
    assert fetched.rows == 12
    listings = [r for r in api.request_history if r.url.startswith(files_url(5))]
    assert [r.qs.get("startAfter", [None])[0] for r in listings] == [None, None, "f-01.json", "f-11.json"]
    # it waited between polls of a running job, not after a full page of a completed one
    assert len(clock.sleeps) == 3


def test_a_failed_job_is_started_again_and_three_failures_name_stream_window_and_jobs(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, [{"json": {"jobId": n}} for n in (11, 12, 13)])
    for job in (11, 12, 13):
        api.get(files_url(job), json=listing("failed", job=job))
    with pytest.raises(ConnectorError) as raised:
        runner.read(run, run.query(WINDOW), unit)
    message = raised.value.message
    assert "stream 'email_send'" in message and str(WINDOW) in message and "11, 12, 13" in message


def test_a_cancelled_job_is_started_again(api: requests_mock.Mocker, clock: FakeClock) -> None:
    runner, run, unit, notices = setup(clock)
    api.post(START, [{"json": {"jobId": 21}}, {"json": {"jobId": 22}}])
    api.get(files_url(21), json=listing("cancelled", job=21))
    api.get(files_url(22), json=listing("completed", "f-1.json", job=22))
    api.get(f"{STORAGE}/f-1.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    assert runner.read(run, run.query(WINDOW), unit).rows == 1
    assert [n.job_id for n in notices if isinstance(n, JobStarted)] == [21, 22]


def test_a_truncated_job_splits_the_window_and_reads_the_halves(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, [{"json": {"jobId": n}} for n in (31, 32, 33)])
    api.get(files_url(31), json=listing("completed", "big.json", truncated=True, job=31))
    api.get(files_url(32), json=listing("completed", "a.json", job=32))
    api.get(files_url(33), json=listing("completed", "b.json", job=33))
    api.get(f"{STORAGE}/big.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")] * 5))
    api.get(f"{STORAGE}/a.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    api.get(f"{STORAGE}/b.json", content=ndjson([event("2024-01-20 10:00:00 +00:00")]))
    fetched = runner.read(run, run.query(WINDOW), unit)
    assert fetched.rows == 2 and fetched.truncated
    halves = [r.json() for r in api.request_history if r.method == "POST"][1:]
    assert [(h["startDateTime"], h["endDateTime"]) for h in halves] == [
        ("2024-01-01 00:00:00", "2024-01-16 00:00:00"),
        ("2024-01-16 00:00:00", "2024-01-31 00:00:00"),
    ]


def test_an_expired_url_is_refreshed_by_listing_its_page_again(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 41})
    fresh = {"file": "f-2.json", "url": f"{STORAGE}/f-2.json?fresh=1"}
    api.get(
        files_url(41),
        [
            {"json": listing("completed", "f-1.json", "f-2.json", job=41)},
            {"json": {"jobId": 41, "jobState": "completed", "exportTruncated": False, "files": [fresh]}},
        ],
    )
    api.get(f"{STORAGE}/f-1.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    expired = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    api.get(
        f"{STORAGE}/f-2.json",
        [
            {"status_code": 403, "content": expired},
            {"content": ndjson([event("2024-01-03 10:00:00 +00:00")])},
        ],
    )
    assert runner.read(run, run.query(WINDOW), unit).rows == 2
    relisted = [r for r in api.request_history if r.url.startswith(files_url(41))][1]
    assert relisted.qs["startAfter"] == ["f-1.json"]
    assert api.request_history[-1].qs == {"fresh": ["1"]}


@pytest.mark.parametrize("damage", ["cut", "bad line"])
def test_a_damaged_file_is_downloaded_again(api: requests_mock.Mocker, clock: FakeClock, damage: str) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 51})
    api.get(files_url(51), json=listing("completed", "f-1.json", job=51))
    good = ndjson([event("2024-01-02 10:00:00 +00:00"), event("2024-01-03 10:00:00 +00:00")])
    first: dict[str, Any] = (
        {"exc": requests.exceptions.ChunkedEncodingError("cut")}
        if damage == "cut"
        else {"content": good + b'{"email": \n'}
    )
    api.get(f"{STORAGE}/f-1.json", [first, {"content": good}])
    assert runner.read(run, run.query(WINDOW), unit).rows == 2
    assert len([r for r in api.request_history if r.url.startswith(STORAGE)]) == 2


def test_a_file_that_stays_damaged_fails_the_window_naming_file_and_job(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 52})
    api.get(files_url(52), json=listing("completed", "f-1.json", job=52))
    api.get(f"{STORAGE}/f-1.json", content=b'{"email": \n')
    with pytest.raises(ConnectorError, match=r"f-1\.json.*job 52|job 52.*f-1\.json"):
        runner.read(run, run.query(WINDOW), unit)


def test_in_auto_a_key_refused_by_the_jobs_api_falls_back_to_data_json_with_one_warning(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, status_code=403, json={"msg": "Forbidden", "code": "Forbidden", "params": None})
    api.get(BASE_URL + "/api/export/data.json", content=ndjson([event("2024-01-02 10:00:00 +00:00")]))
    assert runner.read(run, run.query(WINDOW), unit).rows == 1
    assert not runner.ctx.jobs.allowed
    assert [r.levelname for r in caplog.records if "data.json instead" in r.getMessage()] == ["WARNING"]


def test_in_async_a_key_refused_by_the_jobs_api_is_a_config_error(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run, unit, _ = setup(clock, export_api="async")
    api.post(START, status_code=401, json={"msg": "Invalid API key", "code": "BadApiKey", "params": None})
    with pytest.raises(ConnectorError) as raised:
        runner.read(run, run.query(WINDOW), unit)
    assert raised.value.failure_type is FailureType.config_error and "export_api" in raised.value.message


def test_a_stopping_sync_cancels_the_job_it_was_polling(api: requests_mock.Mocker, clock: FakeClock) -> None:
    runner, run, unit, _ = setup(clock)
    api.post(START, json={"jobId": 61})
    api.get(files_url(61), json=listing("running", job=61))
    api.delete(f"{BASE_URL}/api/export/61", json={"msg": "", "code": "Success"})
    polls = iter([False, True])  # the first wait ends normally, the second one is cut short by a stop
    runner._sleep = lambda seconds: next(polls)
    with pytest.raises(Aborted):
        runner.read(run, run.query(WINDOW), unit)
    assert [r.method for r in api.request_history][-1] == "DELETE"


# ------------------------------------------------------------------ jobs an earlier sync left


def test_the_next_sync_reuses_its_job_for_its_first_window_cancels_its_others_and_leaves_foreign_jobs(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a state naming two of our jobs, and a third job of another client in the project
    runner, run, _, _ = setup(clock)
    later = Window(utc(2024, 1, 31), utc(2024, 3, 1))
    state = {
        "email_send": {
            "createdAt": "2024-01-01T00:00:00Z",
            "jobs": [
                {"id": 71, "start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"},
                {"id": 72, "start": "2024-01-31T00:00:00Z", "end": "2024-03-01T00:00:00Z"},
            ],
        }
    }
    api.get(
        BASE_URL + "/api/export/jobs",
        json={"jobs": [{"id": n, "dataTypeName": "emailSend", "jobState": "running"} for n in (71, 72, 99)]},
    )
    api.delete(f"{BASE_URL}/api/export/72", json={"msg": "", "code": "Success"})
    # when the sync adopts them
    runner.adopt([run], state)
    # then job 72 is cancelled, job 99 untouched, and the first window is job 71's, started by nobody
    assert [(r.method, r.url) for r in api.request_history if r.method == "DELETE"] == [
        ("DELETE", f"{BASE_URL}/api/export/72")
    ]
    run.refill(0)
    [unit] = list(run.ready)
    assert unit.lane == JOBS and unit.label == f"window {WINDOW}"
    bound: tuple[Any, ...] = getattr(unit.fetch, "args", ())
    assert bound[-1] == 71
    del later


def test_windows_grow_by_what_was_read_however_many_files_iterable_cut_each_export_into(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given small exports that Iterable cuts into 12 files of one row each (files are at most 10 MB, not
    # exactly 10 MB: a project may get many small ones)
    ctx = context(clock, window_in_days=1, export_api="async")
    runner = JobRunner(ctx, sleep=clock.sleep, clock=clock)
    run = ExportRun(STREAMS_BY_NAME["email_send"], ctx, utc(2024, 1, 1), jobs=runner)
    started = iter(range(500, 600))
    api.post(START, json=lambda request, context: {"jobId": next(started)})
    names = [f"f-{n:02d}.json" for n in range(12)]

    def files(request: Any, context: Any) -> dict[str, Any]:
        page = names[10:] if "startAfter=" in request.url else names[:10]
        return listing("completed", *page, job=int(request.path.split("/")[3]))

    api.get(re.compile(re.escape(BASE_URL) + r"/api/export/\d+/files"), json=files)
    api.get(re.compile(re.escape(STORAGE) + ".*"), content=ndjson([event("2024-01-01 10:00:00 +00:00")]))
    # when three windows are read
    widths = []
    for _ in range(3):
        run.refill(0)
        unit = run.ready.popleft()
        fetched = unit.fetch(unit)
        assert fetched.rows == 12 and fetched.pieces == 1
        run.fetched(unit, fetched)
        fetched.batch.close()
        widths.append(unit.label)
    # then each small window doubles the next one, as with one file each
    assert widths == [
        "window [2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)",
        "window [2024-01-02T00:00:00Z, 2024-01-04T00:00:00Z)",
        "window [2024-01-04T00:00:00Z, 2024-01-08T00:00:00Z)",
    ]
