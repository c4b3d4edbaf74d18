"""Hybrid and userID-based projects through the console script: users keyed on itblUserId, users and
events without an email delivered like any other, and check telling a wrong project_type."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from integration_tests.expectations import canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import (
    TEST_API_KEY,
    Connector,
    Run,
    configured_catalog,
    make_config,
)
from unit_tests.rfc3339 import FORMAT_CHECKER

pytestmark = pytest.mark.integration

STREAMS = ("users", "email_send", "purchase")


def project_config(server: FakeIterable, **overrides: Any) -> dict[str, Any]:
    return make_config(server.base_url, **{"project_type": server.dataset.project_type, **overrides})


def warnings_of(run: Run) -> list[str]:
    return [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]


@pytest.fixture(scope="module")
def synced(
    typed_project: FakeIterable, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, Run, datetime]:
    connector = Connector(tmp_path_factory.mktemp(f"project-{typed_project.dataset.project_type}"))
    discover = connector.run("discover", project_config(typed_project))
    assert discover.returncode == 0, discover.all_output[-3000:]
    streams = discover.of_type("CATALOG")[0]["catalog"]["streams"]
    started = datetime.now(timezone.utc)
    selected = (*STREAMS, "forgotten_users")
    read = connector.run(
        "read", project_config(typed_project), configured_catalog(streams, "full_refresh", selected)
    )
    return discover, read, started


def test_users_is_keyed_on_itbluserid(synced: tuple[Run, Run, datetime]) -> None:
    discover, _, _ = synced
    streams = {s["name"]: s for s in discover.of_type("CATALOG")[0]["catalog"]["streams"]}
    assert streams["users"]["source_defined_primary_key"] == [["itblUserId"]]
    assert streams["campaigns"]["source_defined_primary_key"] == [["id"]]


def test_every_user_and_event_arrives_with_or_without_an_email(
    synced: tuple[Run, Run, datetime], typed_project: FakeIterable
) -> None:
    # given a read of users and two event streams of the project
    discover, read, started = synced
    assert read.returncode == 0, read.all_output[-3000:]
    assert read.traces() == []
    schemas = {s["name"]: s["json_schema"] for s in discover.of_type("CATALOG")[0]["catalog"]["streams"]}

    for stream in STREAMS:
        # then every row of the dataset is a record, the rows without an email included
        records = read.records(stream)
        assert canonical(records) == canonical(
            expected_records(typed_project.dataset, stream, end=started)
        ), stream
        without_email = [r for r in records if "email" not in r]
        assert without_email, (
            f"the fake must hold {stream} rows without an email for this test to mean anything"
        )
        validator = jsonschema.Draft7Validator(schemas[stream], format_checker=FORMAT_CHECKER)
        for record in without_email:
            assert list(validator.iter_errors(record)) == [], (stream, record)
    # and every user has its key, so nothing is warned about it
    assert all(user.get("itblUserId") for user in read.records("users"))
    assert not [w for w in warnings_of(read) if "itblUserId" in w]


def test_forgotten_users_come_from_the_lists_of_the_project_type(
    synced: tuple[Run, Run, datetime], typed_project: FakeIterable
) -> None:
    _, read, started = synced
    records = read.records("forgotten_users")
    kinds = {kind for record in records for kind in record["identifierTypes"]}

    assert canonical(records) == canonical(
        expected_records(typed_project.dataset, "forgotten_users", end=started)
    )
    assert kinds == ({"email", "userId"} if typed_project.dataset.project_type == "hybrid" else {"userId"})


def test_check_warns_when_project_type_says_email_based(typed_project: FakeIterable, tmp_path: Path) -> None:
    # given the project's own field list (userListIds, itblUserId), and configs of both kinds
    connector = Connector(tmp_path / "check")

    # when check runs with email_based, and with the project's own type
    wrong = connector.run("check", project_config(typed_project, project_type="email_based"))
    right = connector.run("check", project_config(typed_project))

    # then both pass; only the wrong one warns, naming what it saw and what to set
    for run in (wrong, right):
        assert run.returncode == 0 and run.connection_status()["status"] == "SUCCEEDED", run.all_output
        assert TEST_API_KEY not in run.all_output
    [warning] = [w for w in warnings_of(wrong) if "project_type" in w]
    assert warning.startswith("project_type is email_based, but the project's user fields")
    assert "itblUserId and userListIds" in warning
    assert [w for w in warnings_of(right) if "project_type" in w] == []


def test_an_email_based_project_checked_as_email_based_warns_nothing(
    server: FakeIterable, connector: Connector
) -> None:
    run = connector.run("check", make_config(server.base_url))
    assert run.connection_status()["status"] == "SUCCEEDED"
    assert [w for w in warnings_of(run) if "project_type" in w] == []


def test_an_email_based_project_checked_as_hybrid_is_warned_about(
    server: FakeIterable, connector: Connector
) -> None:
    run = connector.run("check", make_config(server.base_url, project_type="hybrid"))
    assert run.connection_status()["status"] == "SUCCEEDED"
    [warning] = [w for w in warnings_of(run) if "project_type" in w]
    assert "include emailListIds and neither itblUserId nor userListIds" in warning
