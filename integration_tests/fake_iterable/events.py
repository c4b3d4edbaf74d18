"""Seeded email event rows for the eight ``email*`` export types (fact sheet section 5.9).

Shapes copy the fact sheet: optional keys are omitted (never null), ``createdAt`` is a
``YYYY-MM-DD HH:MM:SS +00:00`` string and ``transactionalData`` is a JSON *string*.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

from .people import BOUNDARY_SECONDS, CITIES, RANGE_END, RANGE_START, SHARED_SECOND, Person
from .timefmt import export_ts

Row = dict[str, object]
EMAIL_TYPES = (
    "emailBounce",
    "emailClick",
    "emailComplaint",
    "emailOpen",
    "emailSend",
    "emailSendSkip",
    "emailSubscribe",
    "emailUnSubscribe",
)
AGENTS = [
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "Gmail"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)", "Other"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/537.36 Chrome/121.0 Safari/537.36", "Mac"),
    ("Mozilla/5.0 (Linux; Android 14)", "Other"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edge/120.0", "Windows"),
]
SKIP_REASONS = [
    "DuplicateMarketingMessage",
    "MessageTypeUnsubscribed",
    "ChannelUnsubscribed",
    "FrequencyCapped",
    "ListUnsubscribed",
    "QuietHours",
]


class _Ctx:
    """What a row builder needs: the rng, the people, Email campaigns and sends seen so far."""

    def __init__(self, rng: random.Random, people: list[Person], campaigns: list[dict[str, object]]) -> None:
        self.rng = rng
        self.people = people
        self.campaigns = campaigns
        self.sends: list[Row] = []

    def who(self) -> Row:
        if self.rng.random() < 0.08:  # addresses that are not (or no longer) profiles in the project
            return {"email": f"gone{self.rng.randint(1, 500)}@example.org"}
        person = self.rng.choice(self.people)
        row: Row = {"email": person.email}
        if person.user_id:
            row["userId"] = person.user_id
        return row

    def campaign(self) -> Row:
        camp = self.rng.choice(self.campaigns)
        return {"campaignId": camp["id"], "templateId": camp.get("templateId", 9100000)}

    def message_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def sent(self) -> Row:
        """Opens, clicks and bounces reuse the messageId of a send: messageId is not unique per row."""
        if self.sends and self.rng.random() < 0.85:
            send = self.rng.choice(self.sends)
            keys = ("email", "userId", "campaignId", "templateId", "messageId")
            return {k: send[k] for k in keys if k in send}
        return {**self.who(), **self.campaign(), "messageId": self.message_id()}


def _transactional(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return '{"data":[]}'
    order = {
        "orderId": f"A-{rng.randint(1000, 99999)}",
        "total": round(rng.uniform(5, 400), 2),
        "items": [
            {"sku": f"sku-{rng.randint(1001, 1011)}", "qty": rng.randint(1, 3)}
            for _ in range(rng.randint(1, 3))
        ],
        "currency": "USD",
    }
    return orjson.dumps(order).decode()


def _send(c: _Ctx) -> Row:
    rng = c.rng
    mt = rng.choice([52001, 52001, 52002, 52010, 52011])
    row = {
        **c.who(),
        "messageTypeId": mt,
        "catalogLookupCount": rng.choice([0, 0, 1]),
        **c.campaign(),
        "messageBusId": f"0100018e{rng.getrandbits(32):08x}-{rng.getrandbits(32):08x}-000000",
        "messageId": c.message_id(),
        "catalogCollectionCount": 0,
        "channelId": 41002 if mt in (52002, 52011) else 41001,
        "productRecommendationCount": rng.choice([0, 0, 0, 4]),
        "contentId": rng.randint(15000000, 15999999),
    }
    if rng.random() < 0.3:
        row["espName"] = rng.choice(["SparkPost", "SendGrid"])
    if rng.random() < 0.33:
        row["transactionalData"] = _transactional(rng)
    c.sends.append(row)
    return row


def _send_skip(c: _Ctx) -> Row:
    rng = c.rng
    row = {
        **c.who(),
        "reason": rng.choice(SKIP_REASONS),
        **c.campaign(),
        "messageTypeId": rng.choice([52001, 52010]),
        "channelId": 41001,
        "messageId": c.message_id(),
    }
    if rng.random() < 0.6:
        row["contentId"] = rng.randint(15000000, 15999999)
    if rng.random() < 0.33:
        row["transactionalData"] = _transactional(rng)
    return row


def _open(c: _Ctx) -> Row:
    rng = c.rng
    agent, device = rng.choice(AGENTS)
    row: Row = {
        **c.sent(),
        "ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "userAgent": agent,
        "userAgentDevice": device,
    }
    if device != "Gmail" and rng.random() < 0.7:
        city, region, country = rng.choice(CITIES)
        row |= {"city": city, "region": region, "country": country}
    if rng.random() < 0.1:
        row["proxySource"] = "Apple"
    if rng.random() < 0.05:
        row["isBot"] = True
    return row


def _click(c: _Ctx) -> Row:
    rng = c.rng
    return {
        **_open(c),
        "hrefIndex": rng.randint(0, 6),
        "contentId": rng.randint(15000000, 15999999),
        "url": rng.choice(
            [
                "https://shop.example/",
                "https://shop.example/sale?utm_source=iterable",
                "https://shop.example/p/1004",
                "https://shop.example/account/preferences",
            ]
        ),
    }


def _bounce(c: _Ctx) -> Row:
    rng = c.rng
    hard = rng.random() < 0.6
    row = {
        **c.sent(),
        "recipientState": "HardBounce" if hard else "SoftBounce",
        "status": rng.choice(["5.1.1", "5.7.1"]) if hard else rng.choice(["4.2.2", "4.4.7"]),
    }
    if rng.random() < 0.4:
        row["bounceMessage"] = "550 5.1.1 user unknown" if hard else "452 4.2.2 mailbox full"
    return row


def _complaint(c: _Ctx) -> Row:
    row = c.sent()
    if c.rng.random() < 0.5:
        row["recipientState"] = "Complaint"
    return row


def _subscribe(c: _Ctx) -> Row:
    rng = c.rng
    row = {
        **c.who(),
        "signupSource": rng.choice(["ListAPI", "Import", "API", "WebForm"]),
        "emailListIds": rng.choice([[3301122], [3301122, 3301123], [3301150], []]),
        "channelIds": rng.choice([[], [41001]]),
    }
    if rng.random() < 0.3:
        row["messageTypeIds"] = [52010]
    person = next((p for p in c.people if p.email == row["email"]), None)
    if person is not None and rng.random() < 0.8:
        # Subscribe rows carry the user's custom fields as of subscription time (fact sheet 5.9).
        row |= {"firstName": person.first.title(), "lastName": person.last.title()}
    if rng.random() < 0.2:
        row["emailListId"] = 3301122
    return row


def _unsubscribe(c: _Ctx) -> Row:
    rng = c.rng
    source = rng.choice(["EmailLink", "EmailLink", "HardBounce", "Import", "API"])
    row: Row = {
        **c.who(),
        "unsubSource": source,
        "emailListIds": rng.choice([[], [3301122]]),
        "channelIds": rng.choice([[], [41001], [41002, 41001]]),
    }
    if source == "HardBounce":
        row |= {
            "templateId": c.campaign()["templateId"],
            "recipientState": "HardBounce",
            "status": "5.1.1",
            "messageId": c.message_id(),
        }
    elif source == "EmailLink":
        row |= {**c.campaign(), "messageId": c.message_id()}
    return row


BUILDERS: dict[str, Callable[[_Ctx], Row]] = {
    "emailSend": _send,
    "emailSendSkip": _send_skip,
    "emailOpen": _open,
    "emailClick": _click,
    "emailBounce": _bounce,
    "emailComplaint": _complaint,
    "emailSubscribe": _subscribe,
    "emailUnSubscribe": _unsubscribe,
}


def build_events(seed: int, people: list[Person], campaigns: list[dict[str, object]]) -> dict[str, list[Row]]:
    """150-400 random rows per type, plus rows at the boundary seconds and two sharing one second."""
    email_campaigns = [c for c in campaigns if c["messageMedium"] == "Email"]
    out: dict[str, list[Row]] = {}
    ctx = _Ctx(random.Random(f"{seed}:events"), people, email_campaigns)
    # emailSend first so opens, clicks and bounces can refer to real sends.
    for name in ("emailSend", *[t for t in EMAIL_TYPES if t != "emailSend"]):
        rng = ctx.rng
        seconds = [*BOUNDARY_SECONDS, SHARED_SECOND, SHARED_SECOND]
        seconds += [rng.randrange(RANGE_START, RANGE_END) for _ in range(rng.randint(150, 400))]
        rows: list[Row] = []
        for second in seconds:
            row = BUILDERS[name](ctx)
            row["createdAt"] = export_ts(second)
            if name == "emailSubscribe":
                row["profileUpdatedAt"] = export_ts(second - rng.choice([0, 1, 2, 3600]))
            if name == "emailSend" and rng.random() < 0.05:
                row["itblInternal"] = {
                    "documentCreatedAt": row["createdAt"],
                    "documentUpdatedAt": row["createdAt"],
                }
            rows.append(row)
        if name in ("emailSend", "emailSendSkip"):
            # One undecodable transactionalData per type: a connector must keep it as the raw string.
            rows[len(rows) // 2]["transactionalData"] = "not json {"
        rng.shuffle(rows)
        out[name] = rows
    return out
