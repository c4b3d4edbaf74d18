"""The stream schemas in source_iterable/schemas, checked against the records the connector emits.

The emitted records below are the example API records of the fact sheet (../shared/iterable-api.md, §5),
and one example per type of the other channels (issue 11), with the transforms of docs/design.md
("Records we emit") applied by hand: epoch-ms and export date-times
as RFC 3339 UTC strings, transactionalData decoded, the users renames, and the list_users / metadata shapes.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator

from .builders import CHANNEL_STREAMS

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "source_iterable" / "schemas"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"


# stream -> (primary key fields, cursor fields); every one must be a declared property.
KEY_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "campaigns": (("id",), ("updatedAt",)),
    "channels": (("id",), ()),
    "email_bounce": ((), ("createdAt",)),
    "email_click": ((), ("createdAt",)),
    "email_complaint": ((), ("createdAt",)),
    "email_open": ((), ("createdAt",)),
    "email_send": ((), ("createdAt",)),
    "email_send_skip": ((), ("createdAt",)),
    "email_subscribe": ((), ("createdAt",)),
    "email_unsubscribe": ((), ("createdAt",)),
    "list_users": (("email", "listId"), ()),
    "lists": (("id",), ()),
    "message_types": (("id",), ()),
    "metadata": (("table", "key"), ()),
    "templates": (("templateId",), ("updatedAt",)),
    "users": (("email",), ("profileUpdatedAt",)),
    # other channels' export events (issue 11): no primary key, cursor createdAt
    **{stream: ((), ("createdAt",)) for stream in CHANNEL_STREAMS},
}
STREAMS = sorted(KEY_FIELDS)
# Schemas of streams whose tests live in their own files (campaigns_metrics: unit_tests/test_metrics.py;
# the streams of issue 17: unit_tests/test_object_schemas.py).
CHECKED_ELSEWHERE = {
    "campaigns_metrics",
    "journeys",
    "catalogs",
    "catalog_items",
    "snippets",
    "webhooks",
    "experiment_metrics",
    "forgotten_users",
}
EMAIL_STREAMS = [s for s in STREAMS if s.startswith("email_")]
EVENT_STREAMS = sorted([*EMAIL_STREAMS, *CHANNEL_STREAMS])

# stream -> every field docs/design.md turns into an RFC 3339 string (and no other field has a format).
DATE_TIME_FIELDS: dict[str, set[str]] = {
    "campaigns": {"createdAt", "updatedAt", "startAt", "endedAt"},
    "channels": set(),
    **{stream: {"createdAt"} for stream in EMAIL_STREAMS},
    "email_subscribe": {"createdAt", "profileUpdatedAt"},
    "list_users": {"updatedAt"},
    "lists": {"createdAt"},
    "message_types": {"createdAt", "updatedAt"},
    "metadata": {"lastModified"},
    "templates": {"createdAt", "updatedAt"},
    "users": {
        "profileUpdatedAt",
        "signupDate",
        "itblInternal.documentCreatedAt",
        "itblInternal.documentUpdatedAt",
    },
    **{stream: {"createdAt"} for stream in CHANNEL_STREAMS},
    "push_open": {"createdAt", "sentAt"},
    "in_app_send": {"createdAt", "expiresAt"},
    "in_app_open": {"createdAt", "expiresAt"},
    "in_app_click": {"createdAt", "sentAt", "expiresAt"},
    "in_app_close": {"createdAt", "expiresAt"},
    "in_app_delete": {"createdAt", "expiresAt"},
    "in_app_delivery": {"createdAt", "expiresAt"},
    "inbox_session": {"createdAt", "inboxSessionStart", "inboxSessionEnd"},
    "embedded_session": {"createdAt", "session.start", "session.end"},
    "custom_event": {"createdAt", "eventUpdatedAt"},
    "whatsapp_received": {"createdAt", "receivedAt"},
    "whatsapp_seen": {"createdAt", "seenAt", "sentAt"},
}

# stream -> records exactly as the connector emits them (fact-sheet examples, transformed by hand).
EMITTED: dict[str, list[dict[str, Any]]] = {
    "campaigns": [
        {
            "id": 7012345,
            "createdAt": "2024-03-05T15:58:41.000Z",
            "updatedAt": "2024-03-06T15:46:40.123Z",
            "startAt": "2024-03-06T15:46:40.120Z",
            "endedAt": "2024-03-06T15:48:43.456Z",
            "name": "March Newsletter",
            "templateId": 9102233,
            "messageMedium": "Email",
            "createdByUserId": "marketer@shop.example",
            "updatedByUserId": "marketer@shop.example",
            "campaignState": "Finished",
            "listIds": [3301122, 3301123],
            "suppressionListIds": [3301199],
            "sendSize": 48210,
            "labels": ["newsletter"],
            "type": "Blast",
        },
        {
            "id": 7012399,
            "createdAt": "2024-01-23T08:53:20.000Z",
            "updatedAt": "2024-01-23T08:53:32.345Z",
            "name": "Cart Abandon - Push",
            "templateId": 9102301,
            "messageMedium": "Push",
            "createdByUserId": "marketer@shop.example",
            "updatedByUserId": "marketer@shop.example",
            "campaignState": "Running",
            "suppressionListIds": [],
            "labels": [],
            "type": "Triggered",
            "workflowId": 55123,
        },
        {
            "id": 7012410,
            "createdAt": "2024-03-09T16:00:00.000Z",
            "updatedAt": "2024-03-09T16:00:00.000Z",
            "name": "Weekly digest (recurring)",
            "templateId": 9102400,
            "messageMedium": "Email",
            "createdByUserId": "ops@shop.example",
            "campaignState": "Ready",
            "listIds": [3301122],
            "suppressionListIds": [],
            "labels": ["digest"],
            "type": "Blast",
            "recurringCampaignId": 7012000,
        },
    ],
    "channels": [
        {"id": 41001, "name": "Marketing Channel", "channelType": "Marketing", "messageMedium": "Email"},
        {
            "id": 41002,
            "name": "Transactional Channel",
            "channelType": "Transactional",
            "messageMedium": "Email",
        },
        {"id": 41003, "name": "Push Marketing Channel", "channelType": "Marketing", "messageMedium": "Push"},
    ],
    "lists": [
        {
            "id": 3301122,
            "name": "Newsletter subscribers",
            "description": "Opted in via footer form",
            "createdAt": "2021-04-08T14:25:08.857Z",
            "listType": "Standard",
        },
        {
            "id": 3301150,
            "name": "Active last 30d",
            "createdAt": "2022-04-29T12:16:07.890Z",
            "listType": "Dynamic",
        },
        {
            "id": 3301199,
            "name": "Do not mail",
            "createdAt": "2020-09-13T12:26:40.000Z",
            "listType": "Suppression",
            "isGlobalSuppressionEnabled": False,
        },
    ],
    "list_users": [
        {"email": "ana.silva@example.com", "listId": 3301122, "updatedAt": "2024-03-11T09:00:00.000Z"},
        {"email": "bo.li@example.org", "listId": 3301122, "updatedAt": "2024-03-11T09:00:00.000Z"},
        {"email": "carlos+promo@example.net", "listId": 3301122, "updatedAt": "2024-03-11T09:00:00Z"},
    ],
    "message_types": [
        {
            "id": 52001,
            "createdAt": "2021-01-07T19:39:54.730Z",
            "updatedAt": "2021-01-07T19:39:54.730Z",
            "name": "Marketing Message",
            "channelId": 41001,
            "subscriptionPolicy": "OptOut",
        },
        {
            "id": 52002,
            "createdAt": "2021-01-07T19:39:54.730Z",
            "updatedAt": "2023-02-07T12:23:00.223Z",
            "name": "Transactional Message",
            "channelId": 41002,
            "subscriptionPolicy": "OptOut",
        },
        {
            "id": 52010,
            "createdAt": "2023-11-14T22:13:19.999Z",
            "updatedAt": "2023-11-14T22:13:19.999Z",
            "name": "Weekly deals",
            "channelId": 41001,
            "subscriptionPolicy": "OptIn",
            "rateLimitPerMinute": 2000,
            "frequencyCap": {"days": 7, "messages": 3},
        },
    ],
    "metadata": [
        {
            "table": "products",
            "key": "sku-1001",
            "size": 187,
            "lastModified": "2023-10-11T16:00:00.123Z",
            "value": {
                "name": "Trail Runner 2",
                "sku": "sku-1001",
                "price": 129,
                "categories": ["shoes", "running"],
                "url": "https://shop.example/p/1001",
                "imageUrl": "https://cdn.example/1001.jpg",
            },
        },
        {
            "table": "stores",
            "key": "nyc-01",
            "size": 64,
            "lastModified": "2023-11-14T22:13:20.000Z",
            "value": {"city": "New York", "open": True},
        },
    ],
    "templates": [
        {
            "templateId": 9102233,
            "createdAt": "2024-03-05T15:58:20.000Z",
            "updatedAt": "2024-03-06T15:46:30.000Z",
            "name": "March Newsletter Template",
            "creatorUserId": "marketer@shop.example",
            "messageTypeId": 52001,
            "campaignId": 7012345,
        },
        {
            "templateId": 9102301,
            "createdAt": "2024-01-23T08:53:20.000Z",
            "updatedAt": "2024-04-01T19:33:20.000Z",
            "name": "Cart Abandon Push",
            "creatorUserId": "marketer@shop.example",
            "messageTypeId": 52003,
            "campaignId": 7012399,
        },
        {
            "templateId": 9000001,
            "createdAt": "2023-03-28T10:40:00.000Z",
            "updatedAt": "2023-03-28T10:40:00.000Z",
            "name": "Brand base layout",
            "creatorUserId": "design@shop.example",
            "messageTypeId": 52001,
            "clientTemplateId": "base-layout-v1",
        },
    ],
    "users": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "signupDate": "2022-11-03T09:14:22Z",
            "signupSource": "Import",
            "profileUpdatedAt": "2024-02-10T18:02:45Z",
            "emailListIds": [3301122],
            "unsubscribedChannelIds": [],
            "unsubscribedMessageTypeIds": [],
            "itblInternal.emailDomain": "example.com",
            "firstName": "Jane",
            "lastName": "Doe",
            "favoriteCategory": "running",
            "isVip": False,
        },
        {
            "email": "raj.k@example.org",
            "signupDate": "2024-02-10T18:05:01Z",
            "signupSource": "API",
            "profileUpdatedAt": "2024-02-10T18:05:01Z",
            "emailListIds": [],
            "unsubscribedChannelIds": [41001],
            "unsubscribedMessageTypeIds": [52010],
            "subscribedMessageTypeIds": [52010],
            "itblInternal.emailDomain": "example.org",
            "phoneNumber": "+14155550123",
            "timeZone": "America/Los_Angeles",
            "locale": "en-US",
            "devices": [
                {
                    "platform": "APNS",
                    "token": "a1b2c3d4",
                    "endpointEnabled": True,
                    "applicationName": "shop-ios",
                }
            ],
        },
        # "Industry" -> "_industry", "offers.Intro APR" -> "_offers.intro APR"; the lower-case twins stay.
        {
            "email": "lee@example.net",
            "userId": "u-200981",
            "signupDate": "2023-06-01T00:00:03Z",
            "signupSource": "ListAPI",
            "profileUpdatedAt": "2024-02-11T07:30:00Z",
            "emailListIds": [3301122, 3301150],
            "unsubscribedChannelIds": [],
            "unsubscribedMessageTypeIds": [],
            "itblInternal.emailDomain": "example.net",
            "_industry": "Retail",
            "industry": "retail",
            "_offers.intro APR": [0, 0],
            "offers.intro APR": [19],
        },
        # Built for this test (not a fact-sheet example): the other standard and internal fields.
        {
            "email": "ana.silva@example.com",
            "userId": "u-100777",
            "itblUserId": "itbl-5f0c",
            "signupDate": "2024-02-10T18:02:40Z",
            "profileUpdatedAt": "2024-02-10T18:02:40Z",
            "userListIds": [3301122],
            "city": "Lisbon",
            "region": "11",
            "country": "Portugal",
            "ip": "198.51.100.7",
            "whatsAppPhoneNumber": "+351910000000",
            "receivedSMSDisclaimer": True,
            "knownLitigatorFilter": "clean",
            "profile": {"tier": "gold", "points": 120},
            "itblInternal.documentCreatedAt": "2024-02-10T18:02:40Z",
            "itblInternal.documentUpdatedAt": "2024-02-10T18:02:41Z",
            "itblInternal.isUnknownUser": False,
            "itblInternal.phoneCountry": "PT",
            "itblInternal.phoneType": "mobile",
            "itblDS.brandAffinityLabel": "Loyal",
            "itblDS.predictiveGoals": {"purchase": 0.42},
        },
    ],
    "email_send": [
        {
            "email": "jane.doe@example.com",
            "messageTypeId": 52001,
            "catalogLookupCount": 0,
            "templateId": 9102233,
            "messageBusId": "0100018e1a2b3c4d-5e6f7a8b-1234-4cde-9abc-0123456789ab-000000",
            "messageId": "9f1c2e7a4b3d4e5f8a9b0c1d2e3f4a5b",
            "createdAt": "2024-03-06T15:46:40Z",
            "catalogCollectionCount": 0,
            "campaignId": 7012345,
            "channelId": 41001,
            "productRecommendationCount": 0,
            "contentId": 15002233,
        },
        {
            "email": "raj.k@example.org",
            "userId": "u-300112",
            "messageTypeId": 52002,
            "templateId": 9103000,
            "messageId": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "createdAt": "2024-03-06T15:47:02Z",
            "campaignId": 7013000,
            "channelId": 41002,
            "contentId": 15003000,
            "catalogCollectionCount": 0,
            "catalogLookupCount": 1,
            "productRecommendationCount": 0,
            "transactionalData": {"orderId": "A-1001", "total": 59.9},
        },
        # Built for this test: a transactionalData that was not valid JSON stays the original string.
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:47:03Z",
            "campaignId": 7013000,
            "transactionalData": "{orderId: A-1002",
        },
    ],
    "email_open": [
        {
            "ip": "66.249.81.18",
            "email": "jane.doe@example.com",
            "userAgent": (
                "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
            ),
            "templateId": 9102233,
            "messageId": "9f1c2e7a4b3d4e5f8a9b0c1d2e3f4a5b",
            "createdAt": "2024-03-06T16:02:11Z",
            "campaignId": 7012345,
            "userAgentDevice": "Gmail",
        },
        {
            "city": "Austin",
            "ip": "203.0.113.42",
            "email": "jane.doe@example.com",
            "country": "United States",
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)",
            "templateId": 9102233,
            "messageId": "9f1c2e7a4b3d4e5f8a9b0c1d2e3f4a5b",
            "createdAt": "2024-03-06T18:20:59Z",
            "region": "TX",
            "campaignId": 7012345,
            "userAgentDevice": "Other",
        },
    ],
    "email_click": [
        {
            "city": "Lisbon",
            "ip": "198.51.100.7",
            "country": "Portugal",
            "userAgent": (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/537.36 Chrome/121.0 Safari/537.36"
            ),
            "templateId": 9102233,
            "messageId": "9f1c2e7a4b3d4e5f8a9b0c1d2e3f4a5b",
            "createdAt": "2024-03-06T16:03:40Z",
            "campaignId": 7012345,
            "userAgentDevice": "Mac",
            "hrefIndex": 1,
            "email": "jane.doe@example.com",
            "url": "https://shop.example/sale?utm_source=iterable",
            "region": "11",
            "contentId": 15002233,
        },
        {
            "ip": "192.0.2.10",
            "country": "Germany",
            "userAgent": "Mozilla/5.0 (Linux; Android 14)",
            "templateId": 9102233,
            "messageId": "77aa88bb99cc00dd11ee22ff33aa44bb",
            "createdAt": "2024-03-07T08:00:01Z",
            "campaignId": 7012345,
            "userAgentDevice": "Other",
            "hrefIndex": 0,
            "email": "lee@example.net",
            "url": "https://shop.example/",
            "contentId": 15002233,
        },
    ],
    "email_bounce": [
        {
            "email": "old.address@example.com",
            "templateId": 9102233,
            "recipientState": "HardBounce",
            "status": "5.1.1",
            "messageId": "aa11bb22cc33dd44ee55ff6677889900",
            "createdAt": "2024-03-06T15:49:10Z",
            "campaignId": 7012345,
        },
        {
            "email": "full.box@example.org",
            "templateId": 9102233,
            "recipientState": "SoftBounce",
            "status": "4.2.2",
            "messageId": "0f0e0d0c0b0a09080706050403020100",
            "createdAt": "2024-03-06T15:51:33Z",
            "campaignId": 7012345,
        },
    ],
    "email_complaint": [
        {
            "email": "grumpy@example.com",
            "templateId": 9102233,
            "messageId": "1234abcd5678ef901234abcd5678ef90",
            "createdAt": "2024-03-07T10:12:00Z",
            "campaignId": 7012345,
            "recipientState": "Complaint",
        },
        # Built for this test: itblInternal passes through untransformed (no date-time format on it).
        {
            "email": "spamclick@example.net",
            "userId": "u-400001",
            "templateId": 9102301,
            "messageId": "fedcba9876543210fedcba9876543210",
            "createdAt": "2024-03-08T22:40:31Z",
            "campaignId": 7012399,
            "itblInternal": {
                "documentCreatedAt": "2024-03-08 22:40:31 +00:00",
                "documentUpdatedAt": "2024-03-08 22:40:31 +00:00",
            },
        },
    ],
    "email_send_skip": [
        {
            "email": "jane.doe@example.com",
            "reason": "DuplicateMarketingMessage",
            "createdAt": "2024-03-06T15:46:41Z",
            "campaignId": 7012345,
            "templateId": 9102233,
            "messageTypeId": 52001,
            "channelId": 41001,
            "messageId": "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
            "contentId": 15002233,
        },
        {
            "email": "lee@example.net",
            "reason": "MessageTypeUnsubscribed",
            "createdAt": "2024-03-06T15:46:42Z",
            "campaignId": 7012345,
            "templateId": 9102233,
            "messageTypeId": 52010,
            "channelId": 41001,
            "messageId": "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f",
        },
        # Built for this test: the [VCR] transactionalData '{"data":[]}', decoded.
        {
            "email": "raj.k@example.org",
            "reason": "DuplicateMarketingMessage",
            "createdAt": "2024-03-06T15:46:43Z",
            "campaignId": 7012345,
            "transactionalData": {"data": []},
        },
    ],
    "email_subscribe": [
        {
            "email": "ana.silva@example.com",
            "emailListIds": [3301122],
            "channelIds": [],
            "profileUpdatedAt": "2024-02-10T18:02:40Z",
            "userId": "u-100777",
            "createdAt": "2024-02-10T18:02:41Z",
            "signupSource": "ListAPI",
        },
        {
            "email": "jane.doe@example.com",
            "emailListIds": [3301122],
            "lastName": "Doe",
            "userId": "u-100045",
            "firstName": "Jane",
            "channelIds": [],
            "profileUpdatedAt": "2022-11-03T09:14:20Z",
            "createdAt": "2022-11-03T09:14:22Z",
            "signupSource": "Import",
        },
    ],
    "email_unsubscribe": [
        {
            "email": "old.address@example.com",
            "unsubSource": "HardBounce",
            "emailListIds": [],
            "channelIds": [41002, 41001],
            "templateId": 9102233,
            "recipientState": "HardBounce",
            "status": "5.1.1",
            "messageId": "aa11bb22cc33dd44ee55ff6677889900",
            "createdAt": "2024-03-06T15:49:12Z",
        },
        {
            "email": "lee@example.net",
            "unsubSource": "Import",
            "emailListIds": [3301122],
            "channelIds": [],
            "createdAt": "2024-03-09T12:00:43Z",
        },
        {
            "email": "raj.k@example.org",
            "unsubSource": "EmailLink",
            "emailListIds": [],
            "channelIds": [41001],
            "campaignId": 7012345,
            "templateId": 9102233,
            "messageId": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "createdAt": "2024-03-10T07:15:00Z",
        },
    ],
    # ------------------------------------------------------------- other channels (issue 11)
    # One example per type, written after the shapes of the peers' published schemas and Iterable's
    # request models (see channel_event.json), with the transforms applied by hand.
    "push_send": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-06T15:46:40Z",
            "campaignId": 7012399,
            "templateId": 9102301,
            "messageTypeId": 52003,
            "channelId": 41003,
            "contentId": 15002301,
            "messageId": "2c1d4e7f9a0b4c3d8e5f6a7b8c9d0e1f",
            "platformEndpoint": "APNS",
            "notificationsEnabled": True,
            "catalogLookupCount": 0,
            "catalogCollectionCount": 0,
            "productRecommendationCount": 0,
            "transactionalData": {"orderId": "A-1001", "total": 59.9},
        }
    ],
    "push_send_skip": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:46:41Z",
            "campaignId": 7012399,
            "templateId": 9102301,
            "messageTypeId": 52003,
            "channelId": 41003,
            "messageId": "3d2e5f8a0b1c4d5e9f6a7b8c9d0e1f2a",
            "reason": "FrequencyCapped",
        }
    ],
    "push_open": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-06T16:02:11Z",
            "campaignId": 7012399,
            "templateId": 9102301,
            "messageId": "2c1d4e7f9a0b4c3d8e5f6a7b8c9d0e1f",
            "sentAt": "2024-03-06T15:46:40Z",
            "appAlreadyRunning": False,
            "actionIdentifier": "open_cart",
        }
    ],
    "push_uninstall": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-08T09:00:00Z",
            "campaignId": 7012399,
            "templateId": 9102301,
            "messageId": "4e3f6a9b1c2d4e5f8a7b6c5d4e3f2a1b",
        }
    ],
    "push_bounce": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:46:42Z",
            "campaignId": 7012399,
            "templateId": 9102301,
            "messageTypeId": 52003,
            "channelId": 41003,
            "messageId": "4e3f6a9b1c2d4e5f8a7b6c5d4e3f2a1b",
        }
    ],
    "web_push_send": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-01-23T08:53:32Z",
            "campaignId": 5967603,
            "templateId": 8040764,
            "messageTypeId": 52005,
            "channelId": 41005,
            "contentId": 15009001,
            "messageId": "5f4a7b0c2d3e4f5a9b8c7d6e5f4a3b2c",
            "catalogLookupCount": 0,
            "catalogCollectionCount": 0,
            "productRecommendationCount": 0,
        }
    ],
    "web_push_click": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-01-23T09:10:05Z",
            "campaignId": 5967603,
            "templateId": 8040764,
            "messageId": "5f4a7b0c2d3e4f5a9b8c7d6e5f4a3b2c",
        }
    ],
    "web_push_send_skip": [
        {
            "email": "bo.li@example.org",
            "createdAt": "2024-01-23T08:53:33Z",
            "campaignId": 5967603,
            "templateId": 8040764,
            "messageTypeId": 52005,
            "channelId": 41005,
            "messageId": "6a5b8c1d3e4f4a5b8c9d0e1f2a3b4c5d",
            "reason": "ChannelUnsubscribed",
            "transactionalData": {"data": []},
        }
    ],
    "in_app_send": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-06T15:46:40Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageTypeId": 52003,
            "channelId": 41003,
            "contentId": 15002500,
            "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
            "expiresAt": "2024-06-04T15:46:40Z",
            "priorityLevel": 300.5,
            "messageContext.saveToInbox": True,
            "messageContext.silentInbox": False,
        }
    ],
    "in_app_open": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-06T18:20:59Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
            "expiresAt": "2024-06-04T15:46:40Z",
            "inboxSessionId": "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f",
            "deviceInfo.deviceId": "0c9b8a7f-6e5d-4c3b-8a29-1f0e9d8c7b6a",
            "deviceInfo.platform": "iOS",
            "deviceInfo.appPackageName": "com.shop.example.ios",
            "messageContext.saveToInbox": True,
            "messageContext.silentInbox": False,
            "messageContext.location": "inbox",
        }
    ],
    "in_app_click": [
        {
            "email": "jane.doe@example.com",
            "createdAt": "2024-03-06T18:21:10Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
            "clickedUrl": "https://shop.example/sale",
            "sentAt": "2024-03-06T15:46:40Z",
            "expiresAt": "2024-06-04T15:46:40Z",
            "deviceInfo.deviceId": "0c9b8a7f-6e5d-4c3b-8a29-1f0e9d8c7b6a",
            "deviceInfo.platform": "iOS",
            "deviceInfo.appPackageName": "com.shop.example.ios",
            "messageContext.saveToInbox": False,
            "messageContext.silentInbox": False,
            "messageContext.location": "in-app",
        }
    ],
    "in_app_close": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-07T08:00:01Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "8c7d0e3f5a6b4c7d9e0f1a2b3c4d5e6f",
            "closeAction": "link",
            "clickedUrl": "itbl://dismiss",
            "expiresAt": "2024-06-05T08:00:00Z",
            "deviceInfo.deviceId": "1d0c9b8a-7f6e-4d5c-9b3a-2e1f0a9b8c7d",
            "deviceInfo.platform": "Android",
            "deviceInfo.appPackageName": "com.shop.example",
            "messageContext.location": "in-app",
        }
    ],
    "in_app_delete": [
        {
            "email": "jane.doe@example.com",
            "createdAt": "2024-03-09T12:00:43Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
            "deleteAction": "inbox-swipe",
            "expiresAt": "2024-06-04T15:46:40Z",
            "inboxSessionId": "3a2f1e0d-9c8b-4a7d-8e6f-5b4c3d2e1f0a",
            "deviceInfo.platform": "iOS",
            "messageContext.saveToInbox": True,
            "messageContext.location": "inbox",
        }
    ],
    "in_app_delivery": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-07T07:59:58Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "8c7d0e3f5a6b4c7d9e0f1a2b3c4d5e6f",
            "expiresAt": "2024-06-05T08:00:00Z",
            "deviceInfo.deviceId": "1d0c9b8a-7f6e-4d5c-9b3a-2e1f0a9b8c7d",
            "deviceInfo.platform": "Android",
            "deviceInfo.appPackageName": "com.shop.example",
        }
    ],
    "in_app_send_skip": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:46:43Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageTypeId": 52003,
            "channelId": 41003,
            "messageId": "9d8e1f4a6b7c4d8e9f0a1b2c3d4e5f6a",
            "reason": "DuplicateMarketingMessage",
        }
    ],
    "inbox_session": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-06T18:25:00Z",
            "inboxSessionId": "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f",
            "inboxSessionStart": "2024-03-06T18:20:40.123Z",
            "inboxSessionEnd": "2024-03-06T18:24:59.456Z",
            "startTotalMessageCount": 4,
            "startUnreadMessageCount": 2,
            "endTotalMessageCount": 3,
            "endUnreadMessageCount": 0,
            "impressions": [
                {
                    "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
                    "silentInbox": False,
                    "displayCount": 2,
                    "displayDuration": 12.5,
                }
            ],
            "deviceInfo.deviceId": "0c9b8a7f-6e5d-4c3b-8a29-1f0e9d8c7b6a",
            "deviceInfo.platform": "iOS",
            "deviceInfo.appPackageName": "com.shop.example.ios",
        }
    ],
    "inbox_message_impression": [
        {
            "email": "jane.doe@example.com",
            "createdAt": "2024-03-06T18:25:00Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "7b6c9d2e4f5a4b6c9d0e1f2a3b4c5d6e",
            "inboxSessionId": "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f",
            "silentInbox": False,
            "displayCount": 2,
            "displayDuration": 12.5,
            "deviceInfo.platform": "iOS",
        }
    ],
    "sms_send": [
        {
            "email": "raj.k@example.org",
            "userId": "u-300112",
            "createdAt": "2024-03-06T15:47:02Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52004,
            "channelId": 41004,
            "contentId": 15003100,
            "messageId": "0a9f2e5b7c8d4e9f0a1b2c3d4e5f6a7b",
            "messageBusId": "0100018e1a2b3c4d-5e6f7a8b-000000",
            "toPhoneNumber": "+14155550123",
            "fromSMSSenderId": 1201,
            "smsSendCount": 1,
            "mmsSendCount": 0,
            "isSMSEstimation": False,
            "billingParty": "Iterable",
            "espName": "Twilio",
            "espAccountId": "AC5f1e0c2b9d",
            "renderedSmsMessage": "Your order A-1001 has shipped",
            "catalogLookupCount": 1,
            "catalogCollectionCount": 0,
            "productRecommendationCount": 0,
            # the raw '{"orderId":"A-1001"}', decoded
            "transactionalData": {"orderId": "A-1001"},
        }
    ],
    "sms_bounce": [
        {
            "email": "old.address@example.com",
            "createdAt": "2024-03-06T15:49:10Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52004,
            "channelId": 41004,
            "messageId": "1b0a3f6c8d9e4f0a1b2c3d4e5f6a7b8c",
            "toPhoneNumber": "+12125550188",
            "errorCode": 30003,
            "messageStatus": "undelivered",
        }
    ],
    "sms_click": [
        {
            "email": "raj.k@example.org",
            "userId": "u-300112",
            "createdAt": "2024-03-06T16:03:40Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52004,
            "channelId": 41004,
            "contentId": 15003100,
            "messageId": "0a9f2e5b7c8d4e9f0a1b2c3d4e5f6a7b",
            "clickedUrl": "https://shop.example/track/A-1001",
        }
    ],
    "sms_received": [
        {
            "email": "raj.k@example.org",
            "userId": "u-300112",
            "createdAt": "2024-03-06T16:10:00Z",
            "fromPhoneNumber": "+14155550123",
            "toPhoneNumber": "+18335550100",
            "smsMessage": "STOP",
            "smsReceiveCount": 1,
            "mmsReceiveCount": 0,
            "senderPhoneNumberType": "TollFree",
            "recipientCountryName": "United States",
            "recipientCountryCallingCode": "1",
            "billingParty": "Iterable",
            "espName": "Twilio",
            "espAccountId": "AC5f1e0c2b9d",
        }
    ],
    "sms_send_skip": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:47:03Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52004,
            "channelId": 41004,
            "messageId": "2c1b4a7d9e0f4a1b2c3d4e5f6a7b8c9d",
            "reason": "QuietHours",
        }
    ],
    "sms_usage_info": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:47:05Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageId": "0a9f2e5b7c8d4e9f0a1b2c3d4e5f6a7b",
            "toPhoneNumber": "+14155550123",
            "smsSendCount": 2,
            "mmsSendCount": 0,
            "billingParty": "Iterable",
            "espName": "Twilio",
            "espAccountId": "AC5f1e0c2b9d",
            "recipientCountryName": "United States",
            "recipientCountryCallingCode": "1",
        }
    ],
    "purchase": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-07T10:12:00Z",
            "id": "1397b147db9c41f187a39844beba9c",
            "total": 178.5,
            "shoppingCartItems": [
                {
                    "id": "sku-1001",
                    "sku": "sku-1001",
                    "name": "Trail Runner 2",
                    "price": 129,
                    "quantity": 1,
                    "categories": ["shoes", "running"],
                    "url": "https://shop.example/p/1001",
                },
                {"id": "sku-1005", "sku": "sku-1005", "name": "Road Mat 4", "price": 49.5, "quantity": 1},
            ],
            "campaignId": 7012345,
            "templateId": 9102233,
            "couponCode": "SPRING10",
        }
    ],
    "custom_event": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-07T08:00:01Z",
            "id": "2aa8c258ec0d4b2b9f3c1d0e9f8a7b",
            "eventName": "productViewed",
            "eventUpdatedAt": "2024-03-07T08:00:01Z",
            "sku": "sku-1001",
            "price": 129,
            "categories": ["shoes", "running"],
            # the raw '{"source":"app"}', decoded
            "dataFields": {"source": "app"},
        }
    ],
    "hosted_unsubscribe_click": [
        {
            "email": "grumpy@example.com",
            "createdAt": "2024-03-07T10:12:00Z",
            "campaignId": 7012345,
            "templateId": 9102233,
            "messageId": "1234abcd5678ef901234abcd5678ef90",
            "url": "https://links.shop.example/e/hosted-unsubscribe?_t=9f1c2e7a4b3d4e5f",
            "ip": "203.0.113.42",
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)",
            "userAgentDevice": "Other",
        }
    ],
    "in_app_recall": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-08T00:00:00Z",
            "campaignId": 7012500,
            "templateId": 9102500,
            "messageId": "8c7d0e3f5a6b4c7d9e0f1a2b3c4d5e6f",
        }
    ],
    "rcs_send": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:48:00Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52008,
            "channelId": 41008,
            "contentId": 15003101,
            "messageId": "3d2c5b8e0f1a4b2c3d4e5f6a7b8c9d0e",
            "toPhoneNumber": "+14155550123",
        }
    ],
    "rcs_send_skip": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:48:01Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52008,
            "channelId": 41008,
            "messageId": "4e3d6c9f1a2b4c3d4e5f6a7b8c9d0e1f",
            "reason": "MessageTypeUnsubscribed",
            "transactionalData": "not json {",
        }
    ],
    "embedded_send": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-03-06T15:46:40Z",
            "campaignId": 7012600,
            "templateId": 9102600,
            "messageTypeId": 52007,
            "channelId": 41007,
            "contentId": 15002600,
            "messageId": "5f4e7d0a2b3c4d4e5f6a7b8c9d0e1f2a",
            "placementId": 801,
        }
    ],
    "embedded_send_skip": [
        {
            "email": "bo.li@example.org",
            "createdAt": "2024-03-06T15:46:41Z",
            "campaignId": 7012600,
            "templateId": 9102600,
            "messageTypeId": 52007,
            "channelId": 41007,
            "messageId": "6a5f8e1b3c4d4e5f6a7b8c9d0e1f2a3b",
            "placementId": 801,
            "reason": "ListUnsubscribed",
        }
    ],
    "embedded_click": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-03-06T16:00:00Z",
            "campaignId": 7012600,
            "templateId": 9102600,
            "messageId": "5f4e7d0a2b3c4d4e5f6a7b8c9d0e1f2a",
            "buttonIdentifier": "primary",
            "targetUrl": "https://shop.example/sale",
            "deviceInfo.deviceId": "2e1d0c9b-8a7f-4e6d-8c4b-3f2a1b0c9d8e",
            "deviceInfo.platform": "Web",
            "deviceInfo.appPackageName": "shop.example",
        }
    ],
    "embedded_received": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-03-06T15:50:00Z",
            "campaignId": 7012600,
            "templateId": 9102600,
            "messageId": "5f4e7d0a2b3c4d4e5f6a7b8c9d0e1f2a",
            "deviceInfo.platform": "Web",
        }
    ],
    "embedded_impression": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-03-06T15:59:00Z",
            "campaignId": 7012600,
            "templateId": 9102600,
            "messageId": "5f4e7d0a2b3c4d4e5f6a7b8c9d0e1f2a",
            "placementId": 801,
            "displayCount": 3,
            "displayDuration": 7.25,
            "deviceInfo.platform": "Web",
        }
    ],
    "embedded_session": [
        {
            "email": "ana.silva@example.com",
            "createdAt": "2024-03-06T16:01:00Z",
            "session.id": "4b3a2f1e-0d9c-4b8a-9f7e-6d5c4b3a2f1e",
            "session.start": "2024-03-06T15:55:00.250Z",
            "session.end": "2024-03-06T16:00:59.750Z",
            "impressions": [
                {
                    "messageId": "5f4e7d0a2b3c4d4e5f6a7b8c9d0e1f2a",
                    "displayCount": 3,
                    "displayDuration": 7.25,
                    "placementId": 801,
                }
            ],
            "deviceInfo.platform": "Web",
        }
    ],
    "unknown_session": [{"userId": "u-100999", "createdAt": "2024-03-06T12:00:00Z"}],
    "journey_exit": [
        {
            "email": "jane.doe@example.com",
            "userId": "u-100045",
            "createdAt": "2024-03-09T16:00:00Z",
            "workflowId": 55123,
            "workflowName": "Cart abandonment",
        }
    ],
    "whatsapp_send": [
        {
            "email": "lee@example.net",
            "userId": "u-200981",
            "createdAt": "2024-03-06T15:46:40Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52006,
            "channelId": 41006,
            "contentId": 15003102,
            "messageId": "7b6a9f2c4d5e4f6a7b8c9d0e1f2a3b4c",
            "toWhatsAppPhoneNumber": "+14155550177",
            "fromWhatsAppSenderId": 3301,
            "billingParty": "Client",
            "espName": "WhatsApp",
            "espAccountId": 104882219,
            "renderedWhatsAppMessage": "Your order A-1001 is on its way",
            "catalogLookupCount": 0,
            "catalogCollectionCount": 0,
            "productRecommendationCount": 0,
        }
    ],
    "whatsapp_send_skip": [
        {
            "email": "raj.k@example.org",
            "createdAt": "2024-03-06T15:46:41Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52006,
            "channelId": 41006,
            "contentId": 15003102,
            "messageId": "8c7b0a3d5e6f4a7b8c9d0e1f2a3b4c5d",
            "reason": "MessageTypeUnsubscribed",
            "espName": "WhatsApp",
        }
    ],
    "whatsapp_bounce": [
        {
            "email": "old.address@example.com",
            "createdAt": "2024-03-06T15:49:10Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageTypeId": 52006,
            "channelId": 41006,
            "messageId": "9d8c1b4e6f7a4b8c9d0e1f2a3b4c5d6e",
            "toWhatsAppPhoneNumber": "+12125550188",
            "messageStatus": "failed",
            "errorCode": 131026,
        }
    ],
    "whatsapp_click": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T16:03:40Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageId": "7b6a9f2c4d5e4f6a7b8c9d0e1f2a3b4c",
            "clickedUrl": "https://shop.example/track/A-1001",
            "userAgent": "Mozilla/5.0 (Linux; Android 14)",
            "userAgentDevice": "Other",
        }
    ],
    "whatsapp_received": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T16:05:00Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "receivedAt": "2024-03-06T16:04:58Z",
            "fromWhatsAppPhoneNumber": "+14155550177",
            "toWhatsAppPhoneNumber": "+14155550199",
            "replyToMessageId": "7b6a9f2c4d5e4f6a7b8c9d0e1f2a3b4c",
            "attributionType": "reply",
            "espName": "WhatsApp",
            "espAccountId": "104882219",
            "whatsAppMessage.type": "text",
            "whatsAppMessage.text": "When will it arrive?",
            "sanitized.inputText": "when will it arrive?",
        }
    ],
    "whatsapp_seen": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:50:00Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "seenMessageId": "7b6a9f2c4d5e4f6a7b8c9d0e1f2a3b4c",
            "seenAt": "2024-03-06T15:49:58Z",
            "sentAt": "2024-03-06T15:46:40Z",
            "fromWhatsAppPhoneNumber": "+14155550199",
            "toWhatsAppPhoneNumber": "+14155550177",
            "espName": "WhatsApp",
            "espAccountId": 104882219,
        }
    ],
    "whatsapp_usage_info": [
        {
            "email": "lee@example.net",
            "createdAt": "2024-03-06T15:46:45Z",
            "campaignId": 7013100,
            "templateId": 9103100,
            "messageId": "7b6a9f2c4d5e4f6a7b8c9d0e1f2a3b4c",
            "toWhatsAppPhoneNumber": "+14155550177",
            "billingParty": "Client",
            "espName": "WhatsApp",
            "espAccountId": 104882219,
        }
    ],
}


from unit_tests.rfc3339 import FORMAT_CHECKER  # noqa: E402

# ----------------------------------------------------------------------------- builders


@cache
def _load(stream: str) -> dict[str, Any]:
    return ResourceSchemaLoader("source_iterable").get_schema(stream)


def load_schema(stream: str) -> dict[str, Any]:
    return copy.deepcopy(_load(stream))


def an_emitted_record(stream: str, index: int = 0) -> dict[str, Any]:
    """A fresh copy of one record of the EMITTED table."""
    return copy.deepcopy(EMITTED[stream][index])


def with_fields(record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The record with some fields replaced or added (a dict, since names may contain dots or spaces)."""
    return {**record, **fields}


