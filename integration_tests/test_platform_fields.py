"""A catalog discovered a while ago still loses nothing: fields its schemas do not declare reach the
warehouse in ``_additional_fields``, judged after Airbyte's field selection (``platform_rule``)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from integration_tests.expectations import (
    START,
    canonical,
    expected_records,
    metrics_by_campaign,
    numbers_of,
)
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import Connector, configured_catalog
from integration_tests.platform_rule import platform_keeps, unfolded
from source_iterable.records import ADDITIONAL_FIELDS

pytestmark = pytest.mark.integration

# One stream of every kind: resources, a paged fan-out, metadata, list members, CSV metrics, users and
# events (a channel's and a project's own custom ones).
OLD_STREAMS = (
    "campaigns",
    "campaigns_metrics",
    "custom_event",
    "email_send",
    "list_users",
    "lists",
    "metadata",
    "purchase",
    "templates",
    "users",
)


def aged(schema: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """The schema as an older discover gave it: only ``keep`` and the fold object declared."""
    old = copy.deepcopy(schema)
    old["properties"] = {k: v for k, v in old["properties"].items() if k in keep or k == ADDITIONAL_FIELDS}
    return old


def test_a_catalog_older_than_the_data_loses_no_value(
    connector: Connector, config: dict[str, Any], server: FakeIterable, discovered: list[dict[str, Any]]
) -> None:
    # given a catalog whose schemas declare only the keys and cursors (the rest came "later")
    catalog = configured_catalog(discovered, "full_refresh", OLD_STREAMS)
    old_schemas: dict[str, dict[str, Any]] = {}
    for entry in catalog["streams"]:
        stream = entry["stream"]
        keep = {path[0] for path in stream.get("source_defined_primary_key", [])}
        keep |= set(stream.get("default_cursor_field", [])) | {"startDateTime"}
        stream["json_schema"] = old_schemas[stream["name"]] = aged(stream["json_schema"], keep)
    started = datetime.now(timezone.utc)

    # when the console script reads with it
    run = connector.run("read", config, catalog)

    # then what the platform keeps of each record, unfolded, is every row Iterable sent
    assert run.returncode == 0, run.all_output[-3000:]
    for name in OLD_STREAMS:
        kept = [platform_keeps(record, old_schemas[name]) for record in run.records(name)]
        assert kept, name
        assert any(ADDITIONAL_FIELDS in record for record in kept), name
        if name == "campaigns_metrics":
            numbers = metrics_by_campaign(server.dataset, START, started + timedelta(seconds=1))
            assert {r["id"]: numbers_of(unfolded(r)) for r in kept} == numbers
            continue
        drop = ("updatedAt",) if name == "list_users" else ()
        expected = expected_records(server.dataset, name, end=started)
        assert canonical(kept, drop=drop) == canonical(expected, drop=drop), name


def test_a_catalog_without_the_fold_object_is_warned_about(
    connector: Connector, config: dict[str, Any], discovered: list[dict[str, Any]]
) -> None:
    # given a catalog discovered before _additional_fields existed
    catalog = configured_catalog(discovered, "full_refresh", ["lists"])
    del catalog["streams"][0]["stream"]["json_schema"]["properties"][ADDITIONAL_FIELDS]

    # when
    run = connector.run("read", config, catalog)

    # then the sync still works, and the log tells the user how to keep the fields Airbyte would drop
    assert run.returncode == 0, run.all_output[-3000:]
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any(
        "'lists'" in w and ADDITIONAL_FIELDS in w and "refresh the source schema" in w for w in warnings
    )
