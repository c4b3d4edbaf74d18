"""Incremental syncs through the console script: a second sync from the first one's state
emits every new row once, no old row again, and nothing for unchanged resources."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest

from integration_tests.expectations import (
    EXPORT_STREAMS,
    INCREMENTAL,
    START,
    STREAMS,
    canonical,
    expected_records,
)
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import Connector, Run, configured_catalog, make_config

pytestmark = pytest.mark.integration
UTC = timezone.utc


def export_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +00:00")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rows_each_second(first: datetime, seconds: int, kind: str) -> list[dict[str, Any]]:
    """One row per second over a span the first sync's upper bound will fall inside."""
    rows: list[dict[str, Any]] = []
    for i in range(seconds):
        stamp = export_text(first + timedelta(seconds=i))
        if kind == "user":
            rows.append({"email": f"late-{i}@example.com", "profileUpdatedAt": stamp, "signupDate": stamp})
        else:
            rows.append(
                {
                    "email": f"live-{i}@example.com",
                    "messageId": f"live{i:028d}",
                    "createdAt": stamp,
                    "campaignId": 7012345,
                    "templateId": 9102233,
                }
            )
    return rows


@pytest.fixture(scope="module")
def two_syncs(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Sync 1 runs while rows keep arriving each second; sync 2 runs from its state afterwards."""
    server.reset()
    now = datetime.now(UTC).replace(microsecond=0)
    live = {
        "emailSend": rows_each_second(now - timedelta(seconds=5), 25, "emailSend"),
        "user": rows_each_second(now - timedelta(seconds=5), 25, "user"),
    }
    for kind, rows in live.items():
        server.add_events(kind, rows)
    connector = Connector(tmp_path_factory.mktemp("incremental"))
    # The streams with live rows go first, so the first sync's bookmark lands inside the live span.
    ordered = sorted(discovered, key=lambda stream: stream["name"] not in ("email_send", "users"))
    catalog = configured_catalog(ordered, "incremental")
    # Fixed 30-day windows: the seeded rows sit on their boundaries (adaptive sizing has its own tests).
    config = make_config(server.base_url, adaptive_windows=False)

    first = connector.run("read", config, catalog)
    # Sync 2 starts once every live row is in the past, so it can read all of them.
    time.sleep(max(0.0, (now + timedelta(seconds=21) - datetime.now(UTC)).total_seconds()))
    second_started = datetime.now(UTC)
    second = connector.run("read", config, catalog, first.last_states())
    third = connector.run(
        "read",
        make_config(server.base_url, start_date="2023-01-01", adaptive_windows=False),
        catalog,
        second.last_states(),
    )
    return {"first": first, "second": second, "third": third, "live": live, "second_started": second_started}


def test_both_syncs_succeed(two_syncs: dict[str, Any]) -> None:
    for name in ("first", "second", "third"):
        run: Run = two_syncs[name]
        assert run.returncode == 0, run.all_output[-3000:]
        assert run.traces() == []


def test_first_sync_checkpoints_after_every_window(two_syncs: dict[str, Any]) -> None:
    first: Run = two_syncs["first"]
    for stream in EXPORT_STREAMS:
        cursor = STREAMS[stream].cursor or ""
        moments = [parse(s["stream"]["stream_state"][cursor]) for s in first.states(stream)]
        assert moments == sorted(moments), stream
        assert moments[0] == START + timedelta(days=30), stream  # the end of the first window
        assert all(b - a == timedelta(days=30) for a, b in pairwise(moments[:-1])), stream


@pytest.mark.parametrize("stream", EXPORT_STREAMS)
def test_two_syncs_emit_every_export_row_exactly_once(
    two_syncs: dict[str, Any], server: FakeIterable, stream: str
) -> None:
    first: Run = two_syncs["first"]
    second: Run = two_syncs["second"]
    expected = expected_records(
        server.dataset, stream, end=two_syncs["second_started"], added=two_syncs["live"]
    )
    union = first.records(stream) + second.records(stream)
    assert canonical(union) == canonical(expected)
    assert not [row for row, n in Counter(canonical(union)).items() if n > 1]


@pytest.mark.parametrize(
    "kind,stream,cursor", [("emailSend", "email_send", "createdAt"), ("user", "users", "profileUpdatedAt")]
)
def test_rows_at_the_bookmark_second_go_to_the_second_sync_only(
    two_syncs: dict[str, Any], kind: str, stream: str, cursor: str
) -> None:
    first: Run = two_syncs["first"]
    second: Run = two_syncs["second"]
    bookmark = parse(first.stream_state(stream)[cursor])  # type: ignore[index]
    live_times = {parse(r[cursor].replace(" +00:00", "Z").replace(" ", "T")) for r in two_syncs["live"][kind]}
    assert bookmark in live_times, "the first sync's bookmark must fall inside the live span"
    key = "email"
    live_emails = {r[key] for r in two_syncs["live"][kind]}
    in_first = {parse(r[cursor]) for r in first.records(stream) if r[key] in live_emails}
    in_second = {parse(r[cursor]) for r in second.records(stream) if r[key] in live_emails}
    assert in_first == {t for t in live_times if t < bookmark}
    assert in_second == {t for t in live_times if t >= bookmark}
    assert bookmark in in_second


@pytest.mark.parametrize("stream", ["campaigns", "templates", "journeys", "catalog_items"])
def test_unchanged_resources_emit_nothing_on_the_second_sync(
    two_syncs: dict[str, Any], server: FakeIterable, stream: str
) -> None:
    first: Run = two_syncs["first"]
    cursor = STREAMS[stream].cursor or ""
    expected = expected_records(
        server.dataset, stream, end=two_syncs["second_started"], incremental_since=START
    )
    assert canonical(first.records(stream)) == canonical(expected)
    assert two_syncs["second"].records(stream) == []
    newest = max(parse(r[cursor]) for r in first.records(stream))
    assert parse(first.stream_state(stream)[cursor]) == newest  # type: ignore[index]


def test_a_changed_start_date_does_not_rewind_streams_with_state(two_syncs: dict[str, Any]) -> None:
    third: Run = two_syncs["third"]
    for stream in INCREMENTAL:
        old = [r for r in third.records(stream) if parse(r[STREAMS[stream].cursor or ""]) < START]
        assert old == [], stream
    assert third.records("campaigns") == []
