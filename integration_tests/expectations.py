"""What each stream must look like, and what it must contain given the fake's dataset.

The expected records are computed here from the raw dataset with this module's own small
conversions, not with the connector's transforms, so a bug there cannot hide behind itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from integration_tests.expected_objects import OBJECT_STREAMS, object_records
from integration_tests.fake_iterable import Dataset
from integration_tests.fake_iterable.metrics import metrics_csv
from integration_tests.platform_rule import unfolded

UTC = timezone.utc
START = datetime(2024, 1, 1, tzinfo=UTC)


def iso_from_export(text: str) -> str:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_from_ms(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def export_moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)


@dataclass(frozen=True)
class Expect:
    primary_key: list[list[str]]
    cursor: str | None
    export_type: str | None = None
    epoch_ms: tuple[str, ...] = ()
    export_times: tuple[str, ...] = ()

    @property
    def incremental(self) -> bool:
        return self.cursor is not None


def _email(export_type: str, *extra_times: str) -> Expect:
    return Expect([], "createdAt", export_type, export_times=("createdAt", *extra_times))


def _event(export_type: str, *extra_times: str, ms: tuple[str, ...] = ()) -> Expect:
    """An event stream of another channel: export-string times, and times the fake sends as epoch ms."""
    return Expect([], "createdAt", export_type, epoch_ms=ms, export_times=("createdAt", *extra_times))


STREAMS: dict[str, Expect] = {
    "campaigns": Expect([["id"]], "updatedAt", epoch_ms=("createdAt", "updatedAt", "startAt", "endedAt")),
    "channels": Expect([["id"]], None),
    "email_bounce": _email("emailBounce"),
    "email_click": _email("emailClick"),
    "email_complaint": _email("emailComplaint"),
    "email_open": _email("emailOpen"),
    "email_send": _email("emailSend"),
    "email_send_skip": _email("emailSendSkip"),
    "email_subscribe": _email("emailSubscribe", "profileUpdatedAt", "signupDate"),
    "email_unsubscribe": _email("emailUnSubscribe"),
    "list_users": Expect([["email"], ["listId"]], None),
    "lists": Expect([["id"]], None, epoch_ms=("createdAt",)),
    "campaigns_metrics": Expect([["id"]], None),
    "message_types": Expect([["id"]], None, epoch_ms=("createdAt", "updatedAt")),
    "metadata": Expect([["table"], ["key"]], None, epoch_ms=("lastModified",)),
    "templates": Expect([["templateId"]], "updatedAt", epoch_ms=("createdAt", "updatedAt")),
    "users": Expect(
        [["email"]],
        "profileUpdatedAt",
        "user",
        export_times=(
            "profileUpdatedAt",
            "signupDate",
            "itblInternal.documentCreatedAt",
            "itblInternal.documentUpdatedAt",
        ),
    ),
    # Other channels' export events (issue 11).
    "push_send": _event("pushSend"),
    "push_send_skip": _event("pushSendSkip"),
    "push_open": _event("pushOpen", "sentAt"),
    "push_uninstall": _event("pushUninstall"),
    "push_bounce": _event("pushBounce"),
    "web_push_send": _event("webPushSend"),
    "web_push_click": _event("webPushClick"),
    "web_push_send_skip": _event("webPushSendSkip"),
    "in_app_send": _event("inAppSend", "expiresAt"),
    "in_app_open": _event("inAppOpen", "expiresAt"),
    "in_app_click": _event("inAppClick", "sentAt", "expiresAt"),
    "in_app_close": _event("inAppClose", "expiresAt"),
    "in_app_delete": _event("inAppDelete", "expiresAt"),
    "in_app_delivery": _event("inAppDelivery", "expiresAt"),
    "in_app_send_skip": _event("inAppSendSkip"),
    "inbox_session": _event("inboxSession", ms=("inboxSessionStart", "inboxSessionEnd")),
    "inbox_message_impression": _event("inboxMessageImpression"),
    "sms_send": _event("smsSend"),
    "sms_bounce": _event("smsBounce"),
    "sms_click": _event("smsClick"),
    "sms_received": _event("smsReceived"),
    "sms_send_skip": _event("smsSendSkip"),
    "sms_usage_info": _event("smsUsageInfo"),
    "purchase": _event("purchase"),
    "custom_event": _event("customEvent", "eventUpdatedAt"),
    "hosted_unsubscribe_click": _event("hostedUnsubscribeClick"),
    "in_app_recall": _event("inAppRecall"),
    "rcs_send": _event("rcsSend"),
    "rcs_send_skip": _event("rcsSendSkip"),
    "embedded_send": _event("embeddedSend"),
    "embedded_send_skip": _event("embeddedSendSkip"),
    "embedded_click": _event("embeddedClick"),
    "embedded_received": _event("embeddedReceived"),
    "embedded_impression": _event("embeddedImpression"),
    "embedded_session": _event("embeddedSession", ms=("session.start", "session.end")),
    "unknown_session": _event("unknownSession"),
    "journey_exit": _event("journeyExit"),
    "whatsapp_send": _event("whatsAppSend"),
    "whatsapp_send_skip": _event("whatsAppSendSkip"),
    "whatsapp_bounce": _event("whatsAppBounce"),
    "whatsapp_click": _event("whatsAppClick"),
    "whatsapp_received": _event("whatsAppReceived", "receivedAt"),
    "whatsapp_seen": _event("whatsAppSeen", "seenAt", "sentAt"),
    "whatsapp_usage_info": _event("whatsAppUsageInfo"),
    # The objects of issue 17 (fake_iterable/objects.py, experiments.py).
    "journeys": Expect([["id"]], "updatedAt", epoch_ms=("createdAt", "updatedAt")),
    "catalogs": Expect([["name"]], None),
    "catalog_items": Expect([["catalogName"], ["itemId"]], "lastModified"),
    "snippets": Expect([["id"]], None),
    "webhooks": Expect([["id"]], None),
    "experiment_metrics": Expect([["experimentId"], ["templateId"]], None),
    "forgotten_users": Expect([["hash"]], None),
}
INCREMENTAL = sorted(name for name, expect in STREAMS.items() if expect.incremental)
EXPORT_STREAMS = sorted(name for name, expect in STREAMS.items() if expect.export_type)
USERS_RENAMES = {"Industry": "_industry", "offers.Intro APR": "_offers.intro APR"}
# The fake's custom date fields (fake_iterable/fields.py types them ``date``; issue 10), where they sit in a
# profile: top-level keys (dots included), and (parent, key) inside an object or each object of an array.
USERS_TOP_DATES = ("lastPurchaseDate", "someDate", "subscription.startedAt")
USERS_NESTED_DATES = (("membership", "since"), ("orders", "placedAt"))


def iso_from_date_field(text: str) -> str:
    """A users date field as the connector emits it: a bare date is midnight UTC."""
    return f"{text}T00:00:00Z" if len(text) == 10 else iso_from_export(text)


def _users_dates(out: dict[str, Any]) -> None:
    for name in USERS_TOP_DATES:
        if isinstance(out.get(name), str):
            out[name] = iso_from_date_field(out[name])
    for parent, key in USERS_NESTED_DATES:
        value = out.get(parent)
        items = value if isinstance(value, list) else [value]
        copies = [dict(item) if isinstance(item, dict) else item for item in items]  # the dataset stays as is
        for item in copies:
            if isinstance(item, dict) and isinstance(item.get(key), str):
                item[key] = iso_from_date_field(item[key])
        if parent in out:
            out[parent] = copies if isinstance(value, list) else copies[0]


def _converted(row: dict[str, Any], expect: Expect) -> dict[str, Any]:
    out = dict(row)
    for name in expect.epoch_ms:
        if isinstance(out.get(name), int):
            out[name] = iso_from_ms(out[name])
    for name in expect.export_times:
        if isinstance(out.get(name), str):
            out[name] = iso_from_export(out[name])
    if isinstance(out.get("transactionalData"), str):
        try:
            decoded = json.loads(out["transactionalData"])
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            out["transactionalData"] = decoded
    if expect.export_type == "user":
        _users_dates(out)
        for old, new in USERS_RENAMES.items():
            if old in out:
                out[new] = out.pop(old)
    return out


def _cursor_ms_filter(
    rows: list[dict[str, Any]], cursor: str, since: datetime | None
) -> list[dict[str, Any]]:
    if since is None:
        return rows
    bound = since.timestamp() * 1000
    return [row for row in rows if row[cursor] >= bound]


def expected_records(
    dataset: Dataset,
    stream: str,
    end: datetime,
    incremental_since: datetime | None = None,
    added: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Every record ``stream`` must emit for a sync from START (or ``incremental_since``) to ``end``.

    ``added`` holds export rows a test added to the server (by dataTypeName).

    list_users' ``updatedAt`` is the sync's start time and is left out (callers drop it too).
    """
    expect = STREAMS[stream]
    rows: list[dict[str, Any]]
    if expect.export_type:
        cursor = expect.cursor or ""
        since = incremental_since or START
        rows = [
            row
            for row in [*dataset.exports[expect.export_type], *(added or {}).get(expect.export_type, [])]
            if since <= export_moment(str(row[cursor])) < end
        ]
    elif stream == "campaigns":
        rows = _cursor_ms_filter(list(dataset.campaigns), "updatedAt", incremental_since)
    elif stream == "templates":
        unique: dict[Any, dict[str, Any]] = {}
        for records in dataset.templates.values():
            for record in records:
                unique.setdefault(record["templateId"], record)
        rows = _cursor_ms_filter(list(unique.values()), "updatedAt", incremental_since)
    elif stream == "list_users":
        rows = expected_list_users(dataset)
    elif stream == "metadata":
        rows = [dict(record) for keys in dataset.metadata.values() for record in keys.values()]
    elif stream in OBJECT_STREAMS:
        return object_records(dataset, stream, incremental_since)
    else:
        rows = list(getattr(dataset, stream))
    return [_converted(row, expect) for row in rows]


