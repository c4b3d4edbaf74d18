"""The seeded objects a project keeps beside its users and events: journeys, catalogs and their items,
snippets, webhooks and the users Iterable was asked to forget.

``build_objects(dataset)`` is pure and deterministic (the dataset's seed and project type), so tests
compute the expected records from it without a server. Shapes follow ../shared/iterable-api-more.md
section 6 and the recorded answers cited there; values are INVENTED.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timezone

from .data import MARKETERS, Dataset
from .timefmt import epoch_ms

Row = dict[str, object]
LOW, HIGH = epoch_ms(2023, 1, 1), epoch_ms(2024, 6, 30, 23, 59, 59)
# Catalog name -> item count: an empty catalog, one of several 1000-item pages, one exactly a page and
# one over it, and a small one whose items carry lastModified as an ISO string (the spec's type) where
# the others carry epoch milliseconds (the recorded answer and the official client's type).
CATALOG_SIZES = {"products": 2345, "stores": 12, "empty-catalog": 0, "recipes": 1001, "gift-cards": 1000}
ISO_LAST_MODIFIED = frozenset({"stores"})
JOURNEYS = 137
ARCHIVED_JOURNEYS = 19


@dataclass
class Objects:
    journeys: list[Row]  # archived ones included (isArchived)
    catalogs: dict[str, list[Row]]  # name -> items, newest lastModified first (the API's default order)
    snippets: list[Row]
    webhooks: list[Row]
    forgotten_emails: list[str]  # SHA-256 hex of the lower-cased, trimmed address
    forgotten_user_ids: list[str]


def forgotten_hash(identifier: str) -> str:
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()


def iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _journeys(rng: random.Random) -> list[Row]:
    triggers = ["purchase", "cartAbandoned", "signup", "appOpened", "priceDrop"]
    out: list[Row] = []
    for index in range(JOURNEYS):
        created = rng.randint(LOW, HIGH - 86_400_000)
        journey: Row = {
            "id": 30_001 + index * 3,
            "name": f"Journey {index + 1}: {rng.choice(['Welcome', 'Win-back', 'Cart', 'Onboarding'])}",
            "enabled": rng.random() < 0.7,
            "isArchived": index >= JOURNEYS - ARCHIVED_JOURNEYS,
            "journeyType": rng.choice(["Published", "Published", "Draft"]),
            "startTileId": 700_000 + index,
            "triggerEventNames": rng.sample(triggers, rng.randint(0, 2)),
            "createdAt": created,
            "updatedAt": created if rng.random() < 0.15 else rng.randint(created, HIGH),
            "creatorUserId": rng.choice(MARKETERS),
        }
        if rng.random() < 0.6:
            journey["description"] = f"Sends {rng.randint(2, 6)} messages over {rng.randint(3, 30)} days"
        if rng.random() < 0.5:
            journey["lifetimeLimit"] = rng.choice([1, 3, 10])
            journey["simultaneousLimit"] = 1
        if journey["journeyType"] == "Published" and rng.random() < 0.3:
            draft_created = rng.randint(created, HIGH)
            journey["draft"] = {
                "id": 90_000 + index,
                "createdAt": draft_created,
                "updatedAt": rng.randint(draft_created, HIGH),
                "name": f"{journey['name']} (draft)",
                "creatorUserId": rng.choice(MARKETERS),
            }
        out.append(journey)
    return out


def _item_value(rng: random.Random, catalog: str, number: int) -> Row:
    if catalog == "stores":
        return {"city": rng.choice(["Austin", "Lisbon", "Osaka"]), "open": rng.random() < 0.8}
    if catalog == "recipes":
        return {"title": f"Recipe {number}", "minutes": rng.randint(5, 90), "tags": ["dinner"]}
    if catalog == "gift-cards":
        return {"amount": rng.choice([10, 25, 50, 100]), "currency": "USD"}
    return {
        "name": f"{rng.choice(['Trail', 'Road', 'City'])} {rng.choice(['Runner', 'Jacket', 'Mat'])} {number}",
        "price": rng.choice([19, 49.5, 89, 129, 249.99]),
        "categories": rng.sample(["shoes", "running", "outdoor", "yoga", "sale"], 2),
        "inStock": rng.random() < 0.8,
        "url": f"https://shop.example/p/{number}",
    }


def _catalogs(rng: random.Random) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for name, size in CATALOG_SIZES.items():
        items: list[Row] = []
        for number in range(1, size + 1):
            value = _item_value(rng, name, number)
            modified = rng.randint(LOW, HIGH)
            items.append(
                {
                    "catalogName": name,
                    "itemId": f"{name[:3]}-{number:05d}",
                    "size": len(str(value)),
                    "lastModified": iso_ms(modified) if name in ISO_LAST_MODIFIED else modified,
                    "value": value,
                }
            )
        # Newest first, as the recorded answer (default sortAscending=false); ties by item id.
        items.sort(key=lambda item: (-_ms(item["lastModified"]), str(item["itemId"])))
        out[name] = items
    return out


def _ms(value: object) -> int:
    if isinstance(value, int):
        return value
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def _snippets(rng: random.Random, project_id: int) -> list[Row]:
    out: list[Row] = []
    for index, name in enumerate(
        ["footer", "header", "legal", "promo-banner", "signature", "social", "unsub"]
    ):
        created = rng.randint(LOW, HIGH)
        updated = rng.randint(created, HIGH)
        variables = rng.sample(["firstName", "city", "couponCode"], rng.randint(0, 2))
        out.append(
            {
                "id": 501 + index,
                "name": name,
                "description": f"The {name} block" if index % 2 == 0 else "",
                "content": "<p>" + " ".join("{{" + v + "}}" for v in variables) + f" {name}</p>",
                "createdAt": iso_ms(created),
                "updatedAt": iso_ms(updated),
                "createdBy": rng.choice(MARKETERS),
                "updatedBy": rng.choice(MARKETERS),
                "projectId": project_id,
                "variables": variables,
            }
        )
    return out


def _webhooks(rng: random.Random) -> list[Row]:
    out: list[Row] = []
    for index, host in enumerate(
        ["hooks.example.com", "crm.example.net", "ops.example.org", "bi.example.io"]
    ):
        out.append(
            {
                "id": 801 + index,
                "endpoint": f"https://{host}/iterable/events",
                "authType": ["NoAuth", "Basic", "OAuth2", "NoAuth"][index],
                "enabled": index != 3,
                "blastSendEnabled": rng.random() < 0.5,
                "triggeredSendEnabled": rng.random() < 0.5,
                "channelIds": rng.sample([41001, 41002, 41003, 41004], rng.randint(0, 2)),
                "messageTypeIds": rng.sample([52001, 52002, 52003], rng.randint(0, 2)),
            }
        )
    return out


def _forgotten(dataset: Dataset) -> tuple[list[str], list[str]]:
    """Former users, gone from the project's data; one address typed with capitals and spaces."""
    emails = [f"forgotten{n}@example.com" for n in range(1, 7)] + ["  Former.Customer@Example.COM "]
    user_ids = [f"u-gone-{n}" for n in range(1, 5)]
    kind = dataset.project_type
    hashed_emails = [forgotten_hash(e) for e in emails] if kind in ("email_based", "hybrid") else []
    hashed_ids = [forgotten_hash(u) for u in user_ids] if kind in ("hybrid", "userid_based") else []
    return hashed_emails, hashed_ids


def build_objects(dataset: Dataset) -> Objects:
    rng = random.Random(f"{dataset.seed}:objects")
    emails, user_ids = _forgotten(dataset)
    return Objects(
        journeys=_journeys(rng),
        catalogs=_catalogs(rng),
        snippets=_snippets(rng, 2158),
        webhooks=_webhooks(rng),
        forgotten_emails=emails,
        forgotten_user_ids=user_ids,
    )
