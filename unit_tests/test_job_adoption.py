"""Jobs an earlier sync left behind (``readers/job_adoption.py``), and the intents that name a job before
its id is known (``job_states``, ``readers/exports.py``): which listed job an intent started, what is
cancelled, and that another client's job is never touched."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests_mock

from source_iterable.api.errors import ConnectorError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.engine.lanes import JOBS
from source_iterable.engine.units import EMPTY, Fetched, Unit
from source_iterable.readers.exports import ExportRun
from source_iterable.readers.job_adoption import INTENT_TOLERANCE, ListedJob, claim, listed_jobs
from source_iterable.readers.job_states import JobIntent, JobStarted, JobState, recorded_intents
from source_iterable.readers.jobs import JobRunner
from source_iterable.windows import Window

from .builders import BASE_URL, FakeClock, config, context, utc

AT = utc(2026, 12, 6, 21, 0, 0)
WINDOW = Window(utc(2024, 1, 1), utc(2024, 1, 31))
JOBS_URL = BASE_URL + "/api/export/jobs"


def intent(at: datetime = AT, data_type: str = "emailSend") -> JobIntent:
    return JobIntent(data_type, WINDOW, at)


def job(
    job_id: int, seconds_after: float, data_type: str = "emailSend", state: JobState = JobState.RUNNING
) -> ListedJob:
    return ListedJob(job_id, data_type, state, AT + timedelta(seconds=seconds_after))


# ------------------------------------------------------------------ pure: which job an intent started


def test_an_intent_takes_the_job_of_its_type_scheduled_nearest_to_it() -> None:
    # given our job scheduled 0.2 s after the intent and another client's of the same type 3 s before
    found = claim([intent()], [job(1, -3), job(2, 0.2)])
    # then ours is taken and the other one is not
    assert [j.id for _, j in found] == [2]


def test_each_intent_takes_one_job_and_each_job_one_intent() -> None:
    # given two windows started a second apart, and their two jobs
    first, second = intent(AT), intent(AT + timedelta(seconds=1))
    found = claim([first, second], [job(7, 1.1), job(8, 0.05), job(9, 2.5)])
    assert {(i.at, j.id) for i, j in found} == {(first.at, 8), (second.at, 7)}


def test_an_intent_takes_no_job_of_another_type_or_outside_the_tolerance() -> None:
    far = INTENT_TOLERANCE.total_seconds() + 0.5
    assert claim([intent()], [job(1, 0.1, "emailOpen"), job(2, far), job(3, -far)]) == []


def test_the_type_is_matched_as_iterable_matches_it() -> None:
    assert [
        j.id for _, j in claim([intent(data_type="emailUnSubscribe")], [job(4, 0.3, "emailUnsubscribe")])
    ] == [4]


def test_a_job_a_state_names_by_id_is_not_taken_for_an_intent() -> None:
    assert claim([intent()], [job(5, 0.1)], named=frozenset({5})) == []


def test_a_job_of_ours_that_already_ended_still_takes_its_intent_s_turn() -> None:
    # so that another client's running job nearby is not taken in its place
    found = claim([intent()], [job(6, 0.1, state=JobState.COMPLETED), job(60, 1.5)])
    assert [j.id for _, j in found] == [6]


def test_the_listing_is_read_as_values_and_what_cannot_be_read_is_skipped() -> None:
    payload = {
        "jobs": [
            {
                "id": 3562,
                "dataTypeName": "user",
                "jobState": "Running",
                "scheduledStartTime": "2023-12-19T10:12:27.732-06:00",
            },
            {"id": "x", "dataTypeName": "user"},
            {"id": 3563, "jobState": "enqueued"},
        ]
    }
    assert listed_jobs(payload) == [
        ListedJob(3562, "user", JobState.RUNNING, datetime.fromisoformat("2023-12-19T16:12:27.732+00:00")),
        ListedJob(3563, "", JobState.QUEUED, None),
    ]


def test_recorded_intents_read_what_a_state_wrote_and_skip_what_they_cannot() -> None:
    state = {
        "createdAt": "2024-01-01T00:00:00Z",
        "intents": [
            {
                "dataTypeName": "emailSend",
                "at": "2026-12-06T21:00:00Z",
                "start": "2024-01-01T00:00:00Z",
                "end": "2024-01-31T00:00:00Z",
            },
            {"dataTypeName": "emailSend"},
            {"at": "2026-12-06T21:00:00Z"},
            "nonsense",
        ],
    }
    assert recorded_intents(state) == [intent()]
    assert recorded_intents({"createdAt": "2024-01-01T00:00:00Z"}) == []


# ------------------------------------------------------------------ the run's state names intents until the id


def unit(index: int) -> Unit:
    made = Unit(
        "email_send",
        JOBS,
        f"window {WINDOW}",
        lambda u: Fetched(EMPTY),
        {"createdAt": "2024-01-31T00:00:00Z"},
    )
    made.index = index
    return made


def test_an_intent_is_in_the_state_until_its_job_id_replaces_it(clock: FakeClock) -> None:
    run = ExportRun(STREAMS_BY_NAME["email_send"], context(clock, config()), utc(2024, 1, 1))
    announced = run.noticed(unit(0), intent())
    started = run.noticed(unit(0), JobStarted(3562, WINDOW))
    window = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"}
    assert announced == {
        "createdAt": "2024-01-01T00:00:00Z",
        "intents": [{"dataTypeName": "emailSend", "at": "2026-12-06T21:00:00Z", **window}],
    }
    assert started == {"createdAt": "2024-01-01T00:00:00Z", "jobs": [{"id": 3562, **window}]}


def test_an_intent_whose_unit_ended_without_a_job_is_dropped(clock: FakeClock) -> None:
    run = ExportRun(STREAMS_BY_NAME["email_send"], context(clock, config()), utc(2024, 1, 1))
    run.noticed(unit(0), intent())
    run.noticed(unit(1), intent(AT + timedelta(seconds=1)))
    run.failed(unit(0), ConnectorError("start failed", FailureType.transient_error))
    assert [i["at"] for i in run.final_state()["intents"]] == ["2026-12-06T21:00:01Z"]  # type: ignore[index]
    run.fetched(unit(1), Fetched(EMPTY))
    assert "intents" not in (run.final_state() or {})


# ------------------------------------------------------------------ adoption at the start of a sync


def adopting(clock: FakeClock, state: dict[str, Any]) -> tuple[JobRunner, ExportRun]:
    ctx = context(clock, config(export_api="async"))
    runner = JobRunner(ctx, sleep=clock.sleep, clock=clock)
    run = ExportRun(STREAMS_BY_NAME["email_send"], ctx, utc(2024, 1, 1), jobs=runner, previous=state)
    return runner, run


def listing(*entries: tuple[int, str, str, float]) -> dict[str, Any]:
    return {
        "jobs": [
            {
                "id": n,
                "dataTypeName": kind,
                "jobState": state,
                "scheduledStartTime": (AT + timedelta(seconds=s)).isoformat(),
            }
            for n, kind, state, s in entries
        ]
    }


def deleted(api: requests_mock.Mocker) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in api.request_history if r.method == "DELETE"]


def test_the_job_of_an_intent_is_cancelled_and_another_client_s_is_left_alone(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a state with an intent only (killed before the job's id was printed), our job 0.4 s after it,
    # another client's job of the same type 30 s before, and one of another type at the same moment
    state = {
        "createdAt": "2024-01-01T00:00:00Z",
        "intents": [
            {
                "dataTypeName": "emailSend",
                "at": "2026-12-06T21:00:00Z",
                "start": "2024-01-01T00:00:00Z",
                "end": "2024-01-31T00:00:00Z",
            }
        ],
    }
    runner, run = adopting(clock, state)
    api.get(
        JOBS_URL,
        json=listing(
            (71, "emailSend", "running", 0.4),
            (90, "emailSend", "running", -30),
            (91, "emailOpen", "enqueued", 0.4),
        ),
    )
    api.delete(requests_mock.ANY, json={"msg": "", "code": "Success"})
    # when the sync adopts
    runner.adopt([run], {"email_send": state})
    # then only our job is cancelled, and it is not reused (its window cannot be checked)
    assert deleted(api) == ["71"]
    run.refill(0)
    bound: tuple[Any, ...] = getattr(run.ready[0].fetch, "args", ())
    assert bound[-1] is None


def test_an_intent_whose_job_already_completed_cancels_nothing(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    state = {
        "createdAt": "2024-01-01T00:00:00Z",
        "intents": [{"dataTypeName": "emailSend", "at": "2026-12-06T21:00:00Z"}],
    }
    runner, run = adopting(clock, state)
    api.get(JOBS_URL, json=listing((72, "emailSend", "completed", 0.1), (92, "emailSend", "running", 2.0)))
    runner.adopt([run], {"email_send": state})
    assert deleted(api) == []


def test_without_jobs_or_intents_in_the_state_nothing_is_listed(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    runner, run = adopting(clock, {"createdAt": "2024-01-01T00:00:00Z"})
    runner.adopt([run], {"email_send": {"createdAt": "2024-01-01T00:00:00Z"}})
    assert api.call_count == 0


def test_a_listing_that_fails_leaves_every_job_alone(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = {
        "createdAt": "2024-01-01T00:00:00Z",
        "intents": [{"dataTypeName": "emailSend", "at": "2026-12-06T21:00:00Z"}],
    }
    runner, run = adopting(clock, state)
    api.get(JOBS_URL, status_code=400, json={"msg": "bad", "code": "BadParams", "params": None})
    runner.adopt([run], {"email_send": state})
    assert deleted(api) == [] and any("leaving them be" in r.getMessage() for r in caplog.records)