# GET /api/lists' listTypes whose members the connector reads from the users export (list_users_source auto).
STATIC_LIST_TYPES = ("Standard", "Suppression", "Internal")


def expected_list_users(dataset: Dataset, source: str = "auto") -> list[dict[str, Any]]:
    """list_users' records (``updatedAt`` left out): one per line of every getUsers body, whichever source.

    Email-based: ``{email, listId}``. Hybrid and userID-based: ``{userKey, userId, email, listId}``, the
    line being the key (getUsers is asked to prefer userIds); a member of a static list read from the
    users export (``source`` auto) carries its profile's userId and email, one read through getUsers
    only its key."""
    if dataset.project_type == "email_based":
        return [
            {"email": line.strip(), "listId": list_id}
            for list_id, lines in dataset.list_members.items()
            for line in lines
            if line.strip()
        ]
    profiles = {str(user.get("userId") or user["email"]): user for user in dataset.exports["user"]}
    static = {entry["id"] for entry in dataset.lists if entry["listType"] in STATIC_LIST_TYPES}
    rows = []
    for list_id, lines in dataset.list_members.items():
        for line in (line.strip() for line in lines):
            if not line:
                continue
            user = profiles[line] if source == "auto" and list_id in static else {}
            rows.append(
                {"userKey": line, "userId": user.get("userId"), "email": user.get("email"), "listId": list_id}
            )
    return rows


