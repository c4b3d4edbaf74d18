"""``readers/exports.py``: export windows, their requests, splitting, adaptive sizing, the export path,
and the STATE each window leaves (bookmark and export jobs), driven by hand and through the engine."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import requests_mock

from source_iterable.api.client import HttpSettings
from source_iterable.api.errors import ApiError, FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.config import IterableConfig
from source_iterable.engine.lanes import EXPORT, JOBS
from source_iterable.engine.units import EMPTY, Fetched, Unit
from source_iterable.readers import Selected, build_runs
from source_iterable.readers.context import SyncContext
from source_iterable.readers.data_json import ATTEMPTS_BEFORE_SPLIT
from source_iterable.readers.exports import ExportRun, uses_jobs
from source_iterable.readers.job_states import JobStarted
from source_iterable.readers.jobs import JobRunner
from source_iterable.windows import LARGE_BYTES, LARGE_ROWS, SMALL_ROWS, Window

from .builders import (
    BAD_API_KEY_BODY,
    BASE_URL,
    EXPORT_URL,
    GENERIC_ERROR_BODY,
    NOW,
    RATE_LIMITED_BODY,
    STORAGE,
    CutBody,
    FakeClock,
    config,
    context,
    error_traces,
    iterable_config,
    kinds_of,
    lines_of,
    ndjson,
    open_files_in,
    query_of,
    records_of,
    run_engine,
    states_of,
    utc,
)

# The fact sheet's email_send rows (5.9), plus one in the morning of the same day.
MORNING_SEND = {
    "email": "ana.silva@example.com",
    "messageTypeId": 52001,
    "templateId": 9102233,
    "messageId": "11112222333344445555666677778888",
    "createdAt": "2024-03-06 09:00:00 +00:00",
    "campaignId": 7012345,
    "channelId": 41001,
    "contentId": 15002233,
}
SEND = {
    "email": "jane.doe@example.com",
    "messageTypeId": 52001,
    "catalogLookupCount": 0,
    "templateId": 9102233,
    "messageBusId": "0100018e1a2b3c4d-5e6f7a8b-1234-4cde-9abc-0123456789ab-000000",
    "messageId": "9f1c2e7a4b3d4e5f8a9b0c1d2e3f4a5b",
    "createdAt": "2024-03-06 15:46:40 +00:00",
    "catalogCollectionCount": 0,
    "campaignId": 7012345,
    "channelId": 41001,
    "productRecommendationCount": 0,
    "contentId": 15002233,
}
SEND_WITH_PAYLOAD = {
    "email": "raj.k@example.org",
    "userId": "u-300112",
    "messageTypeId": 52002,
    "templateId": 9103000,
    "messageId": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "createdAt": "2024-03-06 15:47:02 +00:00",
    "campaignId": 7013000,
    "channelId": 41002,
    "contentId": 15003000,
    "catalogCollectionCount": 0,
    "catalogLookupCount": 1,
    "productRecommendationCount": 0,
    "transactionalData": '{"orderId":"A-1001","total":59.9}',
}
SENDS = [MORNING_SEND, SEND, SEND_WITH_PAYLOAD]
# The fact sheet's users rows (5.8).
USERS: list[dict[str, Any]] = [
    {
        "email": "jane.doe@example.com",
        "userId": "u-100045",
        "signupDate": "2022-11-03 09:14:22 +00:00",
        "signupSource": "Import",
        "profileUpdatedAt": "2024-03-06 18:02:45 +00:00",
        "emailListIds": [3301122],
        "itblInternal.emailDomain": "example.com",
        "firstName": "Jane",
        "favoriteCategory": "running",
        "isVip": False,
    },
    {
        "email": "lee@example.net",
        "userId": "u-200981",
        "signupDate": "2023-06-01 00:00:03 +00:00",
        "signupSource": "ListAPI",
        "profileUpdatedAt": "2024-03-06 07:30:00 +00:00",
        "itblInternal.emailDomain": "example.net",
        "Industry": "Retail",
        "industry": "retail",
        "offers.Intro APR": [0, 0],
        "offers.intro APR": [19],
    },
]
DAY = Window(utc(2024, 3, 6), utc(2024, 3, 7))
QUERY_TIME = "%Y-%m-%d %H:%M:%S"


def three_day_config(**overrides: Any) -> IterableConfig:
    """Start 2024-03-01, 3-day fixed windows, the default 5-minute lag: the upper bound is 11:55 at NOW."""
    return iterable_config(window_in_days=3, adaptive_windows=False, **overrides)


def export_run(
    ctx: SyncContext,
    name: str = "email_send",
    lower: datetime | None = None,
    parallel: int = 1,
    jobs: Any = None,
) -> ExportRun:
    return ExportRun(STREAMS_BY_NAME[name], ctx, lower or ctx.config.start_date, parallel, jobs)


def three_day_run(clock: FakeClock, name: str = "email_send", **kwargs: Any) -> ExportRun:
    settings = kwargs.pop("settings", None)
    return export_run(context(clock, three_day_config(), settings=settings), name, **kwargs)


def fetch_window(run: ExportRun, window: Window) -> Fetched:
    """What a worker does with a data.json unit of ``window``."""
    unit = Unit(run.name, EXPORT, f"window {window}", partial(run.fetch_sync, window), {"createdAt": "x"})
    return unit.fetch(unit)


def read_window(run: ExportRun, window: Window) -> list[dict[str, Any]]:
    fetched = fetch_window(run, window)
    try:
        return lines_of(fetched.batch.blocks())
    finally:
        fetched.batch.close()


def tail_state(end: str, **digests: str) -> dict[str, Any]:
    """The STATE after a window ending at ``end`` (lookback 60 minutes): its bookmark, and the digests of
    the rows it delivered in the hour before it (none unless given, by minute)."""
    since = datetime.fromisoformat(end.replace("Z", "+00:00")) - timedelta(hours=1)
    return {"createdAt": end, "lookback": {"from": f"{since:%Y-%m-%dT%H:%M:%SZ}", "digests": digests}}


def windows_of(units: Iterable[Unit]) -> list[str]:
    return [unit.label.removeprefix("window ") for unit in units]


def transformed_sends(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What docs/design.md says email_send emits for these rows."""
    out = []
    for row in rows:
        record = dict(row)
        record["createdAt"] = row["createdAt"][:10] + "T" + row["createdAt"][11:19] + "Z"
        if "transactionalData" in record:
            record["transactionalData"] = orjson.loads(row["transactionalData"])
        out.append(record)
    return out


