"""metadata.yaml agrees with the package, and the spec is fit for Airbyte's UI and secret handling."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydantic
import pytest
import tomllib
import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import (
    ConnectorMetadataDefinitionV0,
)

from source_iterable.catalog import STREAMS
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


IMAGE = "sourceiterable/source-iterable"
SEED_STREAMS = (
    "campaigns channels email_bounce email_click email_complaint email_open email_send email_send_skip "
    "email_subscribe email_unsubscribe list_users lists message_types metadata templates users"
).split()


def dockerfile_value(pattern: str) -> str:
    found = re.search(pattern, (ROOT / "Dockerfile").read_text())
    assert found, f"no {pattern!r} in the Dockerfile"
    return found.group(1)


def test_the_image_tag_the_image_label_and_the_package_version_are_one_version(
    metadata: dict[str, Any],
) -> None:
    # given the three places a release names its version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    label = dockerfile_value(r"ARG CONNECTOR_VERSION=(\S+)")
    assert re.search(r'io\.airbyte\.version="\$\{CONNECTOR_VERSION\}"', (ROOT / "Dockerfile").read_text())

    # then they agree, and this release is 0.3.0
    assert project["name"] == "source-iterable"
    assert str(metadata["dockerImageTag"]) == project["version"] == label == "0.3.0"
    # The installed distribution too: a stale editable install would report the old version.
    assert importlib.metadata.version("source-iterable") == project["version"]


def test_the_image_is_ours_and_not_airbytes(metadata: dict[str, Any]) -> None:
    # airbyte/source-iterable is Airbyte's own connector: a node without our image would pull theirs.
    assert metadata["dockerRepository"] == IMAGE
    assert dockerfile_value(r'io\.airbyte\.name="([^"]+)"') == IMAGE
    assert not metadata["dockerRepository"].startswith("airbyte/")
    assert "docs.airbyte.com" not in metadata["documentationUrl"]


def test_metadata_validates_against_airbytes_metadata_model() -> None:
    # given Airbyte's metadata model, which forbids fields it does not know
    document = yaml.safe_load(METADATA.read_text())

    # when our file is loaded through it
    parsed = ConnectorMetadataDefinitionV0.model_validate(document)

    # then it is a source with our image name
    assert parsed.data.docker_repository == IMAGE
    assert parsed.data.connector_type.value == "source"


def test_the_metadata_model_refuses_a_field_it_does_not_know() -> None:
    # given our metadata with one misspelt field (the model must be strict for the test above to mean much)
    document = yaml.safe_load(METADATA.read_text())
    document["data"]["suggestedStream"] = document["data"]["suggestedStreams"]

    # when / then
    with pytest.raises(pydantic.ValidationError, match="suggestedStream"):
        ConnectorMetadataDefinitionV0.model_validate(document)


def test_metadata_says_what_the_platform_and_the_ui_need(metadata: dict[str, Any]) -> None:
    assert metadata["connectorType"] == "source"
    assert metadata["allowedHosts"]["hosts"][:3] == ["api.iterable.com", "api.eu.iterable.com", "${base_url}"]
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])
    # The UI preselects the 16 seed streams, each a stream of the catalog.
    assert metadata["suggestedStreams"]["streams"] == SEED_STREAMS
    assert set(SEED_STREAMS) <= {spec.name for spec in STREAMS}
    # The platform raises anything lower than 3 hours to 3 hours; a lower value would only mislead.
    assert metadata["maxSecondsBetweenMessages"] >= 10800
    suites = {option["suite"] for option in metadata["connectorTestSuitesOptions"]}
    assert suites == {"unitTests", "integrationTests", "acceptanceTests"}
    kinds = {link["type"] for link in metadata["externalDocumentationUrls"]}
    assert {"api_reference", "authentication_guide", "rate_limits"} <= kinds
    # No breaking change in this release: no releases entry to announce one.
    assert "releases" not in metadata


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_the_sync_pod_can_hold_the_default_read_ahead(metadata: dict[str, Any], spec: dict[str, Any]) -> None:
    """Downloaded records wait in temporary files up to read_ahead_mb; where the pod's temporary
    directory is memory-backed they count as memory, beside the process itself."""
    limits = {
        job["jobType"]: job["resourceRequirements"] for job in metadata["resourceRequirements"]["jobSpecific"]
    }
    read_ahead = spec["properties"]["read_ahead_mb"]["default"] << 20
    process = 256 << 20
    assert memory_bytes(limits["sync"]["memory_limit"]) >= read_ahead + process
    assert memory_bytes(limits["sync"]["memory_request"]) <= memory_bytes(limits["sync"]["memory_limit"])


def test_the_cdk_reads_the_metadata_as_a_python_connector() -> None:
    """The standard tests and the image build read metadata.yaml through this model."""
    parsed = MetadataFile.from_file(METADATA)
    assert parsed.data.language is ConnectorLanguage.PYTHON
    assert parsed.data.dockerRepository == IMAGE


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