def canonical(records: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[str]:
    """Order-free comparison form: sorted JSON lines (duplicates kept, so a row twice shows), with the
    fields folded into ``_additional_fields`` put back at the top level: the rows as Iterable sent them.
    That nothing is folded away from the warehouse is checked against the platform's rule
    (``platform_rule.py``) by the tests that say so."""
    return sorted(
        json.dumps({k: v for k, v in unfolded(r).items() if k not in drop}, sort_keys=True) for r in records
    )


def metrics_by_campaign(dataset: Dataset, start: datetime, end: datetime) -> dict[int, list[float]]:
    """campaigns_metrics, as this module reads the fake's CSV: per campaign id, the sorted numbers of
    its row. Compared with the records' numeric values, it checks every cell arrived, typed, without
    sharing the connector's column naming."""
    body = metrics_csv(
        sorted(dataset.campaigns, key=lambda c: int(str(c["id"]))),
        dataset.seed,
        start.timestamp(),
        end.timestamp(),
    )
    rows = list(csv.reader(io.StringIO(body.decode())))
    expected: dict[int, list[float]] = {}
    for row in rows[1:]:
        if row:
            expected[int(row[0])] = sorted(float(cell) for cell in row[1:] if cell != "")
    return expected


def numbers_of(record: Mapping[str, Any]) -> list[float]:
    return sorted(
        float(v)
        for k, v in record.items()
        if k != "id" and isinstance(v, int | float) and not isinstance(v, bool)
    )
