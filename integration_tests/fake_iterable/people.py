"""Seeded people and user profiles (``dataTypeName=user``, fact sheet section 5.8).

Profiles carry the flattened dotted keys Iterable emits (``itblInternal.emailDomain``), custom fields of
every getFields type (``_custom_fields``), and the ``Industry``/``industry`` and
``offers.Intro APR``/``offers.intro APR`` pairs that clash in case-insensitive destinations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .timefmt import epoch, export_ts

FIRST = [
    "ana",
    "bo",
    "carlos",
    "dana",
    "eli",
    "fatima",
    "george",
    "hana",
    "ivan",
    "jane",
    "kofi",
    "lee",
    "maya",
    "nico",
    "olga",
    "pedro",
    "quinn",
    "raj",
    "sara",
    "tomas",
    "uma",
    "victor",
    "wen",
    "yusuf",
]
LAST = [
    "silva",
    "li",
    "doe",
    "khan",
    "novak",
    "mensah",
    "garcia",
    "tanaka",
    "smith",
    "rossi",
    "kim",
    "okafor",
    "larsen",
    "dubois",
    "costa",
    "ivanova",
    "mueller",
    "patel",
    "nguyen",
    "haddad",
]
DOMAINS = ["example.com", "example.org", "example.net", "shop.example", "mail.example"]
CITIES = [
    ("Austin", "TX", "United States"),
    ("Lisbon", "11", "Portugal"),
    ("Berlin", "BE", "Germany"),
    ("Toronto", "ON", "Canada"),
    ("Osaka", "27", "Japan"),
    ("Lagos", "LA", "Nigeria"),
]

# Seconds every seeded export type has rows at: just before the usual test start date, the start itself,
# both sides of the first 30-day window boundary, and the first second of March.
BOUNDARY_SECONDS = [
    epoch(2023, 12, 31, 23, 59, 59),
    epoch(2024, 1, 1),
    epoch(2024, 1, 30, 23, 59, 59),
    epoch(2024, 1, 31),
    epoch(2024, 3, 1),
]
# Two rows of every type share this exact second (ties on the cursor value).
SHARED_SECOND = epoch(2024, 2, 14, 12, 30, 5)
RANGE_START = epoch(2024, 1, 1)
RANGE_END = epoch(2024, 7, 1)  # exclusive: the last seeded second is 2024-06-30 23:59:59


@dataclass(frozen=True)
class Person:
    email: str
    first: str
    last: str
    user_id: str | None


def build_people(seed: int, count: int = 300) -> list[Person]:
    """Unique addresses; about 80% carry a userId (hybrid project)."""
    rng = random.Random(f"{seed}:people")
    seen: set[str] = set()
    people: list[Person] = []
    # A plus-address on purpose: it must survive form and URL encoding in both directions.
    fixed = [Person("carlos+promo@example.net", "carlos", "garcia", "u-100001")]
    for person in fixed:
        seen.add(person.email)
        people.append(person)
    while len(people) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        style = rng.randrange(3)
        local = (
            f"{first}.{last}"
            if style == 0
            else f"{first}{rng.randint(1, 999)}"
            if style
            else f"{first[0]}{last}"
        )
        email = f"{local}@{rng.choice(DOMAINS)}"
        if email in seen:
            continue
        seen.add(email)
        user_id = f"u-{100000 + len(people) * 7 + rng.randint(0, 6)}" if rng.random() < 0.8 else None
        people.append(Person(email, first, last, user_id))
    return people


def _device(rng: random.Random) -> dict[str, object]:
    if rng.random() < 0.5:
        return {
            "platform": "APNS",
            "token": f"{rng.getrandbits(64):016x}",
            "endpointEnabled": rng.random() < 0.9,
            "applicationName": "shop-ios",
            "appVersion": f"4.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            "model": rng.choice(["iPhone15,2", "iPhone14,5", "iPad13,4"]),
            "systemVersion": "17.2",
            "notificationsEnabled": True,
            "userInterfaceIdiom": "Phone",
        }
    return {
        "platform": "GCM",
        "token": f"f{rng.getrandbits(120):030x}",
        "endpointEnabled": True,
        "applicationName": "shop-android",
        "appPackageName": "com.shop.example",
        "deviceId": f"{rng.getrandbits(64):016x}",
        "iterableSdkVersion": "3.4.17",
        "model": rng.choice(["Pixel 8", "SM-S911B"]),
        "systemVersion": "14",
    }


def _custom_fields(rng: random.Random, index: int, signup: int, updated: int) -> dict[str, object]:
    """Project fields of every getFields type, as a project defines them (see fields.py for their types).

    A date in the export's own format (``lastPurchaseDate``), a ``geo_location`` (``homeLocation``), an
    object with sub-fields two levels deep and a date inside (``membership``), a ``nested`` array of
    objects with a date in each (``orders``), the sub-fields of an object delivered flattened as dotted
    top-level keys (``subscription.*``, as ``offers.Intro APR`` is), and a pair of names that differ
    only by case (``customerId`` / ``CustomerId``).
    """
    fields: dict[str, object] = {}
    if rng.random() < 0.5:
        fields["lastPurchaseDate"] = export_ts(rng.randint(signup, updated))
    if rng.random() < 0.3:
        fields["homeLocation"] = {
            "lat": round(rng.uniform(-60, 60), 5),
            "lon": round(rng.uniform(-170, 170), 5),
        }
    if rng.random() < 0.35:
        fields["membership"] = {
            "tier": rng.choice(["bronze", "silver", "gold"]),
            "since": export_ts(signup + rng.randint(0, 86400)),
            "points": rng.randint(0, 5000),
            "benefits": {"freeShipping": rng.random() < 0.5, "discountRate": round(rng.uniform(0, 0.3), 3)},
        }
    if rng.random() < 0.3:
        fields["orders"] = [
            {
                "orderId": f"A-{rng.randint(10000, 99999)}",
                "total": round(rng.uniform(5, 400), 2),
                "items": rng.randint(1, 6),
                "placedAt": export_ts(rng.randint(signup, updated)),
            }
            for _ in range(rng.randint(1, 3))
        ]
    if rng.random() < 0.2:
        fields["subscription.plan"] = rng.choice(["monthly", "yearly"])
        fields["subscription.startedAt"] = export_ts(rng.randint(signup, updated))
    if index % 40 == 7:
        fields["customerId"] = f"C-{100000 + index}"
        fields["CustomerId"] = f"legacy-{index}"
    return fields


def build_users(
    seed: int, people: list[Person], memberships: dict[str, list[int]]
) -> list[dict[str, object]]:
    """One profile per person, in a shuffled order; ``profileUpdatedAt`` is the export window field."""
    rng = random.Random(f"{seed}:users")
    updated = [*BOUNDARY_SECONDS, SHARED_SECOND, SHARED_SECOND]
    updated += [rng.randrange(RANGE_START, RANGE_END) for _ in range(len(people) - len(updated))]
    rng.shuffle(updated)
    users: list[dict[str, object]] = []
    for index, (person, profile_updated) in enumerate(zip(people, updated, strict=True)):
        signup = profile_updated - (0 if rng.random() < 0.1 else rng.randint(60, 900 * 86400))
        domain = person.email.rsplit("@", 1)[1]
        user: dict[str, object] = {"email": person.email}
        if person.user_id:
            user["userId"] = person.user_id
        user |= {
            "signupDate": export_ts(signup),
            "signupSource": rng.choice(["Import", "ListAPI", "API", "API", "WebForm"]),
            "profileUpdatedAt": export_ts(profile_updated),
        }
        # The field is optional: absent on some profiles never put on a list, [] on the others.
        if person.email in memberships or index % 9 != 4:
            user["emailListIds"] = memberships.get(person.email, [])
        user |= {
            "unsubscribedChannelIds": rng.choice([[], [], [], [41001], [41003, 41004]]),
            "unsubscribedMessageTypeIds": rng.choice([[], [], [52010]]),
            "itblInternal.emailDomain": domain,
            "itblInternal.documentCreatedAt": export_ts(signup),
            "itblInternal.documentUpdatedAt": export_ts(profile_updated),
        }
        if rng.random() < 0.3:
            user["subscribedMessageTypeIds"] = [52010]
        if rng.random() < 0.85:
            user["firstName"] = person.first.title()
            user["lastName"] = person.last.title()
        if rng.random() < 0.7:
            user["isVip"] = rng.random() < 0.2
            user["loyaltyPoints"] = rng.randint(0, 20000)
            user["lifetimeValue"] = round(rng.uniform(0, 4000), 2)
            user["favoriteCategory"] = rng.choice(["running", "yoga", "outdoor", "kids", "home", "tech"])
        user |= _custom_fields(rng, index, signup, profile_updated)
        if rng.random() < 0.4:
            user["profile"] = {
                "age": rng.randint(18, 80),
                "tier": rng.choice(["bronze", "silver", "gold"]),
                "preferences": {"newsletter": rng.random() < 0.7, "sms": rng.random() < 0.3},
            }
        if rng.random() < 0.3:
            city, region, country = rng.choice(CITIES)
            user |= {
                "city": city,
                "region": region,
                "country": country,
                "timeZone": "UTC",
                "locale": rng.choice(["en-US", "pt-PT", "de-DE"]),
            }
        if rng.random() < 0.2:
            user["phoneNumber"] = f"+1415555{rng.randint(0, 9999):04d}"
            user["itblInternal.phoneCountry"] = "US"
            user["receivedSMSDisclaimer"] = rng.random() < 0.5
        if rng.random() < 0.25:
            user["devices"] = [_device(rng) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.05:
            user["someDate"] = f"20{rng.randint(10, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if index % 60 == 5:
            # The Stitch test account's case-clashing custom fields (fact sheet 5.8).
            user |= {
                "Industry": rng.choice(["Retail", "Finance", "Travel"]),
                "industry": "retail",
                "offers.Intro APR": [0, rng.randint(0, 5)],
                "offers.intro APR": [19],
            }
        users.append(user)
    rng.shuffle(users)
    return users
