"""spec, check, discover and read through the real console script against the fake Iterable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest

from integration_tests.expectations import (
    START,
    STREAMS,
    canonical,
    expected_records,
    metrics_by_campaign,
    numbers_of,
)
from integration_tests.expected_objects import experiment_variants
from integration_tests.fake_iterable import FakeIterable
from integration_tests.harness import TEST_API_KEY, Connector, Run, configured_catalog, make_config
from integration_tests.platform_rule import platform_keeps
from source_iterable.records import ADDITIONAL_FIELDS
from unit_tests.rfc3339 import FORMAT_CHECKER

pytestmark = pytest.mark.integration


def assert_no_key_leak(run: Run) -> None:
    assert TEST_API_KEY not in run.all_output


def test_spec_names_the_config_fields(connector: Connector) -> None:
    run = connector.run("spec")
    assert run.returncode == 0, run.all_output
    spec = run.of_type("SPEC")[0]["spec"]["connectionSpecification"]
    assert set(spec["properties"]) >= {"api_key", "start_date", "window_in_days", "region", "base_url"}
    assert spec["properties"]["api_key"]["airbyte_secret"] is True
    assert spec["required"] == ["api_key", "start_date"]


def test_check_succeeds_with_a_server_side_key(connector: Connector, config: dict[str, Any]) -> None:
    run = connector.run("check", config)
    assert run.returncode == 0, run.all_output
    status = run.connection_status()
    assert status["status"] == "SUCCEEDED"
    assert status["message"].startswith("export path: data.json")  # make_config asks for export_api sync
    assert_no_key_leak(run)


def test_discover_declares_every_stream_with_its_keys_and_cursor(discovered: list[dict[str, Any]]) -> None:
    by_name = {stream["name"]: stream for stream in discovered}
    assert sorted(by_name) == sorted(STREAMS)
    for name, expect in STREAMS.items():
        stream = by_name[name]
        assert stream.get("source_defined_primary_key", []) == expect.primary_key, name
        if expect.incremental:
            assert stream["supported_sync_modes"] == ["full_refresh", "incremental"], name
            assert stream["default_cursor_field"] == [expect.cursor], name
            assert stream["source_defined_cursor"] is True, name
        else:
            assert stream["supported_sync_modes"] == ["full_refresh"], name


@pytest.fixture(scope="module")
def full_refresh(
    server: FakeIterable, discovered: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, datetime]:
    server.reset()
    started = datetime.now(timezone.utc)
    run = Connector(tmp_path_factory.mktemp("full")).run(
        "read", make_config(server.base_url), configured_catalog(discovered, "full_refresh")
    )
    return run, started


def test_full_refresh_read_completes_every_stream(full_refresh: tuple[Run, datetime]) -> None:
    run, _ = full_refresh
    assert run.returncode == 0, run.all_output[-3000:]
    assert run.traces() == []
    for name in STREAMS:
        assert run.statuses(name)[-1] == "COMPLETE", name
    assert_no_key_leak(run)


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_full_refresh_emits_exactly_the_dataset(
    full_refresh: tuple[Run, datetime], server: FakeIterable, stream: str
) -> None:
    run, started = full_refresh
    emitted = run.records(stream)
    if stream == "campaigns_metrics":
        # one record per campaign, every cell of its CSV row a number, over start_date..sync start
        expected_numbers = metrics_by_campaign(server.dataset, START, started + timedelta(seconds=1))
        assert {r["id"]: numbers_of(r) for r in emitted} == expected_numbers
        assert len(emitted) == len(server.dataset.campaigns)
        return
    if stream == "experiment_metrics":
        # one record per experiment and variant, every number of its CSV row typed, its texts kept
        variants = experiment_variants(server.dataset, START, started + timedelta(seconds=1))
        found = {
            (r["experimentId"], r["templateId"]): {
                "numbers": numbers_of(r),
                "texts": {r.get("name"), r.get("type"), r.get("createdBy"), r.get("subject")},
            }
            for r in emitted
        }
        assert found == variants and len(emitted) == len(variants) > 0
        return
    expected = expected_records(server.dataset, stream, end=started)
    assert len(expected) > 0, f"the fake dataset has no {stream} rows: the test would prove nothing"
    assert canonical(emitted, drop=("updatedAt",) if stream == "list_users" else ()) == canonical(expected)


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_every_record_validates_against_its_declared_schema(
    full_refresh: tuple[Run, datetime], discovered: list[dict[str, Any]], stream: str
) -> None:
    run, _ = full_refresh
    schema = next(s["json_schema"] for s in discovered if s["name"] == stream)
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)
    records = run.records(stream)
    assert records
    for record in records:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert errors == [], (stream, record)


# Streams whose fake rows carry keys the discovered schema does not declare (a project's own fields).
FOLDED_STREAMS = ("custom_event", "email_subscribe", "purchase")


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_every_record_reaches_the_warehouse_whole(
    full_refresh: tuple[Run, datetime], discovered: list[dict[str, Any]], stream: str
) -> None:
    # given what the console script printed for this stream
    run, _ = full_refresh
    schema = next(s["json_schema"] for s in discovered if s["name"] == stream)
    records = run.records(stream)
    assert records

    # when Airbyte's platform keeps only the declared top-level keys, then nothing is lost
    for record in records:
        assert platform_keeps(record, schema) == record, (
            stream,
            sorted(set(record) - set(schema["properties"])),
        )
    if stream in FOLDED_STREAMS:
        assert any(ADDITIONAL_FIELDS in record for record in records), (
            "the fake must send undeclared keys here"
        )


def test_list_users_carry_the_sync_start_time(full_refresh: tuple[Run, datetime]) -> None:
    run, started = full_refresh
    stamps = {record["updatedAt"] for record in run.records("list_users")}
    assert len(stamps) == 1
    stamp = datetime.fromisoformat(stamps.pop().replace("Z", "+00:00"))
    assert abs((stamp - started).total_seconds()) < 60


def test_users_renames_only_the_two_clashing_fields(full_refresh: tuple[Run, datetime]) -> None:
    run, _ = full_refresh
    users = run.records("users")
    renamed = [u for u in users if "_industry" in u]
    assert renamed, "the dataset must hold users with Industry for this test to mean anything"
    for user in renamed:
        assert "Industry" not in user and "offers.Intro APR" not in user
        assert "_offers.intro APR" in user
        assert "industry" in user  # the lower-case twin keeps its name
    assert any(key.startswith("itblInternal.") for u in users for key in u)
