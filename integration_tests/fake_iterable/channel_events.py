"""Seeded rows for the export types of the other channels (push, web push, in-app, inbox, SMS, RCS,
WhatsApp, embedded), commerce and custom events, sessions and journey exits.

Conventions are those of events.py: optional keys are omitted (never null), ``createdAt`` is a
``YYYY-MM-DD HH:MM:SS +00:00`` string, ``transactionalData`` is a JSON *string*, and every type has rows
at the boundary seconds and two rows sharing one second. Other event timestamps are export strings,
except the session bounds (``inboxSessionStart``/``End``, ``session.start``/``end``), which are epoch
milliseconds as the SDKs send them. Nested request objects (``deviceInfo``, ``messageContext``,
``session``, ``whatsAppMessage``, ``sanitized``) arrive flattened into dotted keys, as nested fields do in
user rows. Custom event and purchase rows carry their project-defined fields at the top level.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence

import orjson

from .events import AGENTS, SKIP_REASONS
from .people import BOUNDARY_SECONDS, RANGE_END, RANGE_START, SHARED_SECOND, Person
from .timefmt import export_ts

Row = dict[str, object]

# dataTypeName -> the family whose campaigns, channel, message type and sends a row refers to.
FAMILY: dict[str, str] = {
    "pushSend": "push",
    "pushSendSkip": "push",
    "pushOpen": "push",
    "pushUninstall": "push",
    "pushBounce": "push",
    "webPushSend": "webPush",
    "webPushClick": "webPush",
    "webPushSendSkip": "webPush",
    "inAppSend": "inApp",
    "inAppOpen": "inApp",
    "inAppClick": "inApp",
    "inAppClose": "inApp",
    "inAppDelete": "inApp",
    "inAppDelivery": "inApp",
    "inAppSendSkip": "inApp",
    "inAppRecall": "inApp",
    "inboxSession": "inApp",
    "inboxMessageImpression": "inApp",
    "smsSend": "sms",
    "smsBounce": "sms",
    "smsClick": "sms",
    "smsReceived": "sms",
    "smsSendSkip": "sms",
    "smsUsageInfo": "sms",
    "rcsSend": "rcs",
    "rcsSendSkip": "rcs",
    "embeddedSend": "embedded",
    "embeddedSendSkip": "embedded",
    "embeddedClick": "embedded",
    "embeddedReceived": "embedded",
    "embeddedImpression": "embedded",
    "embeddedSession": "embedded",
    "whatsAppSend": "whatsApp",
    "whatsAppSendSkip": "whatsApp",
    "whatsAppBounce": "whatsApp",
    "whatsAppClick": "whatsApp",
    "whatsAppReceived": "whatsApp",
    "whatsAppSeen": "whatsApp",
    "whatsAppUsageInfo": "whatsApp",
    "hostedUnsubscribeClick": "email",
    "purchase": "email",
    "customEvent": "email",
    "unknownSession": "email",
    "journeyExit": "email",
}
CHANNEL_TYPES = tuple(FAMILY)
# The dataset has no WhatsApp, RCS or embedded campaigns (adding some would change the campaigns
# stream): those rows refer to SMS and in-app campaigns, with the channels and message types of data.py.
MEDIUM = {
    "push": "Push",
    "webPush": "WebPush",
    "inApp": "InApp",
    "sms": "SMS",
    "rcs": "SMS",
    "whatsApp": "SMS",
    "embedded": "InApp",
    "email": "Email",
}
CHANNEL = {
    "push": (41003, 52003),
    "inApp": (41003, 52003),
    "sms": (41004, 52004),
    "webPush": (41005, 52005),
    "whatsApp": (41006, 52006),
    "embedded": (41007, 52007),
    "rcs": (41008, 52008),
}
# Project-defined fields that custom event and purchase rows carry at the top level (no schema declares them).
CUSTOM_FIELDS = frozenset(
    {"sku", "name", "price", "categories", "query", "resultsCount", "appVersion", "platform", "couponCode"}
)
SMS_SENDER = "+18335550100"
WHATSAPP_SENDER = "+14155550199"
APPS = [("iOS", "com.shop.example.ios"), ("Android", "com.shop.example"), ("Web", "shop.example")]
WORKFLOWS = {55012: "Welcome series", 55077: "Cart abandonment", 55140: "Win-back", 55213: "Post-purchase"}


class _Ctx:
    """What a row builder needs: the rng, people and their phones, campaigns by medium, sends so far."""

    def __init__(
        self,
        rng: random.Random,
        people: list[Person],
        campaigns: list[dict[str, object]],
        products: Sequence[Mapping[str, object]],
    ) -> None:
        self.rng = rng
        self.people = people
        self.products = products
        self.phones = {p.email: f"+1{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}" for p in people}
        self.by_medium: dict[str, list[dict[str, object]]] = {}
        for camp in campaigns:
            self.by_medium.setdefault(str(camp["messageMedium"]), []).append(camp)
        self.sends: dict[str, list[Row]] = {}

    def who(self) -> Row:
        person = self.rng.choice(self.people)
        row: Row = {"email": person.email}
        if person.user_id:
            row["userId"] = person.user_id
        return row

    def phone(self, row: Row) -> str:
        return self.phones.get(str(row["email"]), "+14155550123")

    def campaign(self, family: str) -> Row:
        camp = self.rng.choice(self.by_medium[MEDIUM[family]])
        return {"campaignId": camp["id"], "templateId": camp.get("templateId", 9100000)}

    def hex_id(self, bits: int = 128) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def send_keys(self, family: str) -> Row:
        """campaign, messageTypeId, channelId and messageId of a new send of ``family``."""
        channel, message_type = CHANNEL[family]
        return {
            **self.campaign(family),
            "messageTypeId": message_type,
            "channelId": channel,
            "contentId": self.rng.randint(15000000, 15999999),
            "messageId": self.hex_id(),
        }

    def sent(self, family: str, keys: tuple[str, ...] = ("campaignId", "templateId", "messageId")) -> Row:
        """The recipient and ids of an earlier send: engagement rows share a send's messageId."""
        sends = self.sends.get(family, [])
        if sends and self.rng.random() < 0.9:
            send = self.rng.choice(sends)
            return {k: send[k] for k in ("email", "userId", *keys) if k in send}
        row = {**self.who(), **self.send_keys(family)}
        return {k: row[k] for k in ("email", "userId", *keys) if k in row}

    def device(self) -> Row:
        platform, package = self.rng.choice(APPS)
        return {
            "deviceInfo.deviceId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "deviceInfo.platform": platform,
            "deviceInfo.appPackageName": package,
        }

    def catalog_counts(self) -> Row:
        rng = self.rng
        return {
            "catalogLookupCount": rng.choice([0, 0, 1]),
            "catalogCollectionCount": 0,
            "productRecommendationCount": rng.choice([0, 0, 0, 4]),
        }

    def transactional(self, row: Row, chance: float = 0.3) -> None:
        if self.rng.random() >= chance:
            return
        rng = self.rng
        if rng.random() < 0.2:
            row["transactionalData"] = '{"data":[]}'
            return
        product = rng.choice(self.products)
        payload = {"eventName": "productViewed", "sku": product["sku"], "price": product["price"]}
        row["transactionalData"] = orjson.dumps(payload).decode()


