"""``GET /api/users/getFields``: the project's user fields and their types (fact sheet section 5.8).

The answer is ``{"fields": {"<name>": "<type>", ...}}``, derived the way Iterable builds it: its own
fields with their fixed types (``ITERABLE_FIELDS``, after a recorded real answer), plus every field the
users of the dataset (and users a test added) carry, typed by the first value seen, since a field's
type is fixed by its first value in Iterable. Sub-fields are dotted paths under a parent typed
``object`` (``nested`` for the fields the project made nested); an array is typed by its elements
(Iterable reports ``emailListIds`` as ``long``); flattened internal keys (``itblInternal.*``) come
without a parent, as in the recording. Limited to 3 calls a second per key, like the real endpoint.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from .api_types import Reply, Request
from .faults import rate_limit_body
from .state import RollingLimiter, ServerState

PER_SECOND = 3

# Iterable's own user fields and their types: the recorded answer of a real project (2021) plus the
# other system fields this dataset uses. They are reported whether or not a user has them. That answer
# is an email-based project's: a hybrid or userID-based one's fields (userListIds, itblUserId) come from
# its users (project_types.py).
ITERABLE_FIELDS: Mapping[str, str] = {
    "email": "string",
    "userId": "string",
    "signupDate": "date",
    "signupSource": "string",
    "profileUpdatedAt": "date",
    "emailListIds": "long",
    "subscribedMessageTypeIds": "long",
    "unsubscribedChannelIds": "long",
    "unsubscribedMessageTypeIds": "long",
    "itblInternal.emailDomain": "string",
    "itblInternal.phoneCountry": "string",
    "itblInternal.documentCreatedAt": "date",
    "itblInternal.documentUpdatedAt": "date",
    "phoneNumber": "string",
    "phoneNumberDetails": "object",
    "phoneNumberDetails.carrier": "string",
    "phoneNumberDetails.countryCodeISO": "string",
    "phoneNumberDetails.lineType": "string",
    "phoneNumberDetails.updatedAt": "date",
    "receivedSMSDisclaimer": "boolean",
    "city": "string",
    "region": "string",
    "country": "string",
    "timeZone": "string",
    "locale": "string",
    "devices": "object",
    "devices.applicationName": "string",
    "devices.appBuild": "string",
    "devices.appPackageName": "string",
    "devices.appVersion": "string",
    "devices.deviceId": "string",
    "devices.endpointEnabled": "boolean",
    "devices.iterableSdkVersion": "string",
    "devices.model": "string",
    "devices.notificationsEnabled": "boolean",
    "devices.platform": "string",
    "devices.platformEndpoint": "string",
    "devices.systemVersion": "string",
    "devices.token": "string",
    "devices.userInterfaceIdiom": "string",
}
# Arrays of objects the project had made ``nested`` (in Iterable, a customer success manager does).
NESTED_FIELDS = frozenset({"orders"})
# Flattened keys of these Iterable namespaces are reported without their parent.
INTERNAL_PREFIXES = ("itblInternal.", "itblDS.")
# The string forms Iterable types as ``date`` when a field is first set: its own export form and a date.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2})?")


class _PerSecondLimiter(RollingLimiter):
    """``RollingLimiter`` over a one-second window: at most ``per_second`` calls in any second."""

    def __init__(self, per_second: int) -> None:
        super().__init__(per_second * 60.0)  # per_minute, as the 429 body quotes it
        self.capacity = per_second
        self.window = 1.0


_LIMITERS: WeakKeyDictionary[ServerState, RollingLimiter] = WeakKeyDictionary()
_LIMITERS_LOCK = threading.Lock()


def limiter_of(state: ServerState) -> RollingLimiter:
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(state)
        if limiter is None:
            limiter = _LIMITERS[state] = _PerSecondLimiter(PER_SECOND)
        return limiter


def type_of(name: str, value: Any) -> str | None:
    """The getFields type a first value gives a field; None when it says nothing (null, empty array)."""
    if name in NESTED_FIELDS:
        return "nested"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "date" if _DATE.fullmatch(value) else "string"
    if isinstance(value, dict):
        return "geo_location" if set(value) == {"lat", "lon"} else "object"
    if isinstance(value, list):
        first = next((item for item in value if item is not None), None)
        return None if first is None else type_of(name, first)
    return None


def _observe(types: dict[str, str], name: str, value: Any) -> None:
    kind = type_of(name, value)
    if kind is None:
        return
    types.setdefault(name, kind)
    if types[name] not in ("object", "nested"):
        return
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            for key, child in item.items():
                _observe(types, f"{name}.{key}", child)


def field_types(users: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Iterable's own fields, then every field of ``users`` in the order first seen."""
    types = dict(ITERABLE_FIELDS)
    for user in users:
        for name, value in user.items():
            if "." in name and not name.startswith(INTERNAL_PREFIXES):
                # A flattened sub-field: its parents are objects in the project's schema.
                parts = name.split(".")
                for cut in range(1, len(parts)):
                    types.setdefault(".".join(parts[:cut]), "object")
            _observe(types, name, value)
    return types


def project_users(state: ServerState) -> list[Mapping[str, Any]]:
    """The dataset's users, then the users a test added (their fields exist in the project too)."""
    added = [orjson.loads(line) for _, line in list(state.added.get("user", ()))]
    return [*state.dataset.exports["user"], *added]


def get_fields(state: ServerState, req: Request, _: list[str]) -> Reply:
    limiter = limiter_of(state)
    if not limiter.allow(req.key or ""):
        return Reply(429, rate_limit_body(limiter.per_minute, req.path, state.project_id))
    return Reply(200, orjson.dumps({"fields": field_types(project_users(state))}))
