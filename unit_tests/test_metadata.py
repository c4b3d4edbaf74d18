"""metadata.yaml agrees with the package, and the spec is fit for Airbyte's UI and secret handling."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

from source_iterable.source import SourceIterable

ROOT = Path(__file__).resolve().parents[1]
METADATA = ROOT / "metadata.yaml"
SECRET_WORDS = re.compile(r"key|secret|token|password", re.IGNORECASE)


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    return dict(yaml.safe_load(METADATA.read_text())["data"])


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec the connector prints, not the file it is read from."""
    return dict(SourceIterable().spec(logging.getLogger("test")).connectionSpecification)


def properties(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(path, name, schema) of every property, nested objects and oneOf/anyOf/allOf branches included."""
    for name, prop in schema.get("properties", {}).items():
        here = f"{path}.{name}" if path else name
        yield here, name, prop
        yield from properties(prop, here)
    for combinator in ("oneOf", "anyOf", "allOf"):
        for index, branch in enumerate(schema.get(combinator, [])):
            yield from properties(branch, f"{path}[{combinator}{index}]")


def test_the_image_tag_is_the_package_version(metadata: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "source-iterable"
    assert str(metadata["dockerImageTag"]) == project["version"]
    # The installed distribution too: a stale editable install would report the old version.
    assert importlib.metadata.version("source-iterable") == project["version"]


def test_metadata_names_the_connector(metadata: dict[str, Any]) -> None:
    assert metadata["connectorType"] == "source"
    assert metadata["dockerRepository"] == "airbyte/source-iterable"
    assert {"api.iterable.com", "api.eu.iterable.com"} <= set(metadata["allowedHosts"]["hosts"])
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])


def test_the_cdk_reads_the_metadata_as_a_python_connector() -> None:
    """The standard tests and the image build read metadata.yaml through this model."""
    parsed = MetadataFile.from_file(METADATA)
    assert parsed.data.language is ConnectorLanguage.PYTHON
    assert parsed.data.dockerRepository == "airbyte/source-iterable"


def test_secrets_are_marked(spec: dict[str, Any]) -> None:
    found = {path: prop for path, _, prop in properties(spec)}
    assert found["api_key"].get("airbyte_secret") is True
    unmarked = [
        path
        for path, name, prop in properties(spec)
        if SECRET_WORDS.search(name) and prop.get("airbyte_secret") is not True
    ]
    assert unmarked == []


def test_every_property_has_a_title_a_description_and_an_order(spec: dict[str, Any]) -> None:
    found = list(properties(spec))
    assert len(found) >= 6
    for path, _, prop in found:
        assert isinstance(prop.get("title"), str) and prop["title"].strip(), path
        assert isinstance(prop.get("description"), str) and prop["description"].strip(), path
        assert isinstance(prop.get("order"), int), path
    top_level_orders = [prop["order"] for prop in spec["properties"].values()]
    assert len(set(top_level_orders)) == len(top_level_orders), "two fields share an order"


def test_start_date_says_which_forms_it_takes(spec: dict[str, Any]) -> None:
    start_date = spec["properties"]["start_date"]
    assert start_date["pattern"] and start_date["pattern_descriptor"]
    pattern = re.compile(start_date["pattern"])
    for example in start_date["examples"]:
        assert pattern.search(example), example
    assert not pattern.search("2024-13")
