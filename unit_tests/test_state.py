"""``state.py``: the ``--state`` file's per-stream states, and each stream's bookmark parsed or refused
with a message naming the stream; a stream with unusable state fails alone."""

from __future__ import annotations

from typing import Any

import pytest

from source_iterable.api.errors import FailureType
from source_iterable.catalog import STREAMS_BY_NAME
from source_iterable.readers import BrokenRun, Selected, build_runs
from source_iterable.readers.exports import ExportRun
from source_iterable.state import NO_CURSOR, StateError, StateFileError, parse_bookmark, stream_states

from .builders import FakeClock, context, utc


def stream_message(name: str, stream_state: Any) -> dict[str, Any]:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}


# ------------------------------------------------------------------ stream_states


@pytest.mark.parametrize("raw", [None, [], {}])
def test_no_state_means_no_stream_state(raw: Any) -> None:
    assert stream_states(raw) == {}


def test_each_per_stream_message_gives_its_streams_state() -> None:
    raw = [
        stream_message("email_send", {"createdAt": "2024-03-07T00:00:00Z"}),
        stream_message("campaigns", {"updatedAt": "2024-03-01T00:00:00Z"}),
        # a stream this source does not have is kept: the caller ignores it
        stream_message("retired_stream", {"x": 1}),
        # the type may be left out (it defaults to STREAM)
        {"stream": {"stream_descriptor": {"name": "lists"}, "stream_state": NO_CURSOR}},
    ]

    assert stream_states(raw) == {
        "email_send": {"createdAt": "2024-03-07T00:00:00Z"},
        "campaigns": {"updatedAt": "2024-03-01T00:00:00Z"},
        "retired_stream": {"x": 1},
        "lists": NO_CURSOR,
    }


def test_a_later_message_for_a_stream_wins() -> None:
    raw = [
        stream_message("users", {"profileUpdatedAt": "a"}),
        stream_message("users", {"profileUpdatedAt": "b"}),
    ]
    assert stream_states(raw) == {"users": {"profileUpdatedAt": "b"}}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"email_send": {"createdAt": "2024-03-07T00:00:00Z"}},
            "must be a JSON list of per-stream STATE messages",
        ),
        ("state", "must be a JSON list"),
        (["email_send"], "entry 1 is not a JSON object"),
        ([stream_message("a", {}), {"type": "GLOBAL", "global": {}}], "entry 2 has type 'GLOBAL'"),
        ([{"type": "LEGACY", "data": {}}], "only per-stream (STREAM) state is supported"),
        (
            [{"type": "STREAM", "stream": {"stream_state": {}}}],
            "entry 1 has no stream.stream_descriptor.name",
        ),
        ([{"type": "STREAM"}], "entry 1 has no stream.stream_descriptor.name"),
        ([{"type": "STREAM", "stream": {"stream_descriptor": {"name": 7}}}], "entry 1 has no stream"),
    ],
)
def test_a_malformed_state_file_is_a_config_error_saying_what_is_wrong(raw: Any, problem: str) -> None:
    with pytest.raises(StateFileError) as caught:
        stream_states(raw)

    assert caught.value.failure_type is FailureType.config_error
    assert caught.value.message.startswith("Invalid configuration: '--state' ")
    assert problem in caught.value.message


# ------------------------------------------------------------------ parse_bookmark


@pytest.mark.parametrize("value", [None, {}, NO_CURSOR])
def test_no_bookmark_when_there_is_no_state(value: Any) -> None:
    assert parse_bookmark("email_send", "createdAt", value) is None


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-31T00:00:00Z",
        "2024-01-31T00:00:00+00:00",
        "2024-01-31 00:00:00 +00:00",
        "2024-01-31T01:00:00+01:00",
        "2024-01-31 00:00:00",
    ],
)
def test_every_accepted_form_of_a_bookmark_is_the_same_moment(value: str) -> None:
    assert parse_bookmark("email_send", "createdAt", {"createdAt": value}) == utc(2024, 1, 31)


def test_a_fraction_of_a_second_is_kept() -> None:
    moment = parse_bookmark("campaigns", "updatedAt", {"updatedAt": "2024-03-06T15:46:40.123Z"})
    assert moment is not None and moment.microsecond == 123000


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"createdAt": "garbage"}, "'createdAt' is 'garbage', not an RFC 3339 timestamp"),
        ({"createdAt": 1709740000}, "'createdAt' is 1709740000, not an RFC 3339 timestamp"),
        ({"updatedAt": "2024-01-31T00:00:00Z"}, "it has no 'createdAt' value (got keys ['updatedAt'])"),
        (["2024-01-31T00:00:00Z"], "expected an object like {'createdAt': '2024-01-31T00:00:00Z'}"),
        ("2024-01-31T00:00:00Z", "expected an object"),
    ],
)
def test_an_unusable_state_is_a_config_error_naming_the_stream_and_the_value(
    value: Any, problem: str
) -> None:
    with pytest.raises(StateError) as caught:
        parse_bookmark("email_send", "createdAt", value)

    error = caught.value
    assert error.stream == "email_send"
    assert error.failure_type is FailureType.config_error
    assert error.message.startswith("Invalid state for stream 'email_send': ")
    assert problem in error.message
    assert error.message.endswith("Fix or remove this stream's state to re-sync it.")


# ------------------------------------------------------------------ a stream that cannot start


def test_a_stream_with_unusable_state_fails_alone_and_the_others_start(clock: FakeClock) -> None:
    # given two incremental streams, one with a state it cannot use
    ctx = context(clock)
    selected = [Selected(STREAMS_BY_NAME["email_send"], True), Selected(STREAMS_BY_NAME["email_open"], True)]

    runs = build_runs(selected, ctx, {"email_send": {"createdAt": "soon"}})

    # then that stream plans nothing and ends with the state error; the other one reads
    broken, fine = runs
    assert isinstance(broken, BrokenRun) and broken.name == "email_send"
    assert broken.plan().summary.startswith("not read: Invalid state for stream 'email_send'")
    assert not broken.ready and broken.final_state() is None
    error = broken.final_error()
    assert error.failure_type is FailureType.config_error and "'createdAt' is 'soon'" in error.message
    assert isinstance(fine, ExportRun)


def test_a_full_refresh_does_not_read_the_state(clock: FakeClock) -> None:
    runs = build_runs(
        [Selected(STREAMS_BY_NAME["email_send"], False)], context(clock), {"email_send": "junk"}
    )
    assert isinstance(runs[0], ExportRun)
