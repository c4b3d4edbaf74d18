"""The fake's endpoints of issue 17 over real HTTP: what each answers, pages, refuses and limits
(fake_iterable/objects_api.py and experiments.py say which source each rule follows)."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.experiments import HEADER, build_variants
from integration_tests.fake_iterable.objects import CATALOG_SIZES

KEY = "objects-test-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeIterable]:
    with FakeIterable(api_keys=[KEY]) as server:
        yield server


def get(server: FakeIterable, path: str, **params: Any) -> requests.Response:
    return requests.get(server.base_url + path, params=params, headers={"Api-Key": KEY}, timeout=10)


def test_journeys_page_by_50_at_most_and_list_archived_ones_apart(fake: FakeIterable) -> None:
    active = [get(fake, "/api/journeys", page=page, pageSize=50).json() for page in (1, 2, 3)]
    archived = get(fake, "/api/journeys", state="Archived", pageSize=50).json()

    assert [len(body["journeys"]) for body in active] == [50, 50, 18]
    assert all(not j["isArchived"] for body in active for j in body["journeys"])
    assert "nextPageUrl" in active[1] and "nextPageUrl" not in active[2]
    assert archived["totalJourneysCount"] == len(archived["journeys"]) == 19
    assert all(j["isArchived"] for j in archived["journeys"])
    assert get(fake, "/api/journeys", pageSize=51).status_code == 400


def test_catalog_answers_come_in_iterables_envelope_and_an_unknown_catalog_is_the_recorded_404(
    fake: FakeIterable,
) -> None:
    listing = get(fake, "/api/catalogs", pageSize=100).json()
    last_page = get(fake, "/api/catalogs/products/items", page=3, pageSize=1000).json()
    missing = get(fake, "/api/catalogs/nope/items")

    assert listing["code"] == "Success"
    assert [c["name"] for c in listing["params"]["catalogNames"]] == list(CATALOG_SIZES)
    assert len(last_page["params"]["catalogItemsWithProperties"]) == CATALOG_SIZES["products"] - 2000
    assert get(fake, "/api/catalogs/empty-catalog/items").json()["params"]["catalogItemsWithProperties"] == []
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    assert "catalog nope, but it does not yet exist" in missing.json()["msg"]
    assert get(fake, "/api/catalogs/products/items", pageSize=1001).status_code == 400


def test_catalog_items_come_newest_first_with_either_form_of_last_modified(fake: FakeIterable) -> None:
    numbers = get(fake, "/api/catalogs/recipes/items", pageSize=1000).json()["params"][
        "catalogItemsWithProperties"
    ]
    texts = get(fake, "/api/catalogs/stores/items").json()["params"]["catalogItemsWithProperties"]

    stamps = [item["lastModified"] for item in numbers]
    assert all(isinstance(s, int) for s in stamps) and stamps == sorted(stamps, reverse=True)
    assert all(isinstance(item["lastModified"], str) and item["lastModified"].endswith("Z") for item in texts)


def test_experiment_metrics_answers_the_recorded_csv_form(fake: FakeIterable) -> None:
    variants = build_variants(fake.dataset)
    campaign = variants[0].campaign_id

    named = get(fake, "/api/experiments/metrics", campaignId=campaign, startDateTime="2023-01-01T00:00:00Z")
    nothing_named = get(fake, "/api/experiments/metrics")

    assert named.status_code == 200 and "\r\n" in named.text and not named.text.endswith("\n")
    rows = list(csv.reader(io.StringIO(named.text, newline="")))
    assert rows[0] == HEADER.split(",")
    assert [int(r[0]) for r in rows[1:]] == [campaign] * sum(v.campaign_id == campaign for v in variants)
    assert rows[1][4] == "Control" and rows[1][9] == "N/A"
    assert nothing_named.text == HEADER  # a call naming neither campaign nor experiment
    assert any(v.confidence == "NaN" for v in variants), "the data must hold NaN cells"


def test_experiment_metrics_refuses_a_uri_over_2048_characters(fake: FakeIterable) -> None:
    ids = [c["id"] for c in fake.dataset.campaigns][:120]

    response = get(fake, "/api/experiments/metrics", campaignId=ids)

    assert len(response.request.path_url) > 2048
    assert response.status_code == 414 and "2048" in response.text


def test_forgotten_users_answer_the_lists_of_the_project_type(fake: FakeIterable) -> None:
    # given the email-based fake
    emails = get(fake, "/api/users/forgotten")
    user_ids = get(fake, "/api/users/forgottenUserIds")

    # then hashed emails, each the SHA-256 of a lower-cased, trimmed address; an error for userIds
    hashes = emails.json()["hashedEmails"]
    assert hashlib.sha256(b"former.customer@example.com").hexdigest() in hashes
    assert user_ids.status_code == 400


def test_forgotten_users_are_limited_to_3_a_second(fake: FakeIterable) -> None:
    # given a second without calls
    time.sleep(1.1)

    # when 6 calls go at once
    started = time.monotonic()
    statuses = [get(fake, "/api/users/forgotten").status_code for _ in range(6)]
    elapsed = time.monotonic() - started

    # then 3 pass and the others meet Iterable's 429
    assert elapsed < 1.0, "the calls must fall in one second for this test to mean anything"
    assert statuses == [200, 200, 200, 429, 429, 429]