def _record_send(c: _Ctx, family: str, row: Row) -> Row:
    c.sends.setdefault(family, []).append(row)
    return row


def _skip(c: _Ctx, family: str) -> Row:
    row: Row = {**c.who(), **c.send_keys(family), "reason": c.rng.choice(SKIP_REASONS)}
    if c.rng.random() < 0.4:
        del row["contentId"]
    c.transactional(row)
    return row


# ----------------------------------------------------------------------------- push and web push


def _push_send(c: _Ctx, _: int) -> Row:
    row: Row = {**c.who(), **c.send_keys("push"), **c.catalog_counts()}
    row["platformEndpoint"] = c.rng.choice(["APNS", "GCM"])
    if c.rng.random() < 0.7:
        row["notificationsEnabled"] = c.rng.random() < 0.9
    c.transactional(row)
    return _record_send(c, "push", row)


def _push_open(c: _Ctx, second: int) -> Row:
    row = {**c.sent("push"), "sentAt": export_ts(second - c.rng.randint(5, 86400))}
    row["appAlreadyRunning"] = c.rng.random() < 0.3
    if c.rng.random() < 0.4:
        row["actionIdentifier"] = c.rng.choice(["default", "open_cart", "view_offer"])
    return row


def _push_bounce(c: _Ctx, _: int) -> Row:
    return c.sent("push", ("campaignId", "templateId", "messageTypeId", "channelId", "messageId"))


