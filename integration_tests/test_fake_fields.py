"""The fake server's GET /api/users/getFields, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from integration_tests.fake_iterable import FakeIterable
from integration_tests.fake_iterable.fields import ITERABLE_FIELDS, PER_SECOND, field_types

KEY = "fields-test-key"
RO_KEY = "fields-read-only-key"
PATH = "/api/users/getFields"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIterable]:
    with FakeIterable(api_keys=[KEY], readonly_keys=[RO_KEY]) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(server: FakeIterable) -> None:
    server.reset()
    time.sleep(1.05)  # a fresh one-second budget for every test


def get_fields(server: FakeIterable, key: str | None = KEY) -> requests.Response:
    headers = {"Api-Key": key} if key else {}
    return requests.get(server.base_url + PATH, headers=headers, timeout=10)


def reported(server: FakeIterable) -> dict[str, str]:
    response = get_fields(server)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"fields"}
    fields: dict[str, str] = body["fields"]
    return fields


def test_it_reports_iterables_own_fields_with_their_recorded_types(server: FakeIterable) -> None:
    # when
    fields = reported(server)

    # then
    for name, kind in ITERABLE_FIELDS.items():
        assert fields[name] == kind, name
    # arrays are reported by the type of their elements, devices (an array of objects) as an object
    assert fields["emailListIds"] == "long"
    assert fields["devices"] == "object" and fields["devices.token"] == "string"
    # flattened internal keys come without a parent
    assert "itblInternal" not in fields


def test_it_reports_custom_fields_of_every_type(server: FakeIterable) -> None:
    # when
    fields = reported(server)

    # then
    assert fields["firstName"] == "string"
    assert fields["loyaltyPoints"] == "long"
    assert fields["lifetimeValue"] == "double"
    assert fields["isVip"] == "boolean"
    assert fields["lastPurchaseDate"] == "date"
    assert fields["someDate"] == "date"
    assert fields["homeLocation"] == "geo_location"
    assert fields["membership"] == "object" and fields["membership.since"] == "date"
    assert (
        fields["membership.benefits"] == "object" and fields["membership.benefits.freeShipping"] == "boolean"
    )
    assert fields["orders"] == "nested" and fields["orders.placedAt"] == "date"
    assert fields["orders.total"] == "double" and fields["orders.items"] == "long"
    # sub-fields delivered flattened are reported under a parent object
    assert fields["subscription"] == "object" and fields["subscription.startedAt"] == "date"
    assert fields["offers"] == "object" and fields["offers.Intro APR"] == "long"
    # both spellings of the case collisions
    assert fields["Industry"] == fields["industry"] == "string"
    assert fields["customerId"] == fields["CustomerId"] == "string"


def test_every_key_of_every_user_in_the_dataset_is_reported(server: FakeIterable) -> None:
    # given
    users = server.dataset.exports["user"]
    keys = {key for user in users for key in user}

    # when
    fields = reported(server)

    # then
    assert keys - set(fields) == set()
    assert fields == field_types(users)


def test_the_dataset_holds_a_value_of_every_custom_type(server: FakeIterable) -> None:
    # given the users the export serves
    users = server.dataset.exports["user"]

    # then each custom shape occurs, so the connector's tests exercise them
    locations = [u["homeLocation"] for u in users if "homeLocation" in u]
    assert locations and all(isinstance(p, dict) and set(p) == {"lat", "lon"} for p in locations)
    assert any(isinstance(u.get("orders"), list) and u["orders"] for u in users)
    assert any("subscription.startedAt" in u for u in users)
    assert any(str(u.get("lastPurchaseDate", "")).endswith(" +00:00") for u in users)
    assert sum("customerId" in u and "CustomerId" in u for u in users) >= 3


def test_a_field_of_an_added_user_is_reported_and_a_first_type_stays(server: FakeIterable) -> None:
    # given a user with a new field, and another value for a field whose type the dataset fixed
    server.add_events(
        "user",
        [
            {
                "email": "new@example.com",
                "profileUpdatedAt": "2024-02-01 00:00:00 +00:00",
                "referralCode": "R-1",
                "loyaltyPoints": "many",
            }
        ],
    )

    # when
    fields = reported(server)

    # then
    assert fields["referralCode"] == "string"
    assert fields["loyaltyPoints"] == "long"


def test_it_allows_3_calls_a_second_then_answers_iterables_429(server: FakeIterable) -> None:
    # when the budget of one second is spent, and one more call follows at once
    answers = [get_fields(server) for _ in range(PER_SECOND + 1)]

    # then
    assert [a.status_code for a in answers] == [200] * PER_SECOND + [429]
    assert answers[-1].json() == {
        "msg": f"Exceeded rate limit of 180.0 per minute for endpoint: {PATH}, project: 2158 ",
        "code": "RateLimitExceeded",
        "params": {},
    }
    assert "Retry-After" not in answers[-1].headers
    # and a second later the budget is back
    time.sleep(1.05)
    assert get_fields(server).status_code == 200


def test_keys_are_checked_and_a_read_only_key_may_call_it(server: FakeIterable) -> None:
    assert get_fields(server, key=None).status_code == 401
    assert get_fields(server, key="wrong").json()["code"] == "BadApiKey"
    assert get_fields(server, key=RO_KEY).status_code == 200


@pytest.mark.parametrize(("status", "code"), [(500, "GenericError"), (403, "Forbidden")])
def test_faults_can_be_injected_on_it(server: FakeIterable, status: int, code: str) -> None:
    # given
    server.add_fault({"path": PATH, "kind": "status", "status": status, "times": 1})

    # when
    first, second = get_fields(server), get_fields(server)

    # then
    assert first.status_code == status and first.json()["code"] == code
    assert second.status_code == 200
    assert server.stats()["requests"][PATH] == 2
