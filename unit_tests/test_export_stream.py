from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import requests_mock
from airbyte_cdk.models import AirbyteMessage, FailureType, SyncMode, Type

from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.errors import ApiError
from source_iterable.export_streams import ATTEMPTS_BEFORE_SPLIT, ExportStream
from source_iterable.http import HttpSettings
from source_iterable.stream_base import StateError

from .builders import (
    BAD_API_KEY_BODY,
    EXPORT_URL,
    GENERIC_ERROR_BODY,
    NOW,
    RATE_LIMITED_BODY,
    CutBody,
    FakeClock,
    iterable_config,
    make_client,
    ndjson,
    query_of,
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
DAY = {"start": "2024-03-06T00:00:00Z", "end": "2024-03-07T00:00:00Z"}
QUERY_TIME = "%Y-%m-%d %H:%M:%S"


def export_stream(
    clock: FakeClock, name: str = "email_send", settings: HttpSettings | None = None
) -> ExportStream:
    """The stream over a config starting 2024-03-01, 3-day windows, at NOW (2024-03-10 12:00Z)."""
    config = iterable_config(window_in_days=3)
    client = make_client(clock, config, settings=settings)
    return ExportStream(STREAMS_BY_NAME[name], client, config, lambda: NOW)


def data_of(message: Any, stream: str = "email_send") -> Mapping[str, Any]:
    """Export streams hand the CDK ready RECORD messages; the row is the record's data."""
    assert isinstance(message, AirbyteMessage) and message.type == Type.RECORD
    assert message.record is not None and message.record.stream == stream
    assert message.record.emitted_at > 1_700_000_000_000  # epoch milliseconds of the emission
    return message.record.data


def rows_of(stream: ExportStream, stream_slice: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    return (
        data_of(m, stream.name) for m in stream.read_records(SyncMode.incremental, stream_slice=stream_slice)
    )


def read(stream: ExportStream, stream_slice: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(rows_of(stream, stream_slice))


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


# --- slices ---------------------------------------------------------------------------------


def test_slices_run_from_start_date_to_now_minus_the_lag(clock: FakeClock) -> None:
    slices = list(export_stream(clock).stream_slices(sync_mode=SyncMode.incremental))

    assert slices == [
        {"start": "2024-03-01T00:00:00Z", "end": "2024-03-04T00:00:00Z"},
        {"start": "2024-03-04T00:00:00Z", "end": "2024-03-07T00:00:00Z"},
        {"start": "2024-03-07T00:00:00Z", "end": "2024-03-10T00:00:00Z"},
        {"start": "2024-03-10T00:00:00Z", "end": "2024-03-10T11:55:00Z"},
    ]


def test_slices_start_at_the_bookmark_when_there_is_state(clock: FakeClock) -> None:
    stream = export_stream(clock)
    stream.state = {"createdAt": "2024-03-08T06:30:00Z"}

    slices = list(stream.stream_slices(sync_mode=SyncMode.incremental, stream_state=stream.state))

    assert slices == [
        {"start": "2024-03-08T06:30:00Z", "end": "2024-03-10T11:55:00Z"},
    ]


def test_full_refresh_ignores_the_bookmark(clock: FakeClock) -> None:
    stream = export_stream(clock)
    stream.state = {"createdAt": "2024-03-08T06:30:00Z"}

    slices = list(stream.stream_slices(sync_mode=SyncMode.full_refresh))

    assert slices[0] == {"start": "2024-03-01T00:00:00Z", "end": "2024-03-04T00:00:00Z"}


@pytest.mark.parametrize("bookmark", ["2024-03-10T11:55:00Z", "2024-03-10T11:59:00Z", "2025-01-01T00:00:00Z"])
def test_no_slices_when_the_state_is_at_or_past_the_upper_bound(clock: FakeClock, bookmark: str) -> None:
    stream = export_stream(clock)
    stream.state = {"createdAt": bookmark}

    assert list(stream.stream_slices(sync_mode=SyncMode.incremental)) == []


# --- reading one window -----------------------------------------------------------------------


def test_one_window_emits_every_row_transformed_then_moves_the_state_to_its_end(
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
    stream = export_stream(clock)

    # when the window is read
    records = read(stream, DAY)

    # then every row is emitted transformed, and the state is the window's end
    assert records == transformed_sends(SENDS)
    assert records[1]["createdAt"] == "2024-03-06T15:46:40Z"
    assert records[2]["transactionalData"] == {"orderId": "A-1001", "total": 59.9}
    assert stream.state == {"createdAt": "2024-03-07T00:00:00Z"}
    assert api.call_count == 1
    assert list(spool_dir.iterdir()) == []


def test_the_state_does_not_move_before_the_last_row(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, body=ExportServer(SENDS))
    stream = export_stream(clock)
    stream.state = {"createdAt": "2024-03-06T00:00:00Z"}

    records = stream.read_records(SyncMode.incremental, stream_slice=DAY)
    next(iter(records))

    assert stream.state == {"createdAt": "2024-03-06T00:00:00Z"}


def test_an_empty_window_still_moves_the_state(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, content=b"")
    stream = export_stream(clock)

    assert read(stream, DAY) == []
    assert stream.state == {"createdAt": "2024-03-07T00:00:00Z"}


def test_an_older_window_never_moves_the_state_back(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, content=b"")
    stream = export_stream(clock)
    stream.state = {"createdAt": "2024-03-09T00:00:00Z"}

    read(stream, DAY)

    assert stream.state == {"createdAt": "2024-03-09T00:00:00Z"}


def test_rows_are_emitted_only_after_the_whole_body_arrived(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a body cut mid-stream on the first attempt, whole on the second
    server = ExportServer(SENDS, cut_first=True)
    api.get(EXPORT_URL, body=server)
    stream = export_stream(clock)

    # when the first record comes out, both attempts have been made
    records = rows_of(stream, DAY)
    first = next(records)
    assert api.call_count == 2
    rest = list(records)

    # then each row is emitted exactly once, and the cut attempt left no file behind
    assert [first, *rest] == transformed_sends(SENDS)
    assert server.windows == [("2024-03-06 00:00:00", "2024-03-07 00:00:00")] * 2
    assert clock.sleeps == [2.0]
    assert list(spool_dir.iterdir()) == []


def test_a_window_that_keeps_failing_is_split_into_halves(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given an export that fails for any window wider than 12 hours
    server = ExportServer(SENDS, fails=lambda start, end: (end - start).total_seconds() > 12 * 3600)
    api.get(EXPORT_URL, body=server)
    stream = export_stream(clock)

    # when the day is read, nothing comes out before both halves are on disk
    records = rows_of(stream, DAY)
    first = next(records)
    assert api.call_count == ATTEMPTS_BEFORE_SPLIT + 2
    rest = list(records)

    # then the whole day was asked for 3 times, then each half once
    assert server.windows == [("2024-03-06 00:00:00", "2024-03-07 00:00:00")] * ATTEMPTS_BEFORE_SPLIT + [
        ("2024-03-06 00:00:00", "2024-03-06 12:00:00"),
        ("2024-03-06 12:00:00", "2024-03-07 00:00:00"),
    ]
    # and the rows of both halves are emitted once, in window order
    assert [first, *rest] == transformed_sends(SENDS)
    assert stream.state == {"createdAt": "2024-03-07T00:00:00Z"}
    assert list(spool_dir.iterdir()) == []


def test_splitting_recurses_until_a_piece_succeeds(api: requests_mock.Mocker, clock: FakeClock) -> None:
    # given an export that only serves 6 hours or less
    server = ExportServer(SENDS, fails=lambda start, end: (end - start).total_seconds() > 6 * 3600)
    api.get(EXPORT_URL, body=server)

    records = read(export_stream(clock), DAY)

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


def test_at_the_split_floor_the_stream_fails_naming_stream_and_window(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    # given a 30-minute window whose second half always fails (the first half is served)
    server = ExportServer(SENDS, fails=lambda start, end: end > utc(2024, 3, 6, 0, 15))
    api.get(EXPORT_URL, body=server)
    stream = export_stream(clock)
    half_hour = {"start": "2024-03-06T00:00:00Z", "end": "2024-03-06T00:30:00Z"}

    with pytest.raises(ApiError) as caught:
        read(stream, half_hour)

    # then the window was tried, split once at the 15-minute floor, and its second half given up on
    assert server.windows == (
        [("2024-03-06 00:00:00", "2024-03-06 00:30:00")] * ATTEMPTS_BEFORE_SPLIT
        + [("2024-03-06 00:00:00", "2024-03-06 00:15:00")]
        + [("2024-03-06 00:15:00", "2024-03-06 00:30:00")] * ATTEMPTS_BEFORE_SPLIT
    )
    message = caught.value.message
    assert "stream 'email_send'" in message
    assert "[2024-03-06T00:15:00Z, 2024-03-06T00:30:00Z)" in message
    assert "smallest window" in message
    assert "GenericError" in message
    assert caught.value.transient
    # and the state did not move, and the served first half's file is gone too
    assert stream.state == {}
    assert list(spool_dir.iterdir()) == []


def test_a_refused_key_is_not_split(api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path) -> None:
    api.get(EXPORT_URL, status_code=401, json=BAD_API_KEY_BODY)

    with pytest.raises(ApiError) as caught:
        read(export_stream(clock), DAY)

    assert api.call_count == 1
    assert caught.value.failure_type == FailureType.config_error
    assert list(spool_dir.iterdir()) == []


def test_a_spent_rate_budget_is_not_split(api: requests_mock.Mocker, clock: FakeClock) -> None:
    api.get(EXPORT_URL, status_code=429, json=RATE_LIMITED_BODY)
    settings = HttpSettings(backoff_cap=1.0, rate_limited_max_attempts=5)

    with pytest.raises(ApiError) as caught:
        read(export_stream(clock, settings=settings), DAY)

    assert caught.value.status == 429
    assert {query_of(r.url)["endDateTime"] for r in api.request_history} == {"2024-03-07 00:00:00"}
    assert api.call_count == 5


def test_a_reader_that_stops_early_leaves_no_file(
    api: requests_mock.Mocker, clock: FakeClock, spool_dir: Path
) -> None:
    api.get(EXPORT_URL, content=ndjson(SENDS))
    stream = export_stream(clock)

    records = stream.read_records(SyncMode.incremental, stream_slice=DAY)
    next(iter(records))
    records.close()  # type: ignore[attr-defined]

    assert list(spool_dir.iterdir()) == []
    assert stream.state == {}


def test_no_slice_reads_nothing(api: requests_mock.Mocker, clock: FakeClock) -> None:
    assert list(rows_of(export_stream(clock), None)) == []
    assert api.call_count == 0


# --- state ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [{"createdAt": "garbage"}, {"createdAt": 1709740000}, {"updatedAt": "2024-01-31T00:00:00Z"}]
)
def test_an_unusable_state_is_rejected_naming_the_stream(clock: FakeClock, state: dict[str, Any]) -> None:
    stream = export_stream(clock)

    with pytest.raises(StateError) as caught:
        stream.state = state

    assert "'email_send'" in caught.value.message
    assert caught.value.failure_type == FailureType.config_error


def test_a_state_that_is_not_an_object_is_rejected(clock: FakeClock) -> None:
    with pytest.raises(StateError, match="'email_send'"):
        export_stream(clock).state = ["2024-01-31T00:00:00Z"]  # type: ignore[assignment]


@pytest.mark.parametrize(
    "value", ["2024-01-31T00:00:00Z", "2024-01-31T00:00:00+00:00", "2024-01-31 00:00:00 +00:00"]
)
def test_an_rfc3339_state_is_accepted(clock: FakeClock, value: str) -> None:
    stream = export_stream(clock)

    stream.state = {"createdAt": value}

    assert stream.bookmark == utc(2024, 1, 31)
    assert stream.state == {"createdAt": "2024-01-31T00:00:00Z"}


def test_an_empty_state_means_start_date(clock: FakeClock) -> None:
    stream = export_stream(clock)

    stream.state = {}

    assert stream.bookmark is None
    assert stream.state == {}
    assert stream.lower_bound() == utc(2024, 3, 1)


# --- per-stream details -----------------------------------------------------------------------


def test_users_renames_the_clashing_fields_and_keeps_custom_fields(
    api: requests_mock.Mocker, clock: FakeClock
) -> None:
    server = ExportServer(USERS, cursor="profileUpdatedAt")
    api.get(EXPORT_URL, body=server)
    stream = export_stream(clock, "users")

    records = read(stream, DAY)

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
    assert stream.state == {"profileUpdatedAt": "2024-03-07T00:00:00Z"}


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

    read(export_stream(clock, name), {"start": "2024-03-06T01:02:03Z", "end": "2024-03-07T04:05:06Z"})

    assert query_of(api.request_history[0].url) == {
        "dataTypeName": data_type,
        "startDateTime": "2024-03-06 01:02:03",
        "endDateTime": "2024-03-07 04:05:06",
    }


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

    [record] = read(export_stream(clock, "email_subscribe"), DAY)

    assert record == {
        **row,
        "profileUpdatedAt": "2024-02-10T18:02:40Z",
        "createdAt": "2024-03-06T18:02:41Z",
    }