def validation_errors(stream: str, record: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    validator = Draft7Validator(load_schema(stream), format_checker=FORMAT_CHECKER)
    return sorted((tuple(error.absolute_path), error.validator) for error in validator.iter_errors(record))


def type_names(prop: dict[str, Any]) -> set[str]:
    declared = prop.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def keys_anywhere(node: Any, key: str, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) where `key` appears in a nested dict/list structure."""
    found: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append((path, v))
            found.extend(keys_anywhere(v, key, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(keys_anywhere(v, key, (*path, i)))
    return found


# ----------------------------------------------------------------------------- (0) the test's own tools


def test_the_schema_folder_holds_exactly_one_schema_per_stream() -> None:
    # given the schemas folder
    # when listing its top-level schema files
    names = sorted(path.stem for path in SCHEMAS_DIR.glob("*.json"))
    # then there is one per stream (the 16 and the 44 of issue 11), plus the ones checked elsewhere
    assert set(STREAMS) <= set(names)
    assert set(names) - set(STREAMS) <= CHECKED_ELSEWHERE
    assert len(STREAMS) == 16 + 44


@pytest.mark.parametrize(
    "value, valid",
    [
        ("2024-03-06T15:46:40.123Z", True),
        ("2024-03-06T15:46:40Z", True),
        ("2024-03-06T15:46:40+00:00", True),
        ("2024-03-06 15:46:40 +00:00", False),
        ("2024-03-06T15:46:40", False),
        ("2024-03-06", False),
        ("2024-02-30T00:00:00Z", False),
        ("2024-03-06T24:00:00Z", False),
        ("2024-03-06T15:46:40+0000", False),
        ("1709740000123", False),
    ],
)
def test_the_format_checker_really_checks_rfc3339_date_times(value: str, valid: bool) -> None:
    # given the format checker used by every validation below
    # when it checks a date-time string
    conforms = FORMAT_CHECKER.conforms(value, "date-time")
    # then only strict RFC 3339 passes
    assert conforms is valid


# ----------------------------------------------------------------------------- (1) loading and shape


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_loads_with_every_ref_resolved_and_is_an_open_draft7_object(stream: str) -> None:
    # given the stream's schema file
    # when the CDK loads it
    schema = load_schema(stream)
    # then every $ref (including those into shared/) is inlined
    assert keys_anywhere(schema, "$ref") == []
    # and it is a valid Draft 7 schema for an object that admits custom fields
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_07
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True
    assert isinstance(schema["properties"], dict) and schema["properties"]


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_declares_primary_key_and_cursor_fields(stream: str) -> None:
    # given the stream's primary key and cursor
    primary_key, cursor = KEY_FIELDS[stream]
    # when its schema is loaded
    properties = load_schema(stream)["properties"]
    # then each of those fields is a declared, typed property
    for field in (*primary_key, *cursor):
        assert field in properties, f"{stream}: {field} is not declared"
        assert type_names(properties[field]), f"{stream}: {field} has no type"


@pytest.mark.parametrize("stream", STREAMS)
def test_every_nested_object_schema_allows_additional_properties(stream: str) -> None:
    # given a loaded schema
    schema = load_schema(stream)
    # when looking at every sub-schema that may be an object and lists properties
    closed = [path for path, value in keys_anywhere(schema, "additionalProperties") if value is not True]
    # then none of them is closed
    assert closed == []


# ----------------------------------------------------------------------------- (2) date-time fields


@pytest.mark.parametrize("stream", STREAMS)
def test_every_transformed_date_time_is_a_nullable_string_with_date_time_format(stream: str) -> None:
    # given the date-time fields docs/design.md lists for the stream
    expected = DATE_TIME_FIELDS[stream]
    # when the schema is loaded
    schema = load_schema(stream)
    properties = schema["properties"]
    # then each is a string (null allowed) with format date-time
    for field in expected:
        assert properties[field].get("format") == "date-time", f"{stream}.{field}"
        assert "string" in type_names(properties[field]), f"{stream}.{field}"
        assert type_names(properties[field]) <= {"null", "string"}, f"{stream}.{field}"
    # and no other field, nested or not, claims that format
    formatted = {path for path, value in keys_anywhere(schema, "format") if value == "date-time"}
    assert formatted == {("properties", field) for field in expected}


@pytest.mark.parametrize("stream", EVENT_STREAMS)
def test_email_event_itbl_internal_keeps_untransformed_strings(stream: str) -> None:
    # given an event schema (every email and other-channel event stream declares itblInternal)
    itbl_internal = load_schema(stream)["properties"]["itblInternal"]
    # when looking at the nested timestamps
    nested = itbl_internal["properties"]
    # then they are plain strings, and the description says why
    for field in ("documentCreatedAt", "documentUpdatedAt"):
        assert type_names(nested[field]) == {"null", "string"}
        assert "format" not in nested[field]
    assert "untransformed" in itbl_internal["description"]


# ----------------------------------------------------------------------------- (3) emitted records validate


@pytest.mark.parametrize(
    "stream, index",
    [(stream, index) for stream in STREAMS for index in range(len(EMITTED[stream]))],
)
def test_emitted_record_validates(stream: str, index: int) -> None:
    # given a record as the connector emits it
    record = an_emitted_record(stream, index)
    # when it is validated against the stream's schema, date-time formats included
    errors = validation_errors(stream, record)
    # then there is no error
    assert errors == []


def test_every_stream_has_emitted_records() -> None:
    # given the table of emitted records
    # when comparing it with the streams
    # then every stream is covered
    assert sorted(EMITTED) == STREAMS


def test_users_accepts_unknown_custom_fields_of_any_type() -> None:
    # given a users record with project-specific custom fields, flattened nested ones included
    record = with_fields(
        an_emitted_record("users"),
        {
            "someDate": "2015-11-13",
            "isFoobar": False,
            "score": 9.5,
            "address.zip": "10001",
            "tags": ["a", "b"],
            "prefs": {"sms": True},
        },
    )
    # when it is validated
    errors = validation_errors("users", record)
    # then it passes
    assert errors == []


# ----------------------------------------------------------------------------- (4) records that must fail

NEGATIVE_CASES = [
    pytest.param("campaigns", {"id": "7012345"}, ("id",), "type", id="campaigns-id-as-string"),
    pytest.param(
        "campaigns", {"updatedAt": 1709740000123}, ("updatedAt",), "type", id="campaigns-epoch-ms-kept"
    ),
    pytest.param("channels", {"id": None}, ("id",), "type", id="channels-null-primary-key"),
    pytest.param(
        "lists",
        {"createdAt": "2021-04-08T14:25:08.857+0000"},
        ("createdAt",),
        "format",
        id="lists-offset-without-colon",
    ),
    pytest.param("list_users", {"listId": "3301122"}, ("listId",), "type", id="list_users-listId-as-string"),
    pytest.param("list_users", {"email": None}, ("email",), "type", id="list_users-null-email"),
    pytest.param(
        "message_types",
        {"frequencyCap": {"days": "7", "messages": 3}},
        ("frequencyCap", "days"),
        "type",
        id="message_types-frequencyCap-days-as-string",
    ),
    pytest.param(
        "metadata", {"value": '{"city": "New York"}'}, ("value",), "type", id="metadata-value-not-decoded"
    ),
    pytest.param(
        "metadata", {"lastModified": 1697040000123}, ("lastModified",), "type", id="metadata-epoch-ms-kept"
    ),
    pytest.param(
        "templates", {"templateId": "9102233"}, ("templateId",), "type", id="templates-id-as-string"
    ),
    pytest.param(
        "templates",
        {"updatedAt": "2024-03-06T15:46:30.000"},
        ("updatedAt",),
        "format",
        id="templates-date-time-without-zone",
    ),
    pytest.param(
        "users", {"signupDate": "2022-02-30T09:14:22Z"}, ("signupDate",), "format", id="users-impossible-date"
    ),
    pytest.param(
        "users",
        {"profileUpdatedAt": "2024-02-10 18:02:45 +00:00"},
        ("profileUpdatedAt",),
        "format",
        id="users-cursor-untransformed",
    ),
    pytest.param(
        "users", {"emailListIds": ["3301122"]}, ("emailListIds", 0), "type", id="users-list-ids-as-strings"
    ),
    pytest.param(
        "users",
        {"_offers.intro APR": "0,0"},
        ("_offers.intro APR",),
        "type",
        id="users-renamed-apr-not-an-array",
    ),
    pytest.param(
        "email_send",
        {"createdAt": "2024-03-06 15:46:40 +00:00"},
        ("createdAt",),
        "format",
        id="email_send-createdAt-untransformed",
    ),
    pytest.param(
        "email_send",
        {"transactionalData": ["orderId", "A-1001"]},
        ("transactionalData",),
        "type",
        id="email_send-transactionalData-array",
    ),
    pytest.param(
        "email_open",
        {"createdAt": "2024-03-06T16:02:11"},
        ("createdAt",),
        "format",
        id="email_open-createdAt-without-zone",
    ),
    pytest.param(
        "email_click", {"hrefIndex": "1"}, ("hrefIndex",), "type", id="email_click-hrefIndex-as-string"
    ),
    pytest.param(
        "email_subscribe",
        {"profileUpdatedAt": "2024-02-10 18:02:40 +00:00"},
        ("profileUpdatedAt",),
        "format",
        id="email_subscribe-profileUpdatedAt-untransformed",
    ),
    pytest.param(
        "email_unsubscribe",
        {"channelIds": [41002, "41001"]},
        ("channelIds", 1),
        "type",
        id="email_unsubscribe-channel-id-as-string",
    ),
    pytest.param(
        "push_open",
        {"sentAt": "2024-03-06 15:46:40 +00:00"},
        ("sentAt",),
        "format",
        id="push_open-sentAt-untransformed",
    ),
    pytest.param(
        "inbox_session",
        {"inboxSessionStart": 1709749240123},
        ("inboxSessionStart",),
        "type",
        id="inbox_session-epoch-ms-kept",
    ),
    pytest.param(
        "embedded_session",
        {"session.end": "2024-03-06T16:00:59.750"},
        ("session.end",),
        "format",
        id="embedded_session-dotted-time-without-zone",
    ),
    pytest.param(
        "push_send",
        {"transactionalData": ["orderId", "A-1001"]},
        ("transactionalData",),
        "type",
        id="push_send-transactionalData-array",
    ),
    pytest.param(
        "purchase",
        {"shoppingCartItems": {"id": "sku-1001"}},
        ("shoppingCartItems",),
        "type",
        id="purchase-items-not-an-array",
    ),
    pytest.param(
        "purchase",
        {"total": "178.50"},
        ("total",),
        "type",
        id="purchase-total-as-string",
    ),
    pytest.param(
        "custom_event",
        {"eventUpdatedAt": "2024-03-07 08:00:01 +00:00"},
        ("eventUpdatedAt",),
        "format",
        id="custom_event-eventUpdatedAt-untransformed",
    ),
    pytest.param(
        "in_app_open",
        {"messageContext.saveToInbox": "true"},
        ("messageContext.saveToInbox",),
        "type",
        id="in_app_open-dotted-boolean-as-string",
    ),
    pytest.param("sms_send", {"smsSendCount": "1"}, ("smsSendCount",), "type", id="sms_send-count-as-string"),
    pytest.param(
        "whatsapp_bounce",
        {"errorCode": "131026"},
        ("errorCode",),
        "type",
        id="whatsapp_bounce-code-as-string",
    ),
]


@pytest.mark.parametrize("stream, changes, path, keyword", NEGATIVE_CASES)
def test_malformed_record_fails_validation(
    stream: str, changes: dict[str, Any], path: tuple[Any, ...], keyword: str
) -> None:
    # given an emitted record with one field spoiled
    record = with_fields(an_emitted_record(stream), changes)
    # when it is validated
    errors = validation_errors(stream, record)
    # then exactly that field is reported, by the expected keyword
    assert errors == [(path, keyword)]
