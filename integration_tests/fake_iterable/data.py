"""The seeded, deterministic Iterable project served by the fake server.

``build_dataset(seed)`` returns raw API shapes (epoch-ms integers on resources, string timestamps and
JSON-string ``transactionalData`` on export rows), so tests can compute expected records without a server.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from .channel_events import CHANNEL_TYPES, build_channel_events
from .events import EMAIL_TYPES, build_events
from .membership import add_deleted_list, profile_lists
from .people import build_people, build_users
from .timefmt import epoch_ms

PROJECT_ID = 2158  # the project number quoted in the real 429 body
EXPORT_TYPES = (*EMAIL_TYPES, "user", *CHANNEL_TYPES)
TEMPLATE_TYPES = ("Base", "Blast", "Triggered", "Workflow")
TEMPLATE_MEDIUMS = ("Email", "Push", "InApp", "SMS")
MARKETERS = ["marketer@shop.example", "ops@shop.example", "design@shop.example", "lifecycle@shop.example"]

CHANNELS: list[dict[str, object]] = [
    {"id": 41001, "name": "Marketing Channel", "channelType": "Marketing", "messageMedium": "Email"},
    {"id": 41002, "name": "Transactional Channel", "channelType": "Transactional", "messageMedium": "Email"},
    {"id": 41003, "name": "Push Marketing Channel", "channelType": "Marketing", "messageMedium": "Push"},
    {"id": 41004, "name": "SMS Marketing Channel", "channelType": "Marketing", "messageMedium": "SMS"},
    {
        "id": 41005,
        "name": "Web Push Marketing Channel",
        "channelType": "Marketing",
        "messageMedium": "WebPush",
    },
    {
        "id": 41006,
        "name": "WhatsApp Marketing Channel",
        "channelType": "Marketing",
        "messageMedium": "WhatsApp",
    },
    {
        "id": 41007,
        "name": "Embedded Marketing Channel",
        "channelType": "Marketing",
        "messageMedium": "Embedded",
    },
    {"id": 41008, "name": "RCS Marketing Channel", "channelType": "Marketing", "messageMedium": "RCS"},
]
MESSAGE_TYPES: list[dict[str, object]] = [
    {
        "id": 52001,
        "createdAt": 1610048394730,
        "updatedAt": 1610048394730,
        "name": "Marketing Message",
        "channelId": 41001,
        "subscriptionPolicy": "OptOut",
    },
    {
        "id": 52002,
        "createdAt": 1610048394730,
        "updatedAt": 1675772580223,
        "name": "Transactional Message",
        "channelId": 41002,
        "subscriptionPolicy": "OptOut",
    },
    {
        "id": 52003,
        "createdAt": 1620000000000,
        "updatedAt": 1700000000000,
        "name": "Push Promotions",
        "channelId": 41003,
        "subscriptionPolicy": "OptOut",
    },
    {
        "id": 52004,
        "createdAt": 1650000000000,
        "updatedAt": 1650000000000,
        "name": "SMS Alerts",
        "channelId": 41004,
        "subscriptionPolicy": "OptIn",
    },
    {
        "id": 52010,
        "createdAt": 1699999999999,
        "updatedAt": 1699999999999,
        "name": "Weekly deals",
        "channelId": 41001,
        "subscriptionPolicy": "OptIn",
        "rateLimitPerMinute": 2000,
        "frequencyCap": {"days": 7, "messages": 3},
    },
    {
        "id": 52011,
        "createdAt": 1705000000000,
        "updatedAt": 1712000000000,
        "name": "Order updates",
        "channelId": 41002,
        "subscriptionPolicy": "OptOut",
    },
    # The channels of the other mediums' export events (channel_events.py).
    {
        "id": 52005,
        "createdAt": 1674142637349,
        "updatedAt": 1674142637349,
        "name": "Web Push Promotions",
        "channelId": 41005,
        "subscriptionPolicy": "OptOut",
    },
    {
        "id": 52006,
        "createdAt": 1715000000000,
        "updatedAt": 1715000000000,
        "name": "WhatsApp Updates",
        "channelId": 41006,
        "subscriptionPolicy": "OptIn",
    },
    {
        "id": 52007,
        "createdAt": 1716000000000,
        "updatedAt": 1716000000000,
        "name": "Embedded Offers",
        "channelId": 41007,
        "subscriptionPolicy": "OptOut",
    },
    {
        "id": 52008,
        "createdAt": 1717000000000,
        "updatedAt": 1717000000000,
        "name": "RCS Promotions",
        "channelId": 41008,
        "subscriptionPolicy": "OptIn",
    },
]
LISTS: list[dict[str, object]] = [
    {
        "id": 3301122,
        "name": "Newsletter subscribers",
        "description": "Opted in via footer form",
        "createdAt": 1617891908857,
        "listType": "Standard",
    },
    {"id": 3301123, "name": "VIP customers", "createdAt": 1640995200000, "listType": "Standard"},
    {
        "id": 3301124,
        "name": "Beta testers",
        "description": "Nobody signed up yet",
        "createdAt": 1704067200000,
        "listType": "Standard",
    },
    {"id": 3301150, "name": "Active last 30d", "createdAt": 1651234567890, "listType": "Dynamic"},
    {
        "id": 3301199,
        "name": "Do not mail",
        "createdAt": 1600000000000,
        "listType": "Suppression",
        "isGlobalSuppressionEnabled": False,
    },
    {"id": 3301177, "name": "Seed accounts", "createdAt": 1610000000000, "listType": "Internal"},
    {"id": 3301151, "name": "Opened in the last 90 days", "createdAt": 1680000000000, "listType": "Dynamic"},
    # A kind Iterable's help center names ("Scheduled": a saved segment with catalog data) and its API
    # reference does not: a connector must not take it for a static list.
    {"id": 3301188, "name": "Catalog buyers (weekly)", "createdAt": 1700000000000, "listType": "Scheduled"},
]
_WORDS_A = [
    "Spring",
    "Summer",
    "Autumn",
    "Winter",
    "Flash",
    "Weekend",
    "VIP",
    "Welcome",
    "Holiday",
    "Back to School",
]
_WORDS_B = ["Sale", "Newsletter", "Digest", "Launch", "Reminder", "Survey", "Offer", "Recap", "Preview"]


@dataclass
class Dataset:
    campaigns: list[dict[str, object]]
    channels: list[dict[str, object]]
    lists: list[dict[str, object]]
    message_types: list[dict[str, object]]
    # getUsers' raw body lines, blanks included; body == "\n".join(lines) (with preferUserId=true in
    # hybrid and userID-based projects: project_types.with_project_type)
    list_members: Mapping[int, list[str]]
    metadata: dict[str, dict[str, dict[str, object]]]  # table -> key -> full record incl. value
    templates: dict[tuple[str, str], list[dict[str, object]]]  # (templateType, messageMedium) -> records
    exports: dict[str, list[dict[str, object]]]  # canonical dataTypeName -> rows (served order)
    seed: int = 7
    extra: dict[str, object] = field(default_factory=dict)
    project_type: str = "email_based"  # project_types.py reshapes the data for the other two
    list_members_default: Mapping[int, list[str]] = field(
        default_factory=dict
    )  # getUsers without preferUserId


def _campaigns(seed: int) -> list[dict[str, object]]:
    rng = random.Random(f"{seed}:campaigns")
    low, high = epoch_ms(2023, 6, 1), epoch_ms(2024, 6, 30, 23, 59, 59)
    out: list[dict[str, object]] = []
    cid = 7_000_000
    for _ in range(1203):
        cid += rng.randint(1, 9)
        blast = rng.random() < 0.6
        medium = rng.choices(["Email", "Push", "SMS", "InApp", "WebPush"], weights=[70, 12, 8, 6, 4])[0]
        updated = rng.randint(low, high)
        created = updated if rng.random() < 0.1 else updated - rng.randint(1, 120 * 86_400_000)
        if blast:
            state = rng.choices(
                ["Finished", "Draft", "Ready", "Scheduled", "Running", "Aborted", "Archived", "Recurring"],
                weights=[50, 10, 6, 6, 5, 5, 10, 8],
            )[0]
        else:
            state = rng.choices(["Running", "Draft", "Finished", "Archived"], weights=[60, 15, 10, 15])[0]
        camp: dict[str, object] = {"id": cid, "createdAt": created, "updatedAt": updated}
        if state in ("Finished", "Running", "Aborted", "Recurring") and blast:
            start = rng.randint(created, updated)
            camp["startAt"] = start
            if state == "Finished":
                camp["endedAt"] = rng.randint(start, min(updated, start + 6 * 3_600_000))
        elif state == "Scheduled":
            camp["startAt"] = updated + rng.randint(1, 14) * 86_400_000
        camp["name"] = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} #{cid % 10_000}"
        if rng.random() < 0.95:
            camp["templateId"] = 9_100_000 + (cid - 7_000_000)
        camp |= {"messageMedium": medium, "createdByUserId": rng.choice(MARKETERS)}
        if rng.random() < 0.8:
            camp["updatedByUserId"] = rng.choice(MARKETERS)
        camp["campaignState"] = state
        if blast:
            camp["listIds"] = rng.sample([3301122, 3301123, 3301124, 3301150], rng.randint(1, 2))
            camp["suppressionListIds"] = rng.choice([[3301199], []])
            if "startAt" in camp:
                camp["sendSize"] = rng.randint(10, 60_000)
            if state == "Recurring" or rng.random() < 0.05:
                camp["recurringCampaignId"] = 7_000_000 + rng.randint(1, 999)
        else:
            camp["suppressionListIds"] = []
            if rng.random() < 0.6:
                camp["workflowId"] = 55_000 + rng.randint(1, 400)
        camp["labels"] = rng.choice([[], [], ["newsletter"], ["promo", "q1"], ["lifecycle"]])
        camp["type"] = "Blast" if blast else "Triggered"
        out.append(camp)
    return out


def _templates(
    seed: int, campaigns: list[dict[str, object]]
) -> dict[tuple[str, str], list[dict[str, object]]]:
    rng = random.Random(f"{seed}:templates")
    combos = [(t, m) for t in TEMPLATE_TYPES for m in TEMPLATE_MEDIUMS]
    by_combo: dict[tuple[str, str], list[dict[str, object]]] = {combo: [] for combo in combos}
    medium_type = {"Email": [52001, 52002, 52010], "Push": [52003], "InApp": [52003], "SMS": [52004]}
    low, high = epoch_ms(2023, 1, 1), epoch_ms(2024, 6, 30, 23, 59, 59)
    tid = 9_200_000
    for index in range(147):
        combo = combos[index] if index < len(combos) else rng.choice(combos)
        tid += rng.randint(1, 40)
        created = rng.randint(low, high)
        record: dict[str, object] = {
            "templateId": tid,
            "createdAt": created,
            "updatedAt": created if rng.random() < 0.2 else rng.randint(created, high),
            "name": f"{combo[1]} {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} v{index % 7 + 1}",
            "creatorUserId": rng.choice(MARKETERS),
            "messageTypeId": rng.choice(medium_type[combo[1]]),
        }
        if combo[0] in ("Blast", "Triggered") and rng.random() < 0.7:
            record["campaignId"] = rng.choice(campaigns)["id"]
        if combo[0] == "Base" or rng.random() < 0.1:
            record["clientTemplateId"] = f"{combo[1].lower()}-layout-{index}"
        by_combo[combo].append(record)
    # Three templates listed under a second (type, medium) pair too: same record, so dedupe on templateId.
    everything = [r for combo in combos for r in by_combo[combo]]
    for record in rng.sample(everything, 3):
        home = next(c for c in combos if record in by_combo[c])
        other = rng.choice([c for c in combos if c != home])
        by_combo[other].append(record)
    for combo in combos:
        by_combo[combo].sort(key=lambda r: int(r["templateId"]))  # type: ignore[call-overload]
    return by_combo


def _metadata(seed: int) -> dict[str, dict[str, dict[str, object]]]:
    rng = random.Random(f"{seed}:metadata")
    values: dict[str, dict[str, dict[str, object]]] = {"products": {}, "stores": {}}
    for n in range(1001, 1012):
        kind = rng.choice(["Runner", "Jacket", "Mat"])
        values["products"][f"sku-{n}"] = {
            "name": f"{rng.choice(['Trail', 'Road', 'City'])} {kind} {n % 7}",
            "sku": f"sku-{n}",
            "price": rng.choice([19, 49.5, 89, 129, 249.99]),
            "categories": rng.sample(["shoes", "running", "outdoor", "yoga", "sale"], 2),
            "url": f"https://shop.example/p/{n}",
            "imageUrl": f"https://cdn.example/{n}.jpg",
            "inStock": rng.random() < 0.8,
        }
    # "shared-1" lives in both tables: a key alone is not a primary key for the metadata stream.
    values["products"]["shared-1"] = {
        "name": "Gift card",
        "sku": "shared-1",
        "price": 25,
        "categories": ["gift"],
    }
    values["stores"] = {
        "nyc-01": {"city": "New York", "open": True, "hours": {"mon": "9-21", "sun": None}},
        "sfo-01": {"city": "San Francisco", "open": False},
        "shared-1": {"city": "Online", "open": True, "url": "https://shop.example"},
    }
    tables: dict[str, dict[str, dict[str, object]]] = {}
    for table, entries in values.items():
        tables[table] = {}
        for key in sorted(entries):
            value = entries[key]
            tables[table][key] = {
                "table": table,
                "key": key,
                "size": len(orjson.dumps(value)),
                "lastModified": epoch_ms(2023, 10, 1) + rng.randint(0, 200 * 86_400_000),
                "value": value,
            }
    return tables


def _members(seed: int, emails: list[str]) -> dict[int, list[str]]:
    rng = random.Random(f"{seed}:lists")
    newsletter = rng.sample(emails, 150)
    vip = rng.sample(newsletter[:100], 30) + rng.sample(emails, 12)  # VIPs are mostly newsletter readers too
    active = rng.sample(emails, 90)
    suppressed = rng.sample(emails, 10)  # a suppression list is a static list of users like any other
    internal = rng.sample(emails, 4)
    opened = rng.sample(emails, 40)
    scheduled = rng.sample(emails, 25)
    lines = list(dict.fromkeys(newsletter))
    # getUsers bodies may contain blank lines; this list has some in the middle and ends with one.
    for position in (17, 60, 61, 120):
        lines.insert(position, "")
    lines += ["", ""]  # "\n".join -> body ends "...\n\n": a trailing blank line
    return {
        3301122: lines,
        3301123: list(dict.fromkeys(vip)),
        3301124: [],
        3301150: active,
        3301199: suppressed,
        3301177: internal,
        3301151: opened,
        3301188: scheduled,
    }


def build_dataset(seed: int = 7) -> Dataset:
    people = build_people(seed)
    emails = [p.email for p in people]
    members = _members(seed, emails)
    memberships = profile_lists(LISTS, members)
    add_deleted_list(memberships, random.Random(f"{seed}:deleted-list").sample(emails, 6))
    campaigns = _campaigns(seed)
    metadata = _metadata(seed)
    exports = build_events(seed, people, campaigns)
    exports["user"] = build_users(seed, people, memberships)
    # Purchases and custom events name the catalog's priced products.
    products = [
        value
        for value in (record["value"] for record in metadata["products"].values())
        if isinstance(value, dict) and "price" in value
    ]
    exports |= build_channel_events(seed, people, campaigns, products)
    return Dataset(
        campaigns=campaigns,
        channels=[dict(c) for c in CHANNELS],
        lists=[dict(x) for x in LISTS],
        message_types=[dict(m) for m in MESSAGE_TYPES],
        list_members=members,
        metadata=metadata,
        templates=_templates(seed, campaigns),
        exports=exports,
        seed=seed,
    )
