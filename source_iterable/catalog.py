"""The one table that declares every stream: where it comes from, how it is read, its keys.

``SourceIterable.streams()`` loops over ``STREAMS``; the ``kind`` picks the reader class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import product

from .transforms import RecordTransform


class Kind(Enum):
    JSON_RESOURCE = "json resource"  # one GET, an array under a data key
    PAGED_RESOURCE = "paged resource"  # page/pageSize, possibly fanned out over parameter sets
    EXPORT = "ndjson export"  # /api/export/data.json in date windows
    LIST_MEMBERS = "list members"  # /api/lists/getUsers once per list, plain text
    METADATA = "metadata fan-out"  # tables -> keys (nextMarker) -> values


@dataclass(frozen=True)
class StreamSpec:
    name: str
    kind: Kind
    path: str
    data_key: str | None = None
    export_type: str | None = None
    primary_key: tuple[str, ...] = ()
    cursor: str | None = None
    transform: RecordTransform = field(default_factory=RecordTransform)
    # Parameter sets read one after the other into the same stream (templates: type x medium).
    fan_out: tuple[Mapping[str, str], ...] = ({},)

    @property
    def incremental(self) -> bool:
        return self.cursor is not None


TEMPLATE_TYPES = ("Base", "Blast", "Triggered", "Workflow")
MESSAGE_MEDIUMS = ("Email", "Push", "InApp", "SMS")

_EXPORT_PATH = "/api/export/data.json"
_EVENT = RecordTransform(export_time_fields=("createdAt",))
_EVENT_WITH_PAYLOAD = RecordTransform(
    export_time_fields=("createdAt",), json_string_fields=("transactionalData",)
)
_EVENT_WITH_PROFILE = RecordTransform(export_time_fields=("createdAt", "profileUpdatedAt", "signupDate"))


def _email(name: str, export_type: str, transform: RecordTransform = _EVENT) -> StreamSpec:
    return StreamSpec(
        name, Kind.EXPORT, _EXPORT_PATH, export_type=export_type, cursor="createdAt", transform=transform
    )


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        "campaigns",
        Kind.PAGED_RESOURCE,
        "/api/campaigns",
        data_key="campaigns",
        primary_key=("id",),
        cursor="updatedAt",
        transform=RecordTransform(epoch_ms_fields=("createdAt", "updatedAt", "startAt", "endedAt")),
    ),
    StreamSpec("channels", Kind.JSON_RESOURCE, "/api/channels", data_key="channels", primary_key=("id",)),
    _email("email_bounce", "emailBounce"),
    _email("email_click", "emailClick"),
    _email("email_complaint", "emailComplaint"),
    _email("email_open", "emailOpen"),
    _email("email_send", "emailSend", _EVENT_WITH_PAYLOAD),
    _email("email_send_skip", "emailSendSkip", _EVENT_WITH_PAYLOAD),
    _email("email_subscribe", "emailSubscribe", _EVENT_WITH_PROFILE),
    # Documented spelling, capital S; the API matches the name case-insensitively.
    _email("email_unsubscribe", "emailUnSubscribe"),
    StreamSpec("list_users", Kind.LIST_MEMBERS, "/api/lists/getUsers", primary_key=("email", "listId")),
    StreamSpec(
        "lists",
        Kind.JSON_RESOURCE,
        "/api/lists",
        data_key="lists",
        primary_key=("id",),
        transform=RecordTransform(epoch_ms_fields=("createdAt",)),
    ),
    StreamSpec(
        "message_types",
        Kind.JSON_RESOURCE,
        "/api/messageTypes",
        data_key="messageTypes",
        primary_key=("id",),
        transform=RecordTransform(epoch_ms_fields=("createdAt", "updatedAt")),
    ),
    StreamSpec(
        "metadata",
        Kind.METADATA,
        "/api/metadata",
        data_key="results",
        primary_key=("table", "key"),
        transform=RecordTransform(epoch_ms_fields=("lastModified",)),
    ),
    StreamSpec(
        "templates",
        Kind.PAGED_RESOURCE,
        "/api/templates",
        data_key="templates",
        primary_key=("templateId",),
        cursor="updatedAt",
        transform=RecordTransform(epoch_ms_fields=("createdAt", "updatedAt")),
        fan_out=tuple(
            {"templateType": kind, "messageMedium": medium}
            for kind, medium in product(TEMPLATE_TYPES, MESSAGE_MEDIUMS)
        ),
    ),
    StreamSpec(
        "users",
        Kind.EXPORT,
        _EXPORT_PATH,
        export_type="user",
        primary_key=("email",),
        cursor="profileUpdatedAt",
        transform=RecordTransform(
            export_time_fields=(
                "profileUpdatedAt",
                "signupDate",
                "itblInternal.documentCreatedAt",
                "itblInternal.documentUpdatedAt",
            ),
            # Stitch's test project has fields differing only by case, which clash in
            # case-insensitive destinations; keep the names peers already published.
            renames={"Industry": "_industry", "offers.Intro APR": "_offers.intro APR"},
        ),
    ),
)

STREAMS_BY_NAME: Mapping[str, StreamSpec] = {spec.name: spec for spec in STREAMS}