class ExportServer:
    """``/api/export/data.json`` as Iterable serves it: the rows with ``start <= cursor < end``.

    ``fails(start, end)`` makes a window answer 500 GenericError; ``cut_first`` breaks the first
    good body mid-stream. Every requested window is recorded as its two query strings.
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        cursor: str = "createdAt",
        fails: Callable[[datetime, datetime], bool] = lambda start, end: False,
        cut_first: bool = False,
    ) -> None:
        self.rows = rows
        self.cursor = cursor
        self.fails = fails
        self.cut_next = cut_first
        self.windows: list[tuple[str, str]] = []

    def __call__(self, request: Any, context: Any) -> io.IOBase:
        query = query_of(request.url)
        self.windows.append((query["startDateTime"], query["endDateTime"]))
        start = datetime.strptime(query["startDateTime"], QUERY_TIME).replace(tzinfo=timezone.utc)
        end = datetime.strptime(query["endDateTime"], QUERY_TIME).replace(tzinfo=timezone.utc)
        if self.fails(start, end):
            context.status_code = 500
            return io.BytesIO(orjson.dumps(GENERIC_ERROR_BODY))
        body = ndjson(row for row in self.rows if start <= self._moment(row) < end)
        if self.cut_next:
            self.cut_next = False
            return CutBody(body[: len(body) // 2 + 1])
        return io.BytesIO(body)

    def _moment(self, row: Mapping[str, Any]) -> datetime:
        return datetime.strptime(row[self.cursor], "%Y-%m-%d %H:%M:%S %z")


class NoJobs:
    """A stand-in job runner: its presence lets a run plan job units; none is fetched here."""

    def read(self, target: Any, query: Any, unit: Unit, reused: int | None = None) -> Fetched:
        raise AssertionError("no job is fetched in this test")


# ------------------------------------------------------------------ windows and their boundaries


def test_fixed_windows_run_from_start_date_to_now_minus_the_lag(clock: FakeClock) -> None:
    # given 3-day windows from 2024-03-01 at 2024-03-10 12:00 with a 5-minute lag, four at a time
    run = three_day_run(clock, parallel=4)

    # when the run plans
    run.refill(0)

    # then the windows are contiguous, half open, the last one cut at now minus the lag
    assert windows_of(run.ready) == [
        "[2024-03-01T00:00:00Z, 2024-03-04T00:00:00Z)",
        "[2024-03-04T00:00:00Z, 2024-03-07T00:00:00Z)",
        "[2024-03-07T00:00:00Z, 2024-03-10T00:00:00Z)",
        "[2024-03-10T00:00:00Z, 2024-03-10T11:55:00Z)",
    ]
    assert [unit.checkpoint for unit in run.ready] == [
        {"createdAt": "2024-03-04T00:00:00Z"},
        {"createdAt": "2024-03-07T00:00:00Z"},
        {"createdAt": "2024-03-10T00:00:00Z"},
        {"createdAt": "2024-03-10T11:55:00Z"},
    ]
    assert [unit.index for unit in run.ready] == [0, 1, 2, 3]
    assert run.planning_done()


def test_no_more_windows_are_planned_than_may_be_outstanding(clock: FakeClock) -> None:
    run = three_day_run(clock, parallel=2)

    run.refill(0)
    assert len(run.ready) == 2 and not run.planning_done()
    run.refill(2)
    assert len(run.ready) == 2
    run.ready.popleft()
    run.refill(1)
    assert windows_of(run.ready)[-1] == "[2024-03-07T00:00:00Z, 2024-03-10T00:00:00Z)"


def test_windows_start_at_the_bookmark_when_there_is_state(clock: FakeClock) -> None:
    # given an incremental sync whose state is in the middle of a window
    ctx = context(clock, three_day_config())
    state = {"email_send": {"createdAt": "2024-03-08T06:30:00Z"}}

    [run] = build_runs([Selected(STREAMS_BY_NAME["email_send"], True)], ctx, state)

    assert isinstance(run, ExportRun)
    run.refill(0)
    assert windows_of(run.ready) == ["[2024-03-08T06:30:00Z, 2024-03-10T11:55:00Z)"]


def test_full_refresh_ignores_the_bookmark(clock: FakeClock) -> None:
    ctx = context(clock, three_day_config())
    state = {"email_send": {"createdAt": "2024-03-08T06:30:00Z"}}

    [run] = build_runs([Selected(STREAMS_BY_NAME["email_send"], False)], ctx, state)

    run.refill(0)
    assert windows_of(run.ready)[0] == "[2024-03-01T00:00:00Z, 2024-03-04T00:00:00Z)"


@pytest.mark.parametrize("bookmark", ["2024-03-10T11:55:00Z", "2024-03-10T11:59:00Z", "2025-01-01T00:00:00Z"])
def test_no_windows_when_the_state_is_at_or_past_the_upper_bound(
    api: requests_mock.Mocker, clock: FakeClock, bookmark: str
) -> None:
    ctx = context(clock, three_day_config())
    [run] = build_runs(
        [Selected(STREAMS_BY_NAME["email_send"], True)], ctx, {"email_send": {"createdAt": bookmark}}
    )
    assert isinstance(run, ExportRun)

    driven = drive_run(run)

    assert api.call_count == 0 and driven == ([], [])
    assert run.planning_done()
    assert run.final_state() == {"createdAt": bookmark}
    assert run.plan().summary.startswith("nothing to read") and run.plan().requests == {}


def test_a_bookmark_in_another_accepted_form_is_written_back_in_rfc3339(clock: FakeClock) -> None:
    ctx = context(clock, three_day_config())
    state = {"email_send": {"createdAt": "2024-03-10 11:55:00 +00:00"}}

    [run] = build_runs([Selected(STREAMS_BY_NAME["email_send"], True)], ctx, state)

    assert run.final_state() == {"createdAt": "2024-03-10T11:55:00Z"}


def drive_run(run: ExportRun) -> tuple[list[dict[str, Any]], list[Mapping[str, Any]]]:
    """Every window fetched in order on this thread: the records and the STATE after each window."""
    records: list[dict[str, Any]] = []
    states: list[Mapping[str, Any]] = []
    while True:
        run.refill(len(run.ready))
        if not run.ready:
            return records, states
        unit = run.ready.popleft()
        fetched = unit.fetch(unit)
        run.fetched(unit, fetched)
        records += lines_of(fetched.batch.blocks())
        fetched.batch.close()
        checkpoint = run.state_after(unit)
        assert checkpoint is not None
        states.append(checkpoint)


def test_adaptive_windows_are_contiguous_and_cover_the_range_exactly(clock: FakeClock) -> None:
    # given windows sized by random feedback
    run = export_run(context(clock, config(window_in_days=2)))
    feedback = random.Random(11)
    planned: list[Window] = []

    # when every window is planned after the one before it was fetched
    while True:
        run.refill(len(run.ready))
        if not run.ready:
            break
        unit = run.ready.popleft()
        start, end = unit.label.removeprefix("window [").removesuffix(")").split(", ")
        planned.append(Window(datetime.fromisoformat(start), datetime.fromisoformat(end)))
        rows = feedback.choice([0, 10, 60_000, 2_000_000])
        run.fetched(unit, Fetched(EMPTY, rows=rows, body_bytes=rows * 100))

    # then they start at the lower bound, end at the upper bound, and meet without gap or overlap
    assert planned[0].start == utc(2024, 1, 1) and planned[-1].end == NOW
    assert all(a.end == b.start for a, b in pairwise(planned))
    assert len({w.width for w in planned}) > 1
    assert run.planning_done()


# ------------------------------------------------------------------ adaptive window sizing


def test_each_window_is_sized_by_what_the_one_before_held(clock: FakeClock) -> None:
    # given 1-day windows from 2024-01-01, one at a time
    run = export_run(context(clock, config(window_in_days=1)))
    feedback = [
        Fetched(EMPTY, rows=0),  # empty: x4
        Fetched(EMPTY, rows=100, body_bytes=10_000),  # small: x2
        Fetched(EMPTY, rows=LARGE_ROWS + 1),  # large: /2
        Fetched(EMPTY, rows=100, pieces=2),  # split: /2
        Fetched(EMPTY, rows=100, truncated=True),  # truncated: /2
        Fetched(EMPTY, rows=SMALL_ROWS, body_bytes=1),  # between small and large: kept
        Fetched(EMPTY, rows=10, body_bytes=LARGE_BYTES + 1),  # large in bytes: /2
    ]
    planned = []

    # when each window is fetched with that feedback
    for fetched in feedback:
        run.refill(0)
        unit = run.ready.popleft()
        planned.append(unit.label.removeprefix("window "))
        run.fetched(unit, fetched)
    run.refill(0)
    planned.append(run.ready.popleft().label.removeprefix("window "))

    # then each width follows the rule
    assert planned == [
        "[2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)",
        "[2024-01-02T00:00:00Z, 2024-01-06T00:00:00Z)",
        "[2024-01-06T00:00:00Z, 2024-01-14T00:00:00Z)",
        "[2024-01-14T00:00:00Z, 2024-01-18T00:00:00Z)",
        "[2024-01-18T00:00:00Z, 2024-01-20T00:00:00Z)",
        "[2024-01-20T00:00:00Z, 2024-01-21T00:00:00Z)",
        "[2024-01-21T00:00:00Z, 2024-01-22T00:00:00Z)",
        "[2024-01-22T00:00:00Z, 2024-01-22T12:00:00Z)",
    ]


def test_with_adaptive_windows_off_every_window_has_the_configured_width(clock: FakeClock) -> None:
    run = export_run(context(clock, config(window_in_days=1, adaptive_windows=False)))

    for _ in range(4):
        run.refill(0)
        run.fetched(run.ready.popleft(), Fetched(EMPTY, rows=0))
    run.refill(0)

    assert windows_of(run.ready) == ["[2024-01-05T00:00:00Z, 2024-01-06T00:00:00Z)"]


def test_the_plan_names_the_path_the_windows_and_the_requests(clock: FakeClock) -> None:
    adaptive = three_day_run(clock)
    fixed = export_run(context(clock, three_day_config()))
    adaptive_ctx = context(clock, iterable_config(window_in_days=3))
    by_jobs = export_run(adaptive_ctx, jobs=NoJobs())

    assert fixed.plan().summary == (
        "up to 4 data.json windows of 3 days from 2024-03-01T00:00:00Z to 2024-03-10T11:55:00Z"
    )
    assert fixed.plan().requests == {EXPORT: 4}
    assert adaptive.plan().requests == {EXPORT: 4}
    assert by_jobs.plan().summary == (
        "up to 4 export jobs of 3 days from 2024-03-01T00:00:00Z to 2024-03-10T11:55:00Z, "
        "fewer if the windows grow"
    )
    assert by_jobs.plan().requests == {JOBS: 8}


# ------------------------------------------------------------------ the export path


@pytest.mark.parametrize(
    ("export_api", "days", "allowed", "expected"),
    [
        ("async", 1, True, True),
        ("async", 1, False, True),
        ("sync", 90, True, False),
        ("auto", 90, True, True),
        ("auto", 90, False, False),
        ("auto", 30, True, False),
        ("auto", 29, True, False),
        ("auto", 31, True, True),
    ],
)
def test_uses_jobs_for_backfills_and_catch_ups_only_in_auto(
    export_api: str, days: int, allowed: bool, expected: bool
) -> None:
    # given a 30-day window and a range of `days` to read
    lower = utc(2024, 1, 1)
    assert uses_jobs(export_api, lower, lower + timedelta(days=days), timedelta(days=30), allowed) is expected


def test_a_backfill_in_auto_goes_to_the_jobs_lane_and_a_recent_window_to_data_json(clock: FakeClock) -> None:
    # given the default 30-day window
    backfill = export_run(context(clock, config()), jobs=NoJobs())
    recent = export_run(context(clock, config()), lower=utc(2024, 3, 1), jobs=NoJobs())

    backfill.refill(0)
    recent.refill(0)

    assert [unit.lane for unit in backfill.ready] == [JOBS]
    assert [unit.lane for unit in recent.ready] == [EXPORT]


def test_without_a_job_runner_every_window_goes_through_data_json(clock: FakeClock) -> None:
    run = export_run(context(clock, config(export_api="async")), parallel=3)

    run.refill(0)

    assert not run.use_jobs and {unit.lane for unit in run.ready} == {EXPORT}


def test_once_the_jobs_api_refused_the_key_later_windows_go_through_data_json(clock: FakeClock) -> None:
    ctx = context(clock, config())
    run = export_run(ctx, parallel=1, jobs=NoJobs())
    run.refill(0)
    ctx.jobs.refuse(ApiError("refused", FailureType.config_error, 403, False))

    run.ready.popleft()
    run.refill(0)

    assert [unit.lane for unit in run.ready] == [EXPORT]


def test_build_runs_shares_the_export_lane_between_the_export_streams(clock: FakeClock) -> None:
    ctx = context(clock, config())
    one = build_runs([Selected(STREAMS_BY_NAME["email_send"], True)], ctx, {})
    three = build_runs(
        [Selected(STREAMS_BY_NAME[name], True) for name in ("email_send", "email_open", "email_click")],
        ctx,
        {},
    )

    assert [run.parallel for run in one if isinstance(run, ExportRun)] == [4]
    assert [run.parallel for run in three if isinstance(run, ExportRun)] == [1, 1, 1]


# ------------------------------------------------------------------ request parameters and rows


@pytest.mark.parametrize(
    ("name", "data_type"),
    [
        ("email_bounce", "emailBounce"),
        ("email_click", "emailClick"),
        ("email_complaint", "emailComplaint"),
        ("email_open", "emailOpen"),
        ("email_send", "emailSend"),
        ("email_send_skip", "emailSendSkip"),
        ("email_subscribe", "emailSubscribe"),
        ("email_unsubscribe", "emailUnSubscribe"),
        ("users", "user"),
    ],
)
def test_request_params_use_the_documented_type_name_and_time_form(
    api: requests_mock.Mocker, clock: FakeClock, name: str, data_type: str
) -> None:
    api.get(EXPORT_URL, content=b"")

    read_window(three_day_run(clock, name), Window(utc(2024, 3, 6, 1, 2, 3), utc(2024, 3, 7, 4, 5, 6)))

    assert query_of(api.request_history[0].url) == {
        "dataTypeName": data_type,
        "startDateTime": "2024-03-06 01:02:03",
        "endDateTime": "2024-03-07 04:05:06",
    }


def test_one_window_yields_every_row_transformed_and_its_state_is_the_window_end(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given the export of 2024-03-06 answered for exactly that query
    query = urlencode(
        {
            "dataTypeName": "emailSend",
            "startDateTime": "2024-03-06 00:00:00",
            "endDateTime": "2024-03-07 00:00:00",
        }
    )
    api.get(f"{EXPORT_URL}?{query}", content=ndjson(SENDS))
    run = export_run(context(clock, three_day_config()), lower=utc(2024, 3, 6))

    # when the window is read
    records = read_window(run, DAY)

    # then every row is yielded transformed, in one request, and nothing stays open
    assert records == transformed_sends(SENDS)
    assert records[1]["createdAt"] == "2024-03-06T15:46:40Z"
    assert records[2]["transactionalData"] == {"orderId": "A-1001", "total": 59.9}
    assert api.call_count == 1
    assert open_files_in(spool_dir) == []
    # and the state after the window is its end
    unit = Unit(run.name, EXPORT, "w", lambda u: Fetched(EMPTY), {"createdAt": "2024-03-07T00:00:00Z"})
    assert run.state_after(unit) == {"createdAt": "2024-03-07T00:00:00Z"}


def test_the_fetched_window_reports_rows_bytes_and_pieces_for_the_sizer(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    body = ndjson(SENDS)
    api.get(EXPORT_URL, content=body)

    fetched = fetch_window(three_day_run(clock), DAY)
    try:
        assert (fetched.rows, fetched.pieces, fetched.truncated) == (3, 1, False)
        # the bytes Iterable sent, not the RECORD lines they became
        assert fetched.body_bytes == len(body) != fetched.batch.size
    finally:
        fetched.batch.close()


def test_a_window_cut_mid_stream_is_asked_again_and_yields_each_row_once(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a body cut mid-stream on the first attempt, whole on the second
    server = ExportServer(SENDS, cut_first=True)
    api.get(EXPORT_URL, body=server)

    # when the window is read
    records = read_window(three_day_run(clock), DAY)

    # then each row comes exactly once, after both attempts, and the cut attempt left no file open
    assert records == transformed_sends(SENDS)
    assert server.windows == [("2024-03-06 00:00:00", "2024-03-07 00:00:00")] * 2
    assert clock.sleeps == [1.0]
    assert open_files_in(spool_dir) == []


# ------------------------------------------------------------------ splitting on repeated failure


def test_a_window_that_keeps_failing_is_split_into_halves(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given an export that fails for any window wider than 12 hours
    server = ExportServer(SENDS, fails=lambda start, end: (end - start).total_seconds() > 12 * 3600)
    api.get(EXPORT_URL, body=server)

    # when the day is read
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        fetched = fetch_window(three_day_run(clock), DAY)

    # then the whole day was asked for 3 times, then each half once
    assert server.windows == [("2024-03-06 00:00:00", "2024-03-07 00:00:00")] * ATTEMPTS_BEFORE_SPLIT + [
        ("2024-03-06 00:00:00", "2024-03-06 12:00:00"),
        ("2024-03-06 12:00:00", "2024-03-07 00:00:00"),
    ]
    # and the rows of both halves come once, in window order, as one unit in two pieces
    try:
        assert lines_of(fetched.batch.blocks()) == transformed_sends(SENDS)
        assert (fetched.rows, fetched.pieces) == (3, 2)
    finally:
        fetched.batch.close()
    assert open_files_in(spool_dir) == []
    assert any(
        "splitting into [2024-03-06T00:00:00Z, 2024-03-06T12:00:00Z) and" in r.getMessage()
        for r in caplog.records
    )


def test_splitting_recurses_until_a_piece_succeeds(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given an export that only serves 6 hours or less
    server = ExportServer(SENDS, fails=lambda start, end: (end - start).total_seconds() > 6 * 3600)
    api.get(EXPORT_URL, body=server)

    records = read_window(three_day_run(clock), DAY)

    assert records == transformed_sends(SENDS)
    day = ("2024-03-06 00:00:00", "2024-03-07 00:00:00")
    morning = ("2024-03-06 00:00:00", "2024-03-06 12:00:00")
    afternoon = ("2024-03-06 12:00:00", "2024-03-07 00:00:00")
    assert server.windows == (
        [day] * ATTEMPTS_BEFORE_SPLIT
        + [morning] * ATTEMPTS_BEFORE_SPLIT
        + [("2024-03-06 00:00:00", "2024-03-06 06:00:00"), ("2024-03-06 06:00:00", "2024-03-06 12:00:00")]
        + [afternoon] * ATTEMPTS_BEFORE_SPLIT
        + [("2024-03-06 12:00:00", "2024-03-06 18:00:00"), ("2024-03-06 18:00:00", "2024-03-07 00:00:00")]
    )


def test_at_the_split_floor_the_window_fails_naming_stream_and_window(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a 30-minute window whose second half always fails (the first half is served)
    server = ExportServer(SENDS, fails=lambda start, end: end > utc(2024, 3, 6, 0, 15))
    api.get(EXPORT_URL, body=server)

    with pytest.raises(ApiError) as caught:
        fetch_window(three_day_run(clock), Window(utc(2024, 3, 6), utc(2024, 3, 6, 0, 30)))

    # then the window was tried, split once at the 15-minute floor, and its second half given up on
    assert server.windows == (
        [("2024-03-06 00:00:00", "2024-03-06 00:30:00")] * ATTEMPTS_BEFORE_SPLIT
        + [("2024-03-06 00:00:00", "2024-03-06 00:15:00")]
        + [("2024-03-06 00:15:00", "2024-03-06 00:30:00")] * ATTEMPTS_BEFORE_SPLIT
    )
    message = caught.value.message
    assert "stream 'email_send'" in message
    assert "[2024-03-06T00:15:00Z, 2024-03-06T00:30:00Z)" in message
    assert "is the smallest window we split to" in message and "not split below 0:15:00" in message
    assert "GenericError" in message
    assert caught.value.transient and caught.value.failure_type is FailureType.transient_error
    # and the served first half's file is closed too
    assert open_files_in(spool_dir) == []


def test_a_refused_key_is_not_split(api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path) -> None:
    api.get(EXPORT_URL, status_code=401, json=BAD_API_KEY_BODY)

    with pytest.raises(ApiError) as caught:
        fetch_window(three_day_run(clock), DAY)

    assert api.call_count == 1
    assert caught.value.failure_type == FailureType.config_error
    assert open_files_in(spool_dir) == []


def test_a_spent_rate_budget_is_not_split(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, status_code=429, json=RATE_LIMITED_BODY)
    settings = HttpSettings(backoff_cap=1.0, rate_limited_max_attempts=5)

    with pytest.raises(ApiError) as caught:
        fetch_window(three_day_run(clock, settings=settings), DAY)

    assert caught.value.status == 429
    assert {query_of(r.url)["endDateTime"] for r in api.request_history} == {"2024-03-07 00:00:00"}
    assert api.call_count == 5


# ------------------------------------------------------------------ through the engine


def two_day_context(clock: FakeClock) -> SyncContext:
    """1-day fixed windows from 2024-03-06 to 2024-03-08 (the sync started then, no lag)."""
    cfg = config(start_date="2024-03-06", window_in_days=1, adaptive_windows=False)
    return context(clock, cfg, started=utc(2024, 3, 8), threaded=True)


def test_each_window_s_state_follows_its_records_whatever_order_the_downloads_end_in(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given two days of sends, both windows downloaded at once
    second_day = [{**SEND, "createdAt": "2024-03-07 10:00:00 +00:00"}]
    api.get(EXPORT_URL, body=ExportServer([*SENDS, *second_day]))
    ctx = two_day_context(clock)
    run = export_run(ctx, parallel=2)

    # when the engine reads the stream
    ok, found = run_engine([run], ctx)

    # then each window's records come before its STATE, and the counts are per window
    assert ok
    assert kinds_of(found, "email_send") == [
        "STARTED",
        "RUNNING",
        "RECORD",
        "STATE",
        "RECORD",
        "STATE",
        "COMPLETE",
    ]
    assert states_of(found, "email_send") == [
        tail_state("2024-03-07T00:00:00Z"),
        tail_state("2024-03-08T00:00:00Z"),
    ]
    counts = [m["state"]["sourceStats"]["recordCount"] for m in found if m["type"] == "STATE"]
    assert counts == [3.0, 1.0]
    assert records_of(found, "email_send") == transformed_sends([*SENDS, *second_day])
    assert open_files_in(spool_dir) == []


def test_an_empty_window_still_moves_the_state(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, content=b"")
    ctx = two_day_context(clock)

    ok, found = run_engine([export_run(ctx)], ctx)

    assert ok
    assert states_of(found, "email_send") == [
        tail_state("2024-03-07T00:00:00Z"),
        tail_state("2024-03-08T00:00:00Z"),
    ]
    assert "RUNNING" not in kinds_of(found, "email_send")


def test_a_failed_window_leaves_the_bookmark_at_the_last_printed_window(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a first day that is served and a second day Iterable rejects
    api.get(EXPORT_URL, body=ExportServer(SENDS))
    api.get(
        EXPORT_URL
        + "?dataTypeName=emailSend&startDateTime=2024-03-07+00%3A00%3A00&endDateTime=2024-03-08+00%3A00%3A00",
        status_code=400,
        json={"msg": "bad window", "code": "BadParams", "params": None},
    )
    ctx = two_day_context(clock)

    ok, found = run_engine([export_run(ctx, parallel=2)], ctx)

    # then the first day is printed with its state, the stream ends incomplete naming the window
    assert not ok
    assert states_of(found, "email_send") == [tail_state("2024-03-07T00:00:00Z")]
    assert kinds_of(found, "email_send")[-1] == "INCOMPLETE"
    [trace] = error_traces(found)
    assert trace["stream_descriptor"] == {"name": "email_send"}
    assert (
        "window [2024-03-07T00:00:00Z, 2024-03-08T00:00:00Z)" in trace["message"]
        and "BadParams" in trace["message"]
    )
    assert open_files_in(spool_dir) == []


def test_an_export_job_is_in_the_state_from_its_start_until_its_window_is_printed(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    # given one window read through an export job
    ctx = context(
        clock, config(start_date="2024-03-06", export_api="async"), started=utc(2024, 3, 7), threaded=True
    )
    runner = JobRunner(ctx, sleep=clock.sleep, clock=clock, wall=lambda: utc(2024, 3, 7, 0, 0, 5))
    run = export_run(ctx, jobs=runner)
    api.post(BASE_URL + "/api/export/start", json={"jobId": 3562})
    listing = {"jobState": "completed", "files": [{"file": "f-1.json", "url": f"{STORAGE}/f-1.json"}]}
    api.get(BASE_URL + "/api/export/3562/files", json=listing)
    api.get(f"{STORAGE}/f-1.json", content=ndjson(SENDS))

    # when the engine reads it
    ok, found = run_engine([run], ctx)

    # then a STATE naming the job's intent comes before the start call, one naming the job as soon as it
    # answered, neither moving the bookmark, and the window's STATE drops both
    assert ok
    window = {"start": "2024-03-06T00:00:00Z", "end": "2024-03-07T00:00:00Z"}
    intent = {"dataTypeName": "emailSend", "at": "2024-03-07T00:00:05Z", **window}
    assert states_of(found, "email_send") == [
        {"createdAt": "2024-03-06T00:00:00Z", "intents": [intent]},
        {"createdAt": "2024-03-06T00:00:00Z", "jobs": [{"id": 3562, **window}]},
        tail_state("2024-03-07T00:00:00Z"),
    ]
    assert kinds_of(found, "email_send") == [
        "STARTED",
        "STATE",
        "STATE",
        "RUNNING",
        "RECORD",
        "STATE",
        "COMPLETE",
    ]
    start = next(r for r in api.request_history if r.method == "POST")
    assert start is api.request_history[0]  # nothing was asked before the intent was printed


# ------------------------------------------------------------------ checkpoints and the jobs in state


def unit_of(run: ExportRun, window: Window) -> Unit:
    return Unit(
        run.name,
        JOBS,
        f"window {window}",
        lambda u: Fetched(EMPTY),
        {"createdAt": f"{window.end:%Y-%m-%dT%H:%M:%SZ}"},
    )


def test_a_started_job_is_written_down_with_its_window_and_the_bookmark_unchanged(clock: FakeClock) -> None:
    run = export_run(context(clock, config()))
    first, second = Window(utc(2024, 1, 1), utc(2024, 1, 31)), Window(utc(2024, 1, 31), utc(2024, 3, 1))

    noticed = run.noticed(unit_of(run, first), JobStarted(11, first))
    both = run.noticed(unit_of(run, second), JobStarted(12, second))

    assert noticed == {
        "createdAt": "2024-01-01T00:00:00Z",
        "jobs": [{"id": 11, "start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"}],
    }
    assert both is not None and [job["id"] for job in both["jobs"]] == [11, 12]
    # once the first window is printed, only the second one's job is left
    assert run.state_after(unit_of(run, first)) == {
        "createdAt": "2024-01-31T00:00:00Z",
        "jobs": [{"id": 12, "start": "2024-01-31T00:00:00Z", "end": "2024-03-01T00:00:00Z"}],
    }
    assert run.state_after(unit_of(run, second)) == {"createdAt": "2024-03-01T00:00:00Z"}


def test_a_notice_that_is_not_a_started_job_prints_nothing(clock: FakeClock) -> None:
    run = export_run(context(clock, config()))
    assert run.noticed(unit_of(run, DAY), "downloading") is None


def test_the_last_window_s_checkpoint_stands_as_the_final_state(clock: FakeClock) -> None:
    run = three_day_run(clock)
    assert run.final_state() == {"createdAt": "2024-03-01T00:00:00Z"}
    run.refill(0)
    assert run.final_state() is None


def test_a_job_of_an_earlier_sync_is_reused_only_for_the_first_window(clock: FakeClock) -> None:
    run = export_run(context(clock, config()), jobs=NoJobs())
    first = Window(utc(2024, 1, 1), utc(2024, 1, 31))

    assert run.reuse(71, first)
    assert not run.reuse(72, first)  # one job per first window
    assert run.final_state() == {
        "createdAt": "2024-01-01T00:00:00Z",
        "jobs": [{"id": 71, "start": "2024-01-01T00:00:00Z", "end": "2024-01-31T00:00:00Z"}],
    }
    run.refill(0)
    [unit] = run.ready
    assert unit.lane == JOBS and unit.label == f"window {first}"
    assert not run.reuse(73, first)  # windows are planned already


# ------------------------------------------------------------------ per-stream details


def test_users_renames_the_clashing_fields_and_keeps_custom_fields(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    api.get(EXPORT_URL, body=ExportServer(USERS, cursor="profileUpdatedAt"))
    run = three_day_run(clock, "users")

    records = read_window(run, DAY)

    assert query_of(api.request_history[0].url)["dataTypeName"] == "user"
    jane, lee = sorted(records, key=lambda r: r["email"])
    assert jane == {
        "email": "jane.doe@example.com",
        "userId": "u-100045",
        "signupDate": "2022-11-03T09:14:22Z",
        "signupSource": "Import",
        "profileUpdatedAt": "2024-03-06T18:02:45Z",
        "emailListIds": [3301122],
        "itblInternal.emailDomain": "example.com",
        "firstName": "Jane",
        "favoriteCategory": "running",
        "isVip": False,
    }
    assert lee["_industry"] == "Retail"
    assert lee["industry"] == "retail"
    assert lee["_offers.intro APR"] == [0, 0]
    assert lee["offers.intro APR"] == [19]
    assert "Industry" not in lee and "offers.Intro APR" not in lee
    checkpoint = run._unit(DAY).checkpoint
    assert checkpoint == {"profileUpdatedAt": "2024-03-07T00:00:00Z"}


def test_email_subscribe_converts_the_profile_dates(api: requests_mock.Mocker, clock: FakeClock) -> None:
    row = {
        "email": "ana.silva@example.com",
        "emailListIds": [3301122],
        "channelIds": [],
        "profileUpdatedAt": "2024-02-10 18:02:40 +00:00",
        "userId": "u-100777",
        "createdAt": "2024-03-06 18:02:41 +00:00",
        "signupSource": "ListAPI",
    }
    api.get(EXPORT_URL, content=ndjson([row]))

    [record] = read_window(three_day_run(clock, "email_subscribe"), DAY)

    assert record == {
        **row,
        "profileUpdatedAt": "2024-02-10T18:02:40Z",
        "createdAt": "2024-03-06T18:02:41Z",
    }


EVENT_STREAMS = ["email_send", "email_open", "email_click", "push_send", "sms_send", "in_app_send"]


def recent_runs(clock: FakeClock, **config: Any) -> list[ExportRun]:
    """Six export streams, each resuming one day before now: one recent window each; data.json at
    Iterable's real 4 requests a minute."""
    ctx = context(clock, rates={EXPORT: 4}, **config)
    yesterday = {"createdAt": "2024-03-09T12:00:00Z"}
    runner = object()  # stands for the JobRunner: only its presence matters to the path decision
    runs = build_runs(
        [Selected(STREAMS_BY_NAME[name], True) for name in EVENT_STREAMS],
        ctx,
        dict.fromkeys(EVENT_STREAMS, yesterday),
        runner,
    )
    return [run for run in runs if isinstance(run, ExportRun)]


def test_auto_sends_recent_windows_through_data_json_only_while_they_fit_its_budget_window(
    clock: FakeClock,
) -> None:
    # given six streams with one recent window each and the default export_api auto
    runs = recent_runs(clock)
    # then the first four (data.json's 4 requests, no wait) use data.json, the other two export jobs
    assert [run.use_jobs for run in runs] == [False, False, False, False, True, True]


@pytest.mark.parametrize("export_api", ["sync", "async"])
def test_sync_and_async_keep_every_stream_on_their_own_path(clock: FakeClock, export_api: str) -> None:
    runs = recent_runs(clock, export_api=export_api)
    assert {run.use_jobs for run in runs} == {export_api == "async"}
