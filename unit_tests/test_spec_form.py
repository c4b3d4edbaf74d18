"""The spec as Airbyte's connector form renders it (conventions: ../shared/airbyte-platform-notes.md §6).

The webapp sorts fields by ``order`` within each ``group`` (cards in the order of ``groups``), folds
optional fields into "Optional fields" unless ``always_show``, drops ``airbyte_hidden`` ones, checks
``pattern`` with ``new RegExp`` in the browser, and turns ``format: date-time`` into a date picker.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from source_iterable.config import ConfigError, parse_config, parse_start_date
from source_iterable.source import SourceIterable

from .builders import NOW, config_dict


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec the connector prints, not the file it is read from."""
    return dict(SourceIterable().spec(logging.getLogger("test")).connectionSpecification)


def fields(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(spec["properties"])


def test_every_field_sits_in_a_declared_group_with_a_title(spec: dict[str, Any]) -> None:
    groups = spec["groups"]
    ids = [group["id"] for group in groups]

    assert len(set(ids)) == len(ids)
    # The platform appends its own "advanced" card (resource allocation); a group of ours by that id
    # would merge with it.
    assert "advanced" not in ids
    assert all(isinstance(group["title"], str) and group["title"].strip() for group in groups)
    assert {
        name: prop.get("group") for name, prop in fields(spec).items() if prop.get("group") not in ids
    } == {}
    assert {prop["group"] for prop in fields(spec).values()} == set(ids), "a declared group holds no field"


def test_order_is_unique_within_each_group(spec: dict[str, Any]) -> None:
    by_group: dict[str, list[int]] = {}
    for prop in fields(spec).values():
        by_group.setdefault(prop["group"], []).append(prop["order"])

    assert {group: orders for group, orders in by_group.items() if len(set(orders)) != len(orders)} == {}


def test_the_form_reads_top_down_what_everyone_sets_then_what_some_set_then_tuning(
    spec: dict[str, Any],
) -> None:
    # given the fields in the order the form shows them: cards in group order, fields by order
    group_rank = {group["id"]: rank for rank, group in enumerate(spec["groups"])}
    shown = sorted(fields(spec).items(), key=lambda item: (group_rank[item[1]["group"]], item[1]["order"]))
    names = [name for name, prop in shown if not prop.get("airbyte_hidden")]

    # then the fields every user fills come first, the tuning knobs last
    assert names[:3] == ["api_key", "start_date", "region"]
    assert set(spec["required"]) <= set(names[:3])
    assert [group["id"] for group in spec["groups"]] == ["project", "streams", "tuning"]
    assert {name for name, prop in fields(spec).items() if prop["group"] == "streams"} == {
        "project_type",
        "list_users_source",
        "export_api",
    }
    tuning = {name for name, prop in fields(spec).items() if prop["group"] == "tuning"}
    assert {"lookback_minutes", "read_ahead_mb", "read_ahead_windows", "window_in_days"} <= tuning
    # orders also grow from card to card, so the file reads in the same order as the form
    orders = [prop["order"] for _, prop in shown]
    assert orders == sorted(orders)


def test_region_stays_visible_outside_optional_fields(spec: dict[str, Any]) -> None:
    # An EU user who never opens "Optional fields" would get a 401 with the US default.
    region = fields(spec)["region"]
    assert "region" not in spec["required"]
    assert region["always_show"] is True
    assert not region.get("airbyte_hidden")


def test_base_url_is_hidden_from_the_form(spec: dict[str, Any]) -> None:
    base_url = fields(spec)["base_url"]
    assert base_url["airbyte_hidden"] is True
    assert "base_url" not in spec["required"]
    # the form never offers plain http to a remote host
    assert all(example.startswith("https://") for example in base_url["examples"])


def test_group_is_only_set_on_top_level_fields(spec: dict[str, Any]) -> None:
    for name, prop in fields(spec).items():
        for nested in prop.get("properties", {}).values():
            assert "group" not in nested, name


def test_every_field_but_the_secret_has_examples(spec: dict[str, Any]) -> None:
    missing = [
        name
        for name, prop in fields(spec).items()
        if not prop.get("airbyte_secret") and not prop.get("examples")
    ]
    assert missing == []


def test_every_integer_field_has_a_sensible_range_around_its_default(spec: dict[str, Any]) -> None:
    for name, prop in fields(spec).items():
        if prop["type"] != "integer":
            continue
        assert isinstance(prop.get("maximum"), int), f"{name} has no maximum"
        assert prop["minimum"] <= prop["default"] <= prop["maximum"], name
        assert all(prop["minimum"] <= example <= prop["maximum"] for example in prop["examples"]), name


def test_the_parser_takes_exactly_the_integer_range_the_form_allows(spec: dict[str, Any]) -> None:
    for name, prop in fields(spec).items():
        if prop["type"] != "integer":
            continue
        for inside in (prop["minimum"], prop["maximum"]):
            parse_config(config_dict(**{name: inside}), NOW)
        for outside in (prop["minimum"] - 1, prop["maximum"] + 1):
            with pytest.raises(ConfigError) as caught:
                parse_config(config_dict(**{name: outside}), NOW)
            assert caught.value.field == name


def example_configs(spec: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(name, example, id=f"{name}={example!r}")
        for name, prop in fields(spec).items()
        for example in prop.get("examples", [])
    ]


def all_examples() -> list[Any]:
    spec = dict(SourceIterable().spec(logging.getLogger("test")).connectionSpecification)
    return example_configs(spec)


@pytest.mark.parametrize(("name", "example"), all_examples())
def test_every_example_is_accepted_by_its_pattern_and_by_the_connector(
    spec: dict[str, Any], name: str, example: Any
) -> None:
    prop = fields(spec)[name]
    # the form's check (the browser runs new RegExp(pattern).test(value), a search like re.search)
    if "pattern" in prop:
        assert re.search(prop["pattern"], example), f"{name}: {example!r} fails the form's pattern"
    if "enum" in prop:
        assert example in prop["enum"]
    # and the connector's own parser takes the same value
    assert parse_config(config_dict(**{name: example}), NOW) is not None


@pytest.mark.parametrize(
    "typed",
    [
        "2024-01-31",
        "01/31/2024",
        "2024-01-31T00:00:00Z",
        "2024-01-31T00:00:00.000Z",
        "2024-01-31T02:00:00+02:00",
    ],
)
def test_every_documented_start_date_form_passes_the_form_and_the_parser(
    spec: dict[str, Any], typed: str
) -> None:
    start_date = fields(spec)["start_date"]

    assert re.search(start_date["pattern"], typed)
    assert parse_start_date(typed) == datetime(2024, 1, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("typed", "form_refuses"),
    [
        ("2024-01-31 00:00:00", True),
        ("2024-01-31T00:00", True),
        ("2024-01-31T00:00:00", True),  # no zone: the connector will not guess one
        ("yesterday", True),
        # digits in the right places: only the parser knows there is no month 13 or 31
        ("2024-13-01", False),
        ("31/01/2024", False),
    ],
)
def test_what_the_parser_refuses_the_form_refuses_where_a_pattern_can_tell(
    spec: dict[str, Any], typed: str, form_refuses: bool
) -> None:
    start_date = fields(spec)["start_date"]

    with pytest.raises(ConfigError):
        parse_start_date(typed)
    assert (re.search(start_date["pattern"], typed) is None) is form_refuses


def date_picker_value(pattern: str, moment: datetime) -> str:
    """What Airbyte's DatePicker writes into a ``format: date-time`` field: ``YYYY-MM-DDTHH:mm:ss[Z]``,
    or with milliseconds when the field's pattern ends in ``.[0-9]{3}Z$`` (webapp DatePicker/utils.ts)."""
    with_millis = pattern.endswith(r".[0-9]{3}Z$") or pattern.endswith(r"\.[0-9]{3}Z$")
    if with_millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_start_date_gets_the_date_picker_and_accepts_what_it_writes(spec: dict[str, Any]) -> None:
    # given the start_date field, a date picker in the form
    start_date = fields(spec)["start_date"]
    assert start_date["type"] == "string" and start_date["format"] == "date-time"
    moment = datetime(2024, 3, 9, 17, 45, 12, 345000, tzinfo=timezone.utc)

    # when the picker writes a moment (in the form it picks for this pattern, and in the other form)
    picked = date_picker_value(start_date["pattern"], moment)
    both = {picked, moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}

    # then the form's pattern and the connector accept each, as that moment in whole seconds
    for written in both:
        assert re.search(start_date["pattern"], written), written
        assert parse_start_date(written) == moment.replace(microsecond=0), written