def _web_push_send(c: _Ctx, _: int) -> Row:
    row: Row = {**c.who(), **c.send_keys("webPush"), **c.catalog_counts()}
    c.transactional(row)
    return _record_send(c, "webPush", row)


def _web_push_skip(c: _Ctx, _: int) -> Row:
    row = _skip(c, "webPush")
    row.pop("contentId", None)
    return row


# ----------------------------------------------------------------------------- in-app and inbox


def _context(c: _Ctx, inbox: bool | None = None) -> Row:
    save = c.rng.random() < 0.5 if inbox is None else inbox
    return {
        "messageContext.saveToInbox": save,
        "messageContext.silentInbox": save and c.rng.random() < 0.3,
        "messageContext.location": "inbox" if save and c.rng.random() < 0.6 else "in-app",
    }


def _in_app_send(c: _Ctx, second: int) -> Row:
    row: Row = {**c.who(), **c.send_keys("inApp"), "expiresAt": export_ts(second + 90 * 86400)}
    row["priorityLevel"] = c.rng.choice([100.5, 200.5, 300.5, 300.5, 400.5])
    row |= c.catalog_counts()
    context = _context(c)
    row["messageContext.saveToInbox"] = context["messageContext.saveToInbox"]
    row["messageContext.silentInbox"] = context["messageContext.silentInbox"]
    c.transactional(row, 0.2)
    return _record_send(c, "inApp", row)


def _in_app_event(c: _Ctx, second: int, session: bool = True) -> Row:
    row: Row = {**c.sent("inApp"), "expiresAt": export_ts(second + c.rng.randint(1, 89) * 86400)}
    row |= c.device()
    context = _context(c)
    row |= context
    if session and context["messageContext.location"] == "inbox":
        row["inboxSessionId"] = str(uuid.UUID(int=c.rng.getrandbits(128)))
    return row


def _in_app_open(c: _Ctx, second: int) -> Row:
    return _in_app_event(c, second)


def _in_app_click(c: _Ctx, second: int) -> Row:
    row = _in_app_event(c, second)
    row["clickedUrl"] = c.rng.choice(
        ["https://shop.example/sale", "itbl://dismiss", "https://shop.example/p/1004"]
    )
    row["sentAt"] = export_ts(second - c.rng.randint(1, 7200))
    return row


def _in_app_close(c: _Ctx, second: int) -> Row:
    row = _in_app_event(c, second)
    action = c.rng.choice(["link", "back", "back"])
    row["closeAction"] = action
    if action == "link":
        row["clickedUrl"] = "itbl://dismiss"
    return row


def _in_app_delete(c: _Ctx, second: int) -> Row:
    row = _in_app_event(c, second)
    row["deleteAction"] = c.rng.choice(["inbox-swipe", "delete-action"])
    return row


def _in_app_delivery(c: _Ctx, second: int) -> Row:
    return _in_app_event(c, second, session=False)


def _in_app_recall(c: _Ctx, _: int) -> Row:
    return c.sent("inApp")


