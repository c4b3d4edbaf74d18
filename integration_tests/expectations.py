"""What each of the 16 streams must look like, and what it must contain given the fake's dataset.

The expected records are computed here from the raw dataset with this module's own small
conversions, not with the connector's transforms, so a bug there cannot hide behind itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from integration_tests.fake_iterable import Dataset

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
}
INCREMENTAL = sorted(name for name, expect in STREAMS.items() if expect.incremental)
EXPORT_STREAMS = sorted(name for name, expect in STREAMS.items() if expect.export_type)
USERS_RENAMES = {"Industry": "_industry", "offers.Intro APR": "_offers.intro APR"}


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
        rows = [
            {"email": line.strip(), "listId": list_id}
            for list_id, lines in dataset.list_members.items()
            for line in lines
            if line.strip()
        ]
    elif stream == "metadata":
        rows = [dict(record) for keys in dataset.metadata.values() for record in keys.values()]
    else:
        rows = list(getattr(dataset, stream))
    return [_converted(row, expect) for row in rows]


def canonical(records: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[str]:
    """Order-free comparison form: sorted JSON lines (duplicates kept, so a row twice shows)."""
    return sorted(json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in records)
