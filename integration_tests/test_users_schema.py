"""The users stream as the project defines it (issue 10), through the real console script: discover types
the fake project's custom fields from GET /api/users/getFields, a sync converts its date fields, and a
failing getFields leaves discover and the sync working with one WARN."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest

from integration_tests.expectations import canonical, expected_records
from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.fields import field_types
from integration_tests.harness import TEST_API_KEY, Connector, Run, configured_catalog, make_config
from unit_tests.rfc3339 import FORMAT_CHECKER, closed, is_rfc3339_date_time

pytestmark = pytest.mark.integration
FIELDS_PATH = "/api/users/getFields"
EXPORT_PATH = "/api/export/data.json"
RENAMES = {"Industry": "_industry", "offers.Intro APR": "_offers.intro APR"}


def users_stream(run: Run) -> dict[str, Any]:
    [catalog] = run.of_type("CATALOG")
    stream: dict[str, Any] = next(s for s in catalog["catalog"]["streams"] if s["name"] == "users")
    return stream


def warnings(run: Run) -> list[str]:
    return [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]


def assert_clean(run: Run) -> None:
    assert TEST_API_KEY not in run.all_output
    assert "Traceback" not in run.all_output


def values_at(node: Any, parts: list[str]) -> Iterator[Any]:
    """Every value a dotted path names in a record: as a dotted key, nested, or inside arrays."""
    if isinstance(node, list):
        for item in node:
            yield from values_at(item, parts)
        return
    if not isinstance(node, dict):
        return
    for cut in range(1, len(parts) + 1):
        key = ".".join(parts[:cut])
        if key in node:
            if cut == len(parts):
                yield node[key]
            else:
                yield from values_at(node[key], parts[cut:])


def read_users(connector: Connector, server: FakeIterable, stream: dict[str, Any]) -> Run:
    return connector.run("read", make_config(server.base_url), configured_catalog([stream], "full_refresh"))


@pytest.fixture(scope="module")
def discovered_users(server: FakeIterable, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, int]:
    server.reset()
    run = Connector(tmp_path_factory.mktemp("users-discover")).run("discover", make_config(server.base_url))
    return run, server.stats()["requests"].get(FIELDS_PATH, 0)


@pytest.fixture(scope="module")
def users_sync(
    server: FakeIterable, discovered_users: tuple[Run, int], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, list[dict[str, Any]], datetime]:
    server.reset()
    started = datetime.now(timezone.utc)
    run = read_users(
        Connector(tmp_path_factory.mktemp("users-read")), server, users_stream(discovered_users[0])
    )
    return run, server.stats()["log"], started


def test_discover_declares_the_projects_custom_fields_with_their_types(
    discovered_users: tuple[Run, int],
) -> None:
    run, _ = discovered_users
    assert run.returncode == 0, run.all_output[-2000:]
    schema = users_stream(run)["json_schema"]
    properties = schema["properties"]

    assert properties["loyaltyPoints"]["type"] == ["null", "integer"]
    assert properties["lifetimeValue"]["type"] == ["null", "number"]
    assert properties["isVip"]["type"] == ["null", "boolean"]
    assert properties["favoriteCategory"]["type"] == ["null", "string"]
    assert properties["lastPurchaseDate"]["type"] == ["null", "string"]
    assert properties["lastPurchaseDate"]["format"] == "date-time"
    assert properties["homeLocation"]["properties"]["lat"]["type"] == ["null", "number"]
    assert properties["membership"]["properties"]["since"]["format"] == "date-time"
    assert properties["membership"]["properties"]["benefits"]["properties"]["freeShipping"]["type"] == [
        "null",
        "boolean",
    ]
    assert properties["orders"]["type"] == ["null", "array"]
    assert properties["orders"]["items"]["properties"]["placedAt"]["format"] == "date-time"
    assert properties["subscription.startedAt"]["format"] == "date-time"
    assert properties["subscription"]["properties"]["startedAt"]["format"] == "date-time"
    # Iterable's own fields keep our precise declarations, and the schema stays open
    assert properties["emailListIds"]["type"] == ["null", "array"]
    assert properties["devices"]["type"] == ["null", "array"]
    assert schema["additionalProperties"] is True
    assert_clean(run)


def test_discover_declares_every_field_getfields_reports_renamed_like_the_records(
    server: FakeIterable, discovered_users: tuple[Run, int]
) -> None:
    run, calls = discovered_users
    properties = users_stream(run)["json_schema"]["properties"]
    reported = field_types(server.dataset.exports["user"])

    assert (
        sorted(RENAMES.get(name, name) for name in reported if RENAMES.get(name, name) not in properties)
        == []
    )
    assert "Industry" not in properties and "offers.Intro APR" not in properties
    assert calls == 1


def test_discover_warns_once_about_names_that_differ_only_by_case(discovered_users: tuple[Run, int]) -> None:
    run, _ = discovered_users

    [warning] = [w for w in warnings(run) if "differ only by letter case" in w]
    assert "'CustomerId' / 'customerId'" in warning
    assert "'Industry' / 'industry'" not in warning  # renamed: no longer a pair


def test_every_users_record_validates_against_the_closed_discovered_schema(
    discovered_users: tuple[Run, int], users_sync: tuple[Run, list[dict[str, Any]], datetime]
) -> None:
    run, _, _ = users_sync
    assert run.returncode == 0, run.all_output[-2000:]
    validator = jsonschema.Draft7Validator(
        closed(users_stream(discovered_users[0])["json_schema"]), format_checker=FORMAT_CHECKER
    )
    records = run.records("users")

    assert len(records) > 100
    for record in records:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert errors == [], record
    assert_clean(run)


def test_every_date_field_comes_out_rfc3339(
    server: FakeIterable, users_sync: tuple[Run, list[dict[str, Any]], datetime]
) -> None:
    run, _, _ = users_sync
    records = run.records("users")
    dates = [name for name, kind in field_types(server.dataset.exports["user"]).items() if kind == "date"]

    seen = {
        name: [v for r in records for v in values_at(r, name.split(".")) if v is not None] for name in dates
    }
    for name in (
        "lastPurchaseDate",
        "someDate",
        "membership.since",
        "orders.placedAt",
        "subscription.startedAt",
    ):
        assert seen[name], f"no {name} in the records: the test would prove nothing"
    for name, values in seen.items():
        assert all(isinstance(v, str) and is_rfc3339_date_time(v) for v in values), (name, values[:3])
    assert all("_unparsed_dates" not in r for r in records)


def test_the_sync_emits_exactly_the_dataset_with_its_dates_converted(
    server: FakeIterable, users_sync: tuple[Run, list[dict[str, Any]], datetime]
) -> None:
    run, _, started = users_sync

    assert canonical(run.records("users")) == canonical(
        expected_records(server.dataset, "users", end=started)
    )


def test_a_sync_calls_getfields_once_before_its_first_export_request(
    users_sync: tuple[Run, list[dict[str, Any]], datetime],
) -> None:
    _, log, _ = users_sync
    paths = [entry["path"] for entry in log]

    assert paths.count(FIELDS_PATH) == 1
    assert paths.index(FIELDS_PATH) < paths.index(EXPORT_PATH)


@pytest.mark.parametrize("status", [500, 403])
def test_a_failing_getfields_leaves_discover_working_with_one_warning(
    server: FakeIterable, connector: Connector, config: dict[str, Any], status: int
) -> None:
    # given getFields fails on every call
    server.add_fault({"path": FIELDS_PATH, "kind": "status", "status": status, "times": None})

    # when
    run = connector.run("discover", config)

    # then discover succeeds, users has its static schema, and one WARN says why
    assert run.returncode == 0, run.all_output[-2000:]
    stream = users_stream(run)
    assert "loyaltyPoints" not in stream["json_schema"]["properties"]
    assert stream["json_schema"]["properties"]["profileUpdatedAt"]["format"] == "date-time"
    [warning] = [w for w in warnings(run) if "custom fields are not typed" in w]
    assert f"HTTP {status}" in warning
    assert run.traces() == []
    assert len(run.of_type("CATALOG")[0]["catalog"]["streams"]) > 1
    assert_clean(run)


def test_when_getfields_fails_during_a_sync_the_catalogs_date_fields_are_converted(
    server: FakeIterable, connector: Connector, discovered_users: tuple[Run, int]
) -> None:
    # given a catalog from a discover that typed the custom fields, and getFields down during the sync
    stream = users_stream(discovered_users[0])
    server.add_fault({"path": FIELDS_PATH, "kind": "status", "status": 500, "times": None})

    # when
    run = read_users(connector, server, stream)

    # then the sync completes, its dates are converted, its records validate, and a WARN says why
    assert run.returncode == 0, run.all_output[-2000:]
    validator = jsonschema.Draft7Validator(closed(stream["json_schema"]), format_checker=FORMAT_CHECKER)
    records = run.records("users")
    assert records and all(validator.is_valid(record) for record in records)
    assert any(is_rfc3339_date_time(r.get("lastPurchaseDate")) and "lastPurchaseDate" in r for r in records)
    [warning] = [w for w in warnings(run) if "field list could not be read" in w]
    assert "lastPurchaseDate" in warning and "HTTP 500" in warning
    assert not [w for w in warnings(run) if "deprecated" in w]  # the catalog's fields are this sync's
    assert_clean(run)


def test_a_date_value_that_is_not_a_date_is_kept_and_the_record_still_validates(
    server: FakeIterable, connector: Connector, discovered_users: tuple[Run, int]
) -> None:
    # given a user whose date fields hold a value that is not a date
    server.add_events(
        "user",
        [
            {
                "email": "odd.dates@example.com",
                "profileUpdatedAt": "2024-02-10 18:02:45 +00:00",
                "lastPurchaseDate": "13/11/2015",
                "membership": {"since": "next spring", "tier": "gold"},
            }
        ],
    )
    stream = users_stream(discovered_users[0])

    # when
    run = read_users(connector, server, stream)

    # then the row is emitted, the values are kept under _unparsed_dates, and it validates
    assert run.returncode == 0, run.all_output[-2000:]
    [odd] = [r for r in run.records("users") if r.get("email") == "odd.dates@example.com"]
    assert odd["_unparsed_dates"] == [
        {"field": "lastPurchaseDate", "value": "13/11/2015"},
        {"field": "membership.since", "value": "next spring"},
    ]
    assert "lastPurchaseDate" not in odd and odd["membership"] == {"tier": "gold"}
    validator = jsonschema.Draft7Validator(closed(stream["json_schema"]), format_checker=FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(odd)] == []
    assert_clean(run)