def _inbox_session(c: _Ctx, second: int) -> Row:
    rng = c.rng
    end = second * 1000 - rng.randint(0, 999)
    start = end - rng.randint(3, 600) * 1000 - rng.randint(0, 999)
    total = rng.randint(0, 12)
    unread = rng.randint(0, total)
    row: Row = {
        **c.who(),
        "inboxSessionId": str(uuid.UUID(int=rng.getrandbits(128))),
        "inboxSessionStart": start,
        "inboxSessionEnd": end,
        "startTotalMessageCount": total,
        "startUnreadMessageCount": unread,
        "endTotalMessageCount": total - rng.randint(0, min(total, 1)),
        "endUnreadMessageCount": max(0, unread - rng.randint(0, unread)),
    }
    sends = c.sends.get("inApp", [])
    row["impressions"] = [
        {
            "messageId": str(rng.choice(sends)["messageId"]) if sends else c.hex_id(),
            "silentInbox": rng.random() < 0.2,
            "displayCount": rng.randint(1, 3),
            "displayDuration": round(rng.uniform(0.5, 40.0), 3),
        }
        for _ in range(rng.randint(0, min(total, 3)))
    ]
    return row | c.device()


def _inbox_impression(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row: Row = {**c.sent("inApp"), "inboxSessionId": str(uuid.UUID(int=rng.getrandbits(128)))}
    row |= {
        "silentInbox": rng.random() < 0.2,
        "displayCount": rng.randint(1, 4),
        "displayDuration": round(rng.uniform(0.5, 60.0), 3),
    }
    return row | c.device()


# ----------------------------------------------------------------------------- SMS and RCS


def _sms_send(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row: Row = {**c.who(), **c.send_keys("sms")}
    row |= {
        "messageBusId": f"0100018e{rng.getrandbits(32):08x}-{rng.getrandbits(32):08x}-000000",
        "toPhoneNumber": c.phone(row),
        "fromSMSSenderId": rng.choice([1201, 1202]),
        "smsSendCount": rng.choice([1, 1, 1, 2, 3]),
        "mmsSendCount": rng.choice([0, 0, 0, 1]),
        "isSMSEstimation": False,
        "billingParty": "Iterable",
        "espName": "Twilio",
        "espAccountId": "AC5f1e0c2b9d",
        "renderedSmsMessage": rng.choice(
            ["Your order has shipped!", "20% off today only: shop.example/sale"]
        ),
    }
    row |= c.catalog_counts()
    c.transactional(row)
    return _record_send(c, "sms", row)


def _sms_bounce(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.sent("sms", ("campaignId", "templateId", "messageTypeId", "channelId", "contentId", "messageId"))
    row["toPhoneNumber"] = c.phone(row)
    row["errorCode"] = rng.choice([30003, 30005, 30006, 30007])
    row["messageStatus"] = rng.choice(["undelivered", "failed"])
    return row


def _sms_click(c: _Ctx, _: int) -> Row:
    keys = (
        "campaignId",
        "templateId",
        "messageTypeId",
        "channelId",
        "contentId",
        "messageId",
        "messageBusId",
    )
    row = c.sent("sms", keys)
    row["clickedUrl"] = c.rng.choice(["https://shop.example/sale", "https://shop.example/track/A-1001"])
    c.transactional(row, 0.2)
    return row


def _sms_received(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.who()
    row |= {
        "fromPhoneNumber": c.phone(row),
        "toPhoneNumber": SMS_SENDER,
        "smsMessage": rng.choice(["STOP", "YES", "HELP", "Thanks!", "UNSTOP"]),
        "smsReceiveCount": 1,
        "mmsReceiveCount": rng.choice([0, 0, 0, 1]),
        "senderPhoneNumberType": rng.choice(["TollFree", "ShortCode", "LongCode"]),
        "recipientCountryName": "United States",
        "recipientCountryCallingCode": "1",
        "billingParty": "Iterable",
        "espName": "Twilio",
        "espAccountId": "AC5f1e0c2b9d",
    }
    return row


def _sms_usage(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.sent("sms")
    row |= {
        "toPhoneNumber": c.phone(row),
        "smsSendCount": rng.choice([1, 1, 2, 3]),
        "mmsSendCount": rng.choice([0, 0, 1]),
        "billingParty": "Iterable",
        "espName": "Twilio",
        "espAccountId": "AC5f1e0c2b9d",
        "recipientCountryName": "United States",
        "recipientCountryCallingCode": "1",
    }
    return row


def _rcs_send(c: _Ctx, _: int) -> Row:
    row: Row = {**c.who(), **c.send_keys("rcs")}
    row["toPhoneNumber"] = c.phone(row)
    c.transactional(row)
    return _record_send(c, "rcs", row)


# ----------------------------------------------------------------------------- WhatsApp


def _whatsapp_send(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row: Row = {**c.who(), **c.send_keys("whatsApp")}
    row |= {
        "toWhatsAppPhoneNumber": c.phone(row),
        "fromWhatsAppSenderId": 3301,
        "billingParty": "Client",
        "espName": "WhatsApp",
        "espAccountId": 104882219,
        "renderedWhatsAppMessage": rng.choice(
            ["Your order A-1001 is on its way", "Hi! Your cart is waiting"]
        ),
    }
    row |= c.catalog_counts()
    c.transactional(row)
    return _record_send(c, "whatsApp", row)


def _whatsapp_skip(c: _Ctx, _: int) -> Row:
    row = _skip(c, "whatsApp")
    row["espName"] = "WhatsApp"
    return row


def _whatsapp_bounce(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.sent(
        "whatsApp", ("campaignId", "templateId", "messageTypeId", "channelId", "contentId", "messageId")
    )
    row["toWhatsAppPhoneNumber"] = c.phone(row)
    row["messageStatus"] = "failed"
    row["errorCode"] = rng.choice([131026, 131047, 131049])
    return row


def _whatsapp_click(c: _Ctx, _: int) -> Row:
    agent, device = c.rng.choice(AGENTS)
    row = c.sent("whatsApp")
    row |= {"clickedUrl": "https://shop.example/track/A-1001", "userAgent": agent, "userAgentDevice": device}
    return row


def _whatsapp_received(c: _Ctx, second: int) -> Row:
    rng = c.rng
    sends = c.sends.get("whatsApp", [])
    reply = rng.choice(sends) if sends and rng.random() < 0.6 else None
    row: Row = (
        {k: reply[k] for k in ("email", "userId", "campaignId", "templateId") if k in reply}
        if reply
        else c.who()
    )
    text = rng.choice(["Yes please", "STOP", "When will it arrive?", "  Thanks!  "])
    row |= {
        "receivedAt": export_ts(second - rng.randint(0, 5)),
        "fromWhatsAppPhoneNumber": c.phone(row),
        "toWhatsAppPhoneNumber": WHATSAPP_SENDER,
    }
    if reply is not None:
        row |= {"replyToMessageId": reply["messageId"], "attributionType": "reply"}
    row |= {
        "espName": "WhatsApp",
        "espAccountId": "104882219",
        "whatsAppMessage.type": "text",
        "whatsAppMessage.text": text,
        "sanitized.inputText": text.strip().lower(),
    }
    return row


def _whatsapp_seen(c: _Ctx, second: int) -> Row:
    rng = c.rng
    send = c.sent("whatsApp")
    seen = second - rng.randint(0, 3)
    row: Row = {k: send[k] for k in ("email", "userId", "campaignId", "templateId") if k in send}
    row |= {
        "seenMessageId": send["messageId"],
        "seenAt": export_ts(seen),
        "sentAt": export_ts(seen - rng.randint(10, 86400)),
        "fromWhatsAppPhoneNumber": WHATSAPP_SENDER,
        "toWhatsAppPhoneNumber": c.phone(row),
        "espName": "WhatsApp",
        "espAccountId": 104882219,
    }
    return row


def _whatsapp_usage(c: _Ctx, _: int) -> Row:
    row = c.sent("whatsApp")
    row |= {
        "toWhatsAppPhoneNumber": c.phone(row),
        "billingParty": "Client",
        "espName": "WhatsApp",
        "espAccountId": 104882219,
    }
    return row


# ----------------------------------------------------------------------------- embedded


def _embedded_send(c: _Ctx, _: int) -> Row:
    row: Row = {**c.who(), **c.send_keys("embedded"), "placementId": c.rng.choice([801, 802, 803])}
    c.transactional(row, 0.2)
    return _record_send(c, "embedded", row)


def _embedded_skip(c: _Ctx, _: int) -> Row:
    row = _skip(c, "embedded")
    row["placementId"] = c.rng.choice([801, 802, 803])
    return row


def _embedded_click(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.sent("embedded")
    if rng.random() < 0.7:
        row["buttonIdentifier"] = rng.choice(["primary", "secondary"])
    row["targetUrl"] = rng.choice(["https://shop.example/sale", "shop://cart"])
    return row | c.device()


def _embedded_received(c: _Ctx, _: int) -> Row:
    return c.sent("embedded") | c.device()


def _embedded_impression(c: _Ctx, _: int) -> Row:
    rng = c.rng
    row = c.sent("embedded")
    row |= {
        "placementId": rng.choice([801, 802, 803]),
        "displayCount": rng.randint(1, 5),
        "displayDuration": round(rng.uniform(0.2, 30.0), 3),
    }
    return row | c.device()


def _embedded_session(c: _Ctx, second: int) -> Row:
    rng = c.rng
    end = second * 1000 - rng.randint(0, 999)
    row: Row = {
        **c.who(),
        "session.id": str(uuid.UUID(int=rng.getrandbits(128))),
        "session.start": end - rng.randint(2, 900) * 1000,
        "session.end": end,
    }
    sends = c.sends.get("embedded", [])
    row["impressions"] = [
        {
            "messageId": str(rng.choice(sends)["messageId"]) if sends else c.hex_id(),
            "displayCount": rng.randint(1, 4),
            "displayDuration": round(rng.uniform(0.2, 30.0), 3),
            "placementId": rng.choice([801, 802, 803]),
        }
        for _ in range(rng.randint(0, 3))
    ]
    return row | c.device()


# ----------------------------------------------------------------------------- email-side, commerce, custom


def _hosted_unsubscribe(c: _Ctx, _: int) -> Row:
    rng = c.rng
    agent, device = rng.choice(AGENTS)
    row: Row = {**c.who(), **c.campaign("email"), "messageId": c.hex_id()}
    row |= {
        "url": f"https://links.shop.example/e/hosted-unsubscribe?_t={c.hex_id(64)}",
        "ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "userAgent": agent,
        "userAgentDevice": device,
    }
    return row


def _purchase(c: _Ctx, _: int) -> Row:
    rng = c.rng
    items = []
    for product in rng.sample(list(c.products), rng.randint(1, 3)):
        item: Row = {"id": str(product["sku"]), "sku": product["sku"], "name": product["name"]}
        item |= {"price": product["price"], "quantity": rng.randint(1, 3)}
        if "categories" in product:
            item["categories"] = product["categories"]
        if "url" in product:
            item["url"] = product["url"]
        if "imageUrl" in product and rng.random() < 0.5:
            item["imageUrl"] = product["imageUrl"]
        items.append(item)
    total = sum(float(str(i["price"])) * int(str(i["quantity"])) for i in items)
    row: Row = {**c.who(), "id": c.hex_id(120), "total": round(total, 2), "shoppingCartItems": items}
    if rng.random() < 0.4:
        row |= c.campaign("email")
    if rng.random() < 0.2:
        row["couponCode"] = rng.choice(["SPRING10", "VIP20"])
    return row


def _custom_event(c: _Ctx, second: int) -> Row:
    rng = c.rng
    name = rng.choice(["productViewed", "productViewed", "searched", "appLaunched"])
    row: Row = {**c.who(), "id": c.hex_id(120), "eventName": name}
    row["eventUpdatedAt"] = export_ts(second + rng.choice([0, 0, 0, 3600]))
    if name == "productViewed":
        product = rng.choice(c.products)
        row |= {"sku": product["sku"], "name": product["name"], "price": product["price"]}
        row["categories"] = product.get("categories", [])
    elif name == "searched":
        row |= {
            "query": rng.choice(["trail shoes", "yoga mat", "gift card"]),
            "resultsCount": rng.randint(0, 40),
        }
    else:
        row |= {
            "appVersion": f"4.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            "platform": rng.choice(["iOS", "Android"]),
        }
    if rng.random() < 0.15:
        row |= c.campaign("email")
    return row


def _unknown_session(c: _Ctx, _: int) -> Row:
    return c.who()


def _journey_exit(c: _Ctx, _: int) -> Row:
    workflow = c.rng.choice(sorted(WORKFLOWS))
    return {**c.who(), "workflowId": workflow, "workflowName": WORKFLOWS[workflow]}


BUILDERS: dict[str, Callable[[_Ctx, int], Row]] = {
    "pushSend": _push_send,
    "pushSendSkip": lambda c, _: _skip(c, "push"),
    "pushOpen": _push_open,
    "pushUninstall": lambda c, _: c.sent("push"),
    "pushBounce": _push_bounce,
    "webPushSend": _web_push_send,
    "webPushClick": lambda c, _: c.sent("webPush"),
    "webPushSendSkip": _web_push_skip,
    "inAppSend": _in_app_send,
    "inAppOpen": _in_app_open,
    "inAppClick": _in_app_click,
    "inAppClose": _in_app_close,
    "inAppDelete": _in_app_delete,
    "inAppDelivery": _in_app_delivery,
    "inAppSendSkip": lambda c, _: _skip(c, "inApp"),
    "inAppRecall": _in_app_recall,
    "inboxSession": _inbox_session,
    "inboxMessageImpression": _inbox_impression,
    "smsSend": _sms_send,
    "smsBounce": _sms_bounce,
    "smsClick": _sms_click,
    "smsReceived": _sms_received,
    "smsSendSkip": lambda c, _: _skip(c, "sms"),
    "smsUsageInfo": _sms_usage,
    "rcsSend": _rcs_send,
    "rcsSendSkip": lambda c, _: _skip(c, "rcs"),
    "embeddedSend": _embedded_send,
    "embeddedSendSkip": _embedded_skip,
    "embeddedClick": _embedded_click,
    "embeddedReceived": _embedded_received,
    "embeddedImpression": _embedded_impression,
    "embeddedSession": _embedded_session,
    "whatsAppSend": _whatsapp_send,
    "whatsAppSendSkip": _whatsapp_skip,
    "whatsAppBounce": _whatsapp_bounce,
    "whatsAppClick": _whatsapp_click,
    "whatsAppReceived": _whatsapp_received,
    "whatsAppSeen": _whatsapp_seen,
    "whatsAppUsageInfo": _whatsapp_usage,
    "hostedUnsubscribeClick": _hosted_unsubscribe,
    "purchase": _purchase,
    "customEvent": _custom_event,
    "unknownSession": _unknown_session,
    "journeyExit": _journey_exit,
}
SENDS = ("pushSend", "webPushSend", "inAppSend", "smsSend", "rcsSend", "embeddedSend", "whatsAppSend")
# One undecodable transactionalData each: a connector must keep it as the raw string.
BROKEN_PAYLOAD = ("pushSend", "smsSend", "whatsAppSend")


def build_channel_events(
    seed: int,
    people: list[Person],
    campaigns: list[dict[str, object]],
    products: Sequence[Mapping[str, object]],
) -> dict[str, list[Row]]:
    """40-120 random rows per type, plus rows at the boundary seconds and two sharing one second."""
    ctx = _Ctx(random.Random(f"{seed}:channel-events"), people, campaigns, products)
    out: dict[str, list[Row]] = {}
    # Sends first, so opens, clicks, bounces and sessions can refer to real messageIds.
    for name in (*SENDS, *[t for t in CHANNEL_TYPES if t not in SENDS]):
        rng = ctx.rng
        seconds = [*BOUNDARY_SECONDS, SHARED_SECOND, SHARED_SECOND]
        seconds += [rng.randrange(RANGE_START, RANGE_END) for _ in range(rng.randint(40, 120))]
        rows: list[Row] = []
        for second in seconds:
            row = BUILDERS[name](ctx, second)
            row["createdAt"] = export_ts(second)
            if name in SENDS and rng.random() < 0.05:
                row["itblInternal"] = {
                    "documentCreatedAt": row["createdAt"],
                    "documentUpdatedAt": row["createdAt"],
                }
            rows.append(row)
        if name in BROKEN_PAYLOAD:
            rows[len(rows) // 2]["transactionalData"] = "not json {"
        rng.shuffle(rows)
        out[name] = rows
    return out


__all__ = ["CHANNEL_TYPES", "CUSTOM_FIELDS", "build_channel_events"]
