"""The one table that declares every stream: where it comes from, how it is read, its keys.

``SourceIterable.streams()`` loops over ``STREAMS``; the ``kind`` picks the reader class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from itertools import product

from .transforms import RecordTransform


class Kind(Enum):
    JSON_RESOURCE = "json resource"  # one GET, an array under a data key
    PAGED_RESOURCE = "paged resource"  # page/pageSize, possibly fanned out over parameter sets
    EXPORT = "ndjson export"  # /api/export/data.json in date windows
    LIST_MEMBERS = "list members"  # static lists from one users export, the others getUsers once per list
    METADATA = "metadata fan-out"  # tables -> keys (nextMarker) -> values
    # campaign ids -> CSV metrics in batches sized to the URI limit (campaigns', experiments')
    CAMPAIGN_METRICS = "campaign metrics"
    CATALOG_ITEMS = "catalog items"  # the catalogs found at run time -> every page of each one's items
    FORGOTTEN_USERS = "forgotten users"  # the hash lists of the configured project type


@dataclass(frozen=True)
class ProjectVariant:
    """How a stream is keyed and shaped in one project type (config ``project_type``) where that differs.

    In hybrid and userID-based projects email is not a user's key (userID-based: not unique, may be
    missing): a stream that names users there has its own primary key, and, where its records differ,
    its own schema file, ``schemas/<schema_folder>/<stream>.json`` in place of ``schemas/<stream>.json``.
    """

    primary_key: tuple[str, ...]
    schema_folder: str | None = None  # None: the stream's one schema file serves every project type


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
    # Paged listings: the largest page the endpoint allows (PagedResourceRun's 1000 when None), and the
    # name of the total count when it is not ``total<DataKey>Count``.
    page_size: int | None = None
    total_key: str | None = None
    # Per project type (``config.PROJECT_TYPES``), the key and schema that replace the ones above where
    # that type names users differently (``for_project``); the types not named here use the above.
    by_project_type: Mapping[str, ProjectVariant] = field(default_factory=dict)
    schema_folder: str | None = None  # set by ``for_project``: the schema file's folder

    @property
    def incremental(self) -> bool:
        return self.cursor is not None

    def for_project(self, project_type: str) -> StreamSpec:
        """This stream as a project of ``project_type`` sees it (its key and schema file)."""
        variant = self.by_project_type.get(project_type)
        if variant is None:
            return self
        folder = variant.schema_folder if variant.schema_folder is not None else self.schema_folder
        return replace(self, primary_key=variant.primary_key, schema_folder=folder, by_project_type={})

    def key_for(self, project_type: str) -> tuple[str, ...]:
        """The primary key the stream is declared with in a project of this type."""
        return self.for_project(project_type).primary_key


TEMPLATE_TYPES = ("Base", "Blast", "Triggered", "Workflow")
MESSAGE_MEDIUMS = ("Email", "Push", "InApp", "SMS")

_EXPORT_PATH = "/api/export/data.json"
_EVENT = RecordTransform(export_time_fields=("createdAt",))
_EVENT_WITH_PAYLOAD = RecordTransform(
    export_time_fields=("createdAt",), json_string_fields=("transactionalData",)
)
_EVENT_WITH_PROFILE = RecordTransform(export_time_fields=("createdAt", "profileUpdatedAt", "signupDate"))


def _event_times(*fields: str, payload: bool = False) -> RecordTransform:
    """createdAt plus event timestamps whose wire form is not pinned down, and transactionalData."""
    return RecordTransform(
        export_time_fields=("createdAt",),
        any_time_fields=fields,
        json_string_fields=("transactionalData",) if payload else (),
    )


_IN_APP = _event_times("expiresAt")
_COMMERCE = RecordTransform(
    export_time_fields=("createdAt",),
    json_string_fields=("dataFields",),
    json_array_fields=("shoppingCartItems",),
)
_CUSTOM_EVENT = RecordTransform(
    export_time_fields=("createdAt",), any_time_fields=("eventUpdatedAt",), json_string_fields=("dataFields",)
)


# list_users where email is not a user's key: ``userKey`` is the user's userId, or their email when they
# have none (hybrid projects allow email-only users), so the key is never null.
_MEMBERS_BY_USER_ID = ProjectVariant(("userKey", "listId"), "by_user_id")
# users there: keyed on itblUserId (see the users row); its schema (from getFields) is the same file.
_USERS_BY_USER_ID = ProjectVariant(("itblUserId",))


def _event(name: str, export_type: str, transform: RecordTransform = _EVENT) -> StreamSpec:
    """An event export stream: data.json in date windows on createdAt, no primary key."""
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
    # One record per campaign, the totals since start_date (docs/api-campaigns-metrics.md).
    StreamSpec("campaigns_metrics", Kind.CAMPAIGN_METRICS, "/api/campaigns/metrics", primary_key=("id",)),
    StreamSpec("channels", Kind.JSON_RESOURCE, "/api/channels", data_key="channels", primary_key=("id",)),
    _event("email_bounce", "emailBounce"),
    _event("email_click", "emailClick"),
    _event("email_complaint", "emailComplaint"),
    _event("email_open", "emailOpen"),
    _event("email_send", "emailSend", _EVENT_WITH_PAYLOAD),
    _event("email_send_skip", "emailSendSkip", _EVENT_WITH_PAYLOAD),
    _event("email_subscribe", "emailSubscribe", _EVENT_WITH_PROFILE),
    # Documented spelling, capital S; the API matches the name case-insensitively.
    _event("email_unsubscribe", "emailUnSubscribe"),
    StreamSpec(
        "list_users",
        Kind.LIST_MEMBERS,
        "/api/lists/getUsers",
        primary_key=("email", "listId"),
        by_project_type={"hybrid": _MEMBERS_BY_USER_ID, "userid_based": _MEMBERS_BY_USER_ID},
    ),
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
        # In hybrid and userID-based projects email may be missing (userID) and a hybrid user may gain
        # a userId later; itblUserId is the one id Iterable documents as present and unique for every
        # user of both types. Whether every export row carries it is UNCONFIRMED: readers/users/run.py
        # counts the rows without it.
        by_project_type={"hybrid": _USERS_BY_USER_ID, "userid_based": _USERS_BY_USER_ID},
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
    # --- other channels' export events (issue 11) ---
    _event("push_send", "pushSend", _EVENT_WITH_PAYLOAD),
    _event("push_send_skip", "pushSendSkip", _EVENT_WITH_PAYLOAD),
    _event("push_open", "pushOpen", _event_times("sentAt")),
    _event("push_uninstall", "pushUninstall"),
    _event("push_bounce", "pushBounce"),
    _event("web_push_send", "webPushSend", _EVENT_WITH_PAYLOAD),
    _event("web_push_click", "webPushClick"),
    _event("web_push_send_skip", "webPushSendSkip", _EVENT_WITH_PAYLOAD),
    _event("in_app_send", "inAppSend", _event_times("expiresAt", payload=True)),
    _event("in_app_open", "inAppOpen", _IN_APP),
    _event("in_app_click", "inAppClick", _event_times("sentAt", "expiresAt")),
    _event("in_app_close", "inAppClose", _IN_APP),
    _event("in_app_delete", "inAppDelete", _IN_APP),
    _event("in_app_delivery", "inAppDelivery", _IN_APP),
    _event("in_app_send_skip", "inAppSendSkip", _EVENT_WITH_PAYLOAD),
    _event("inbox_session", "inboxSession", _event_times("inboxSessionStart", "inboxSessionEnd")),
    _event("inbox_message_impression", "inboxMessageImpression"),
    _event("sms_send", "smsSend", _EVENT_WITH_PAYLOAD),
    _event("sms_bounce", "smsBounce"),
    _event("sms_click", "smsClick", _EVENT_WITH_PAYLOAD),
    _event("sms_received", "smsReceived"),
    _event("sms_send_skip", "smsSendSkip", _EVENT_WITH_PAYLOAD),
    _event("sms_usage_info", "smsUsageInfo"),
    _event("purchase", "purchase", _COMMERCE),
    _event("custom_event", "customEvent", _CUSTOM_EVENT),
    _event("hosted_unsubscribe_click", "hostedUnsubscribeClick"),
    _event("in_app_recall", "inAppRecall"),
    _event("rcs_send", "rcsSend", _EVENT_WITH_PAYLOAD),
    _event("rcs_send_skip", "rcsSendSkip", _EVENT_WITH_PAYLOAD),
    _event("embedded_send", "embeddedSend", _EVENT_WITH_PAYLOAD),
    _event("embedded_send_skip", "embeddedSendSkip", _EVENT_WITH_PAYLOAD),
    _event("embedded_click", "embeddedClick"),
    _event("embedded_received", "embeddedReceived"),
    _event("embedded_impression", "embeddedImpression"),
    _event("embedded_session", "embeddedSession", _event_times("session.start", "session.end")),
    _event("unknown_session", "unknownSession"),
    _event("journey_exit", "journeyExit"),
    _event("whatsapp_send", "whatsAppSend", _EVENT_WITH_PAYLOAD),
    _event("whatsapp_send_skip", "whatsAppSendSkip", _EVENT_WITH_PAYLOAD),
    _event("whatsapp_bounce", "whatsAppBounce"),
    _event("whatsapp_click", "whatsAppClick"),
    _event("whatsapp_received", "whatsAppReceived", _event_times("receivedAt")),
    _event("whatsapp_seen", "whatsAppSeen", _event_times("seenAt", "sentAt")),
    _event("whatsapp_usage_info", "whatsAppUsageInfo"),
    # --- end of other channels ---
    # --- the objects events are joined to, and the users to forget (issue 17) ---
    StreamSpec(
        "journeys",
        Kind.PAGED_RESOURCE,
        "/api/journeys",
        data_key="journeys",
        primary_key=("id",),
        cursor="updatedAt",
        # Without a state parameter the listing leaves the archived journeys out; they are their own listing.
        fan_out=({}, {"state": "Archived"}),
        page_size=50,
        transform=RecordTransform(
            epoch_ms_fields=("createdAt", "updatedAt"), date_paths=("draft.createdAt", "draft.updatedAt")
        ),
    ),
    StreamSpec(
        "catalogs",
        Kind.PAGED_RESOURCE,
        "/api/catalogs",
        data_key="catalogNames",
        primary_key=("name",),
        page_size=100,
        total_key="totalCatalogsCount",
    ),
    StreamSpec(
        "catalog_items",
        Kind.CATALOG_ITEMS,
        "/api/catalogs/{catalogName}/items",
        data_key="catalogItemsWithProperties",
        primary_key=("catalogName", "itemId"),
        cursor="lastModified",
        # Epoch milliseconds (recorded) or a date-time (the spec): either becomes RFC 3339.
        transform=RecordTransform(any_time_fields=("lastModified",)),
    ),
    StreamSpec(
        "snippets",
        Kind.JSON_RESOURCE,
        "/api/snippets",
        data_key="snippets",
        primary_key=("id",),
        transform=RecordTransform(any_time_fields=("createdAt", "updatedAt")),
    ),
    StreamSpec("webhooks", Kind.JSON_RESOURCE, "/api/webhooks", data_key="webhooks", primary_key=("id",)),
    # One record per variant of an experiment (readers/metrics/endpoints.py), asked by campaign ids.
    StreamSpec(
        "experiment_metrics",
        Kind.CAMPAIGN_METRICS,
        "/api/experiments/metrics",
        primary_key=("experimentId", "templateId"),
    ),
    StreamSpec("forgotten_users", Kind.FORGOTTEN_USERS, "/api/users/forgotten", primary_key=("hash",)),
)

STREAMS_BY_NAME: Mapping[str, StreamSpec] = {spec.name: spec for spec in STREAMS}
