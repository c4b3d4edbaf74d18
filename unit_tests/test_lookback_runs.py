"""Late-indexed rows across syncs of an export stream (``lookback/stream.py`` in ``readers/exports.py``):
the first window re-reads the lookback span behind the bookmark and delivers only what was not
delivered, on both export paths, for events and users, with a state that says what it knows."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests_mock

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.lookback.digests import STATE_KEY
from source_iterable.readers import Selected, build_runs
from source_iterable.readers.exports import ExportRun
from source_iterable.readers.jobs import JobRunner
from source_iterable.readers.users.fields import GET_FIELDS_PATH

from .builders import (
    BASE_URL,
    EXPORT_URL,
    STORAGE,
    FakeClock,
    config,
    context,
    drive,
    event,
    ndjson,
    query_of,
    utc,
)

T1 = utc(2024, 3, 6, 12)  # the first sync's start (no export lag in these tests)
QUERY_TIME = "%Y-%m-%d %H:%M:%S"


def export_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +00:00")


class Iterable:
    """data.json and export jobs over one list of rows: ``[start, end)`` on the cursor, as Iterable does."""

    def __init__(self, cursor: str = "createdAt") -> None:
        self.rows: list[dict[str, Any]] = []
        self.cursor = cursor
        self.jobs: dict[int, tuple[datetime, datetime]] = {}
        self.windows: list[tuple[str, str]] = []

    def install(self, api: requests_mock.Mocker) -> None:
        api.get(EXPORT_URL, body=self.data_json)
        api.post(BASE_URL + "/api/export/start", json=self.start)
        api.get(requests_mock.ANY, additional_matcher=lambda r: "/files" in r.path, json=self.files)
        api.get(requests_mock.ANY, additional_matcher=lambda r: r.url.startswith(STORAGE), content=self.file)

    def between(self, start: datetime, end: datetime) -> bytes:
        self.windows.append((start.isoformat(), end.isoformat()))
        return ndjson(r for r in self.rows if start <= self.moment(r) < end)

    def moment(self, row: Mapping[str, Any]) -> datetime:
        return datetime.strptime(row[self.cursor], "%Y-%m-%d %H:%M:%S %z")

    def data_json(self, request: Any, context: Any) -> Any:
        query = query_of(request.url)
        return io.BytesIO(self.between(self._time(query["startDateTime"]), self._time(query["endDateTime"])))

    def start(self, request: Any, context: Any) -> dict[str, int]:
        body = request.json()
        job = 100 + len(self.jobs)
        self.jobs[job] = (self._time(body["startDateTime"]), self._time(body["endDateTime"]))
        return {"jobId": job}

    def files(self, request: Any, context: Any) -> dict[str, Any]:
        job = int(request.path.split("/")[3])
        files = [{"file": f"{job}-1.json", "url": f"{STORAGE}/{job}-1.json"}]
        return {"jobId": job, "jobState": "completed", "exportTruncated": False, "files": files}

    def file(self, request: Any, context: Any) -> bytes:
        job = int(request.path.rsplit("/", 1)[1].split("-")[0])
        return self.between(*self.jobs[job])

    @staticmethod
    def _time(text: str) -> datetime:
        return datetime.strptime(text, QUERY_TIME).replace(tzinfo=timezone.utc)


def sync(
    clock: FakeClock,
    started: datetime,
    state: Mapping[str, Any] | None,
    stream: str = "email_send",
    **overrides: Any,
) -> tuple[list[dict[str, Any]], list[Mapping[str, Any]]]:
    """One sync of ``stream`` from ``state``: its records and the STATE after each unit."""
    settings: dict[str, Any] = {"start_date": "2024-03-06T00:00:00Z", "window_in_days": 1, **overrides}
    ctx = context(clock, config(**settings), started=started)
    jobs = JobRunner(ctx, sleep=clock.sleep, clock=clock) if ctx.config.export_api != "sync" else None
    [run] = build_runs([Selected(STREAMS_BY_NAME[stream], True)], ctx, {stream: state} if state else {}, jobs)
    driven = drive(run)
    assert not driven.failures, driven.failures
    return driven.records, driven.states


def sends(*minutes_before: float, start: datetime = T1, prefix: str = "r") -> list[dict[str, Any]]:
    """One email_send row per offset (in minutes before ``start``), each its own message."""
    return [
        event(export_time(start - timedelta(minutes=m)), messageId=f"{prefix}{n}", campaignId=n)
        for n, m in enumerate(minutes_before)
    ]


def ids(records: list[dict[str, Any]]) -> list[str]:
    return sorted(r["messageId"] for r in records)


@pytest.mark.parametrize("export_api", ["sync", "async"])
def test_rows_indexed_late_behind_the_bookmark_arrive_once_and_nothing_arrives_twice(
    api: requests_mock.Mocker, clock: FakeClock, export_api: str
) -> None:
    # given a first sync of rows up to its start, some in its last hour
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(200, 50, 20, 1)
    first, states = sync(clock, T1, None, export_api=export_api)
    # when rows of the last 55 minutes before its bookmark become visible, and new rows arrive
    iterable.rows += sends(55, 30, 30, 0.5, prefix="late") + sends(-10, -25, prefix="new")
    t2 = T1 + timedelta(minutes=30)
    second, states2 = sync(clock, t2, states[-1], export_api=export_api)
    third, _ = sync(clock, t2 + timedelta(minutes=1), states2[-1], export_api=export_api)
    # then the first sync had its rows, the second only the late and the new ones, the third nothing
    assert ids(first) == ["r0", "r1", "r2", "r3"]
    assert ids(second) == ["late0", "late1", "late2", "late3", "new0", "new1"]
    assert third == []


def test_the_re_read_is_folded_into_the_first_window_and_asks_nothing_more(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(10)
    _, states = sync(clock, T1, None, export_api="sync")
    iterable.windows.clear()
    sync(clock, T1 + timedelta(hours=2), states[-1], export_api="sync")
    # one request: from 60 minutes before the bookmark to the new upper bound
    assert iterable.windows == [
        ((T1 - timedelta(hours=1)).isoformat(), (T1 + timedelta(hours=2)).isoformat())
    ]


def test_each_state_carries_the_digests_of_the_rows_delivered_in_the_hour_behind_its_bookmark(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(90, 59, 59, 1)
    _, states = sync(clock, T1, None, export_api="sync")
    state = states[-1]
    assert state["createdAt"] == "2024-03-06T12:00:00Z"
    # 11:01 holds the two rows of that minute, 11:59 the last one; the one at 10:30 is behind the span
    assert state[STATE_KEY]["from"] == "2024-03-06T11:00:00Z"
    assert {k: len(v) for k, v in state[STATE_KEY]["digests"].items()} == {
        "2024-03-06T11:01:00Z": 24,  # base64 of 2 x 8 bytes
        "2024-03-06T11:59:00Z": 12,
    }


def test_a_sync_resumed_from_a_state_after_its_first_window_delivers_each_row_once(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given a first sync, then late and new rows, then a second sync in 3 windows of a day
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(120, 40, 5)
    _, states = sync(clock, T1, None, export_api="sync")
    day = timedelta(days=1)
    iterable.rows += sends(45, 3, prefix="late") + [
        event(export_time(T1 + after), messageId=f"new{n}")
        for n, after in enumerate(
            [
                timedelta(hours=1),
                day - timedelta(minutes=10),
                day + timedelta(hours=6),
                2 * day + timedelta(hours=20),
            ]
        )
    ]
    t2 = T1 + 3 * day
    whole, states2 = sync(clock, t2, states[-1], export_api="sync", adaptive_windows=False)
    assert [s["createdAt"] for s in states2] == [
        "2024-03-07T12:00:00Z",
        "2024-03-08T12:00:00Z",
        "2024-03-09T12:00:00Z",
    ]
    # when it is killed after its first window and resumed from that STATE (which re-reads new1's hour)
    printed = [r for r in whole if r["createdAt"] < "2024-03-07T12:00:00Z"]
    resumed, _ = sync(clock, t2 + timedelta(minutes=5), states2[0], export_api="sync")
    # then the killed sync's printed windows and the resumed sync make each row once
    assert ids(printed + resumed) == ids(whole)
    assert ids(whole) == ["late0", "late1", "new0", "new1", "new2", "new3"]
    assert ids(resumed) == ["new2", "new3"]


def test_users_a_profile_read_again_unchanged_is_not_delivered_a_changed_one_is(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given two profiles updated in the hour before the first sync
    api.get(BASE_URL + GET_FIELDS_PATH, json={"fields": {"email": "string", "profileUpdatedAt": "date"}})
    iterable = Iterable(cursor="profileUpdatedAt")
    iterable.install(api)
    stamp = export_time(T1 - timedelta(minutes=10))
    iterable.rows = [
        {"email": "same@example.com", "profileUpdatedAt": stamp, "city": "Austin"},
        {"email": "moved@example.com", "profileUpdatedAt": stamp, "city": "Lisbon"},
    ]
    first, states = sync(clock, T1, None, stream="users", export_api="sync")
    # when one of them changes without a new profileUpdatedAt second (a field indexed late)
    iterable.rows[1] = {**iterable.rows[1], "city": "Porto"}
    second, _ = sync(clock, T1 + timedelta(minutes=20), states[-1], stream="users", export_api="sync")
    # then only the changed profile is delivered again, as it is now
    assert [r["email"] for r in first] == ["same@example.com", "moved@example.com"]
    assert second == [
        {"email": "moved@example.com", "profileUpdatedAt": "2024-03-06T11:50:00Z", "city": "Porto"}
    ]


def test_a_state_from_before_this_release_re_reads_nothing_this_time_and_collects_for_the_next(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(30, prefix="old") + sends(-5, prefix="new")
    records, states = sync(
        clock, T1 + timedelta(minutes=10), {"createdAt": "2024-03-06T12:00:00Z"}, export_api="sync"
    )
    assert iterable.windows == [(T1.isoformat(), (T1 + timedelta(minutes=10)).isoformat())]
    assert ids(records) == ["new0"] and STATE_KEY in states[-1]


def test_lookback_zero_neither_re_reads_nor_keeps_digests(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(10)
    _, states = sync(clock, T1, None, export_api="sync")
    iterable.rows += sends(20, prefix="late")
    late, states2 = sync(clock, T1 + timedelta(minutes=5), states[-1], export_api="sync", lookback_minutes=0)
    assert late == [] and states2 == [{"createdAt": "2024-03-06T12:05:00Z"}]


def test_a_full_refresh_keeps_no_digests(clock: FakeClock) -> None:
    ctx = context(clock, config(start_date="2024-03-06T00:00:00Z"), started=T1)
    [run] = build_runs([Selected(STREAMS_BY_NAME["email_send"], False)], ctx, {})
    assert isinstance(run, ExportRun) and run.lookback is None


def test_an_unusable_lookback_part_is_said_and_nothing_is_re_read(
    api: requests_mock.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    iterable = Iterable()
    iterable.install(api)
    state = {
        "createdAt": "2024-03-06T12:00:00Z",
        STATE_KEY: {"from": "2024-03-06T11:00:00Z", "digests": {"x": "y"}},
    }
    sync(clock, T1 + timedelta(minutes=10), state, export_api="sync")
    assert iterable.windows == [(T1.isoformat(), (T1 + timedelta(minutes=10)).isoformat())]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "stream 'email_send'" in warning
        and "lookback" in warning
        and "reads nothing behind the bookmark" in warning
    )


def test_the_plan_says_what_the_first_window_reads_again(api: requests_mock.Mocker, clock: FakeClock) -> None:
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(10)
    _, states = sync(clock, T1, None, export_api="sync")
    ctx = context(
        clock, config(start_date="2024-03-06T00:00:00Z", export_api="sync"), started=T1 + timedelta(hours=1)
    )
    [run] = build_runs([Selected(STREAMS_BY_NAME["email_send"], True)], ctx, {"email_send": states[-1]})
    assert "reads the 60 minutes before the bookmark again" in run.plan().summary


def test_past_the_cap_a_warning_names_the_stream_and_how_far_the_next_re_read_reaches(
    api: requests_mock.Mocker,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a cap of 3 digests and 5 rows in 5 different minutes of the last hour
    from source_iterable.lookback import stream as lookback_stream

    monkeypatch.setattr(lookback_stream, "MAX_DIGESTS", 3)
    iterable = Iterable()
    iterable.install(api)
    iterable.rows = sends(50, 40, 30, 20, 10)
    _, states = sync(clock, T1, None, export_api="sync")
    # then the state keeps the 3 newest minutes, and says the next re-read reaches 30 minutes back
    assert states[-1][STATE_KEY]["from"] == "2024-03-06T11:30:00Z"
    assert len(states[-1][STATE_KEY]["digests"]) == 3
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "stream 'email_send'" in warning and "more than 3 rows" in warning
    assert (
        "reads again only from 2024-03-06T11:30:00Z (30 minutes before its bookmark) instead of 60" in warning
    )
    # and the next sync re-reads from there only: a row indexed late 45 minutes back is not read again
    iterable.rows += sends(45, prefix="late")
    iterable.windows.clear()
    late, _ = sync(clock, T1 + timedelta(minutes=5), states[-1], export_api="sync")
    assert late == [] and iterable.windows[0][0] == "2024-03-06T11:30:00+00:00"
