"""Late-indexed rows through the console script against the fake (issue 15, section 2): rows that become
visible behind the bookmark between two syncs arrive once, nothing of the first sync arrives twice, a
third sync delivers nothing; with a SIGKILL and a resume in between; on both export paths; users too."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from integration_tests.expectations import canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import Connector, Run, configured_catalog, kill, make_config
from integration_tests.test_concurrency import committed

pytestmark = pytest.mark.integration
UTC = timezone.utc
STREAMS = ["email_send", "users"]
KIND = {"email_send": "emailSend", "users": "user"}
CURSOR = {"email_send": "createdAt", "users": "profileUpdatedAt"}


def export_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +00:00")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def send(moment: datetime, tag: str) -> dict[str, Any]:
    return {
        "email": f"{tag}@example.com",
        "messageId": f"{tag:0>32}"[-32:],
        "createdAt": export_text(moment),
        "campaignId": 7012345,
        "templateId": 9102233,
    }


def profile(moment: datetime, tag: str, city: str = "Austin") -> dict[str, Any]:
    stamp = export_text(moment)
    return {"email": f"{tag}@example.com", "profileUpdatedAt": stamp, "signupDate": stamp, "city": city}


class Added:
    """Rows added to the fake, by data type (what expected_records needs to know)."""

    def __init__(self, server: FakeIterable) -> None:
        self.server = server
        self.rows: dict[str, list[dict[str, Any]]] = {"emailSend": [], "user": []}

    def add(self, kind: str, *rows: dict[str, Any]) -> list[dict[str, Any]]:
        self.server.add_events(kind, list(rows))
        self.rows[kind] += rows
        return list(rows)


def read(
    connector: Connector,
    server: FakeIterable,
    discovered: list[dict[str, Any]],
    state: Any = None,
    **config: Any,
) -> Run:
    catalog = configured_catalog(discovered, "incremental", STREAMS)
    run = connector.run("read", make_config(server.base_url, **config), catalog, state)
    assert run.returncode == 0, run.all_output[-3000:]
    return run


def exactly_once(union: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert canonical(union) == canonical(expected)
    assert not [row for row, n in Counter(canonical(union)).items() if n > 1]


@pytest.mark.parametrize("export_api", ["sync", "async"])
def test_rows_that_become_visible_behind_the_bookmark_arrive_once_and_a_third_sync_delivers_nothing(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector, export_api: str
) -> None:
    # given a first sync that delivered rows of its last hour (sends and profiles)
    added = Added(server)
    now = datetime.now(UTC).replace(microsecond=0)
    added.add(
        "emailSend", send(now - timedelta(minutes=30), "early-a"), send(now - timedelta(minutes=5), "early-b")
    )
    added.add(
        "user", profile(now - timedelta(minutes=20), "kept"), profile(now - timedelta(minutes=20), "moved")
    )
    first = read(spool_connector, server, discovered, export_api=export_api)
    bookmark = {stream: parse(first.stream_state(stream)[CURSOR[stream]]) for stream in STREAMS}  # type: ignore[index]
    # when rows become visible behind its bookmark (indexed late), a profile changes without a newer
    # profileUpdatedAt second, and new rows arrive after the bookmark
    b = bookmark["email_send"]
    late = added.add(
        "emailSend", send(b - timedelta(minutes=50), "late-a"), send(b - timedelta(seconds=1), "late-b")
    )
    new = added.add("emailSend", send(b, "new-a"))
    u = bookmark["users"]
    changed = added.add("user", profile(now - timedelta(minutes=20), "moved", city="Porto"))
    late_profile = added.add("user", profile(u - timedelta(minutes=15), "late-profile"))
    time.sleep(1.2)  # every new row is in the past for the second sync
    second = read(spool_connector, server, discovered, first.last_states(), export_api=export_api)
    third_started = datetime.now(UTC)
    third = read(spool_connector, server, discovered, second.last_states(), export_api=export_api)
    # then the second sync delivered the late and the new rows and the changed profile, nothing of the
    # first sync again; the third delivered nothing; and every row arrived exactly once
    assert canonical(second.records("email_send")) == canonical(
        expected_records(
            server.dataset, "email_send", third_started, b - timedelta(hours=2), {"emailSend": late + new}
        )
    )
    assert canonical(second.records("users")) == canonical(
        expected_records(
            server.dataset, "users", third_started, u - timedelta(hours=2), {"user": changed + late_profile}
        )
    )
    assert third.records() == []
    for stream in STREAMS:
        union = first.records(stream) + second.records(stream) + third.records(stream)
        exactly_once(union, expected_records(server.dataset, stream, third_started, added=added.rows))
    # and the re-read was said in the log
    logs = " ".join(m["log"]["message"] for m in second.of_type("LOG"))
    assert (
        "stream 'email_send': read again from" in logs
        and "2 rows that were not visible then delivered" in logs
    )


@pytest.mark.parametrize("export_api", ["sync", "async"])
def test_a_sync_killed_after_its_first_window_and_resumed_delivers_every_row_once(
    server: FakeIterable, discovered: list[dict[str, Any]], spool_connector: Connector, export_api: str
) -> None:
    # given a first sync that ended a day ago (its lag), with rows in its last hour
    added = Added(server)
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    added.add("emailSend", send(now - day - timedelta(minutes=30), "early"))
    added.add("user", profile(now - day - timedelta(minutes=10), "early"))
    first = read(spool_connector, server, discovered, export_api=export_api, export_lag_minutes=24 * 60)
    b = parse(first.stream_state("email_send")["createdAt"])  # type: ignore[index]
    # and, since, rows indexed late behind its bookmark, and new rows in the day after it (the last ones
    # in the hour the resumed sync reads again)
    added.add("emailSend", send(b - timedelta(minutes=40), "late"))
    added.add("user", profile(b - timedelta(minutes=5), "late"))
    for n, after in enumerate([timedelta(hours=1), timedelta(hours=12), day - timedelta(minutes=10)]):
        added.add("emailSend", send(b + after, f"day-{n}"))
        added.add("user", profile(b + after + timedelta(seconds=1), f"day-{n}"))
    time.sleep(1.2)
    # when a second sync in one-day windows (the day after the bookmark, then the seconds since the first
    # sync) is killed once its first window's STATE is out
    config = make_config(server.base_url, export_api=export_api, window_in_days=1, adaptive_windows=False)
    catalog = configured_catalog(discovered, "incremental", STREAMS)
    process = spool_connector.start("read", config, catalog, first.last_states())
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if (
            '"type":"STATE"' in line
            and '"email_send"' in line
            and f'"createdAt":"{b:%Y-%m-%dT%H:%M:%SZ}"' not in line
        ):
            break
    killed = kill(process, "".join(seen))
    assert killed.returncode == -9
    states = {s["stream"]["stream_descriptor"]["name"]: s for s in first.last_states() + killed.last_states()}
    # and resumed from the last STATE of each stream
    resumed_started = datetime.now(UTC)
    resumed = spool_connector.run("read", config, catalog, list(states.values()))
    assert resumed.returncode == 0, resumed.all_output[-3000:]
    # then every row arrived exactly once across the three syncs (what the killed one committed)
    assert committed(killed, "email_send"), "the kill came after the first window's records"
    for stream in STREAMS:
        union = first.records(stream) + committed(killed, stream) + resumed.records(stream)
        exactly_once(union, expected_records(server.dataset, stream, resumed_started, added=added.rows))
