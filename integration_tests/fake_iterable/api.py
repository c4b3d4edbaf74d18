"""The ``/api/...`` endpoints: routing, key checks, rate limits and the JSON/NDJSON/text payloads."""

from __future__ import annotations

import base64
import binascii
import calendar
import time
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import unquote, urlencode

import orjson

from .api_types import BadParams, Reply, Request, Stream
from .data import TEMPLATE_MEDIUMS, TEMPLATE_TYPES
from .faults import error_json, rate_limit_body
from .fields import get_fields
from .jobs_api import HANDLERS as JOB_HANDLERS
from .jobs_api import job_route
from .membership import get_users_lines
from .metrics import campaign_metrics
from .objects_api import route as objects_route
from .state import ServerState, reshape
from .timefmt import parse_datetime

TEXT = "text/plain; charset=utf-8"
NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><title>Action not found</title></head>"
    b"<body><h1>Action not found</h1><p>For request 'GET %s'</p></body></html>"
)
METADATA_PAGE = 5
EXPORT_PATH = "/api/export/data.json"
GETUSERS_PATH = "/api/lists/getUsers"


Handler = Callable[[ServerState, Request, list[str]], "Reply | Stream"]
__all__ = ["BadParams", "Reply", "Request", "Stream", "gate", "handle", "not_found", "resolve"]


def ok(payload: Any) -> Reply:
    return Reply(200, orjson.dumps(payload))


def not_found(path: str) -> Reply:
    return Reply(404, NOT_FOUND_PAGE % path.encode(), "text/html; charset=utf-8")


def bad_key(req: Request) -> Reply:
    return Reply(401, error_json("Invalid API key", "BadApiKey", {"ip": req.ip, "endpoint": req.path}))


def _int_param(req: Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.one(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParams(f"Invalid value for {name}: {raw}") from None
    if not low <= value <= high:
        raise BadParams(f"{name} must be between {low} and {high}")
    return value


def _paged(req: Request, items: list[dict[str, Any]], list_key: str, total_key: str) -> Reply:
    """Paging of /api/campaigns and /api/templates; without page/pageSize the legacy form returns all."""
    if req.one("page") is None and req.one("pageSize") is None:
        return ok({list_key: items})
    page = _int_param(req, "page", 1, 1, 10**9)
    size = _int_param(req, "pageSize", 20, 1, 1000)
    body: dict[str, Any] = {list_key: items[(page - 1) * size : page * size], total_key: len(items)}

    def url(target: int) -> str:
        params = {**req.flat(), "page": str(target), "pageSize": str(size)}
        return f"http://{req.host}{req.path}?{urlencode(params)}"

    if page * size < len(items):
        body["nextPageUrl"] = url(page + 1)
    if page > 1:
        body["previousPageUrl"] = url(page - 1)
    return ok(body)


def campaigns(state: ServerState, req: Request, _: list[str]) -> Reply:
    items = state.dataset.campaigns
    wanted = req.query.get("campaignState")
    if wanted:
        items = [c for c in items if c["campaignState"] in wanted]
    sort = (req.one("sort") or "id").strip()  # a "+" prefix arrives as a space when not percent-encoded
    name = sort.lstrip("+-")
    if name not in ("id", "name", "createdAt", "updatedAt", "startAt"):
        raise BadParams(f"Invalid sort field: {sort}")
    items = sorted(items, key=lambda c: (c.get(name, 0), c["id"]), reverse=sort.startswith("-"))
    return _paged(req, items, "campaigns", "totalCampaignsCount")


def _pick(value: str | None, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if not value:
        return allowed
    for option in allowed:
        if option.lower() == value.lower():
            return (option,)
    raise BadParams(f"Invalid {name}: {value}")


def _window(req: Request) -> tuple[float | None, float | None]:
    bounds: list[float | None] = []
    for name in ("startDateTime", "endDateTime"):
        raw = req.one(name)
        stamp = parse_datetime(raw) if raw else None
        if raw and stamp is None:
            raise BadParams(f"Invalid {name}: {raw}. Expected format yyyy-MM-dd HH:mm:ss [ZZ]")
        bounds.append(stamp)
    return bounds[0], bounds[1]


def templates(state: ServerState, req: Request, _: list[str]) -> Reply:
    types = _pick(req.one("templateType"), TEMPLATE_TYPES, "templateType")
    mediums = _pick(req.one("messageMedium"), TEMPLATE_MEDIUMS, "messageMedium")
    start, end = _window(req)  # filters on createdAt, not updatedAt (fact sheet 5.7)
    found: dict[int, dict[str, Any]] = {}
    for kind in types:
        for medium in mediums:
            for record in state.dataset.templates[(kind, medium)]:
                created = cast(int, record["createdAt"]) / 1000
                if (start is None or created >= start) and (end is None or created < end):
                    found[cast(int, record["templateId"])] = record
    return _paged(req, [found[k] for k in sorted(found)], "templates", "totalTemplatesCount")


def get_users(state: ServerState, req: Request, _: list[str]) -> Reply:
    raw = req.one("listId")
    try:
        list_id = int(raw or "")
    except ValueError:
        raise BadParams(f"Invalid value for listId: {raw}") from None
    prefer = (req.one("preferUserId") or "").strip().lower() == "true"
    lines = get_users_lines(state.dataset, list_id, prefer)
    if lines is None:
        # Real quirk: a 400 whose envelope says "Success" (fact sheet section 2).
        params = {"projectId": state.project_id, "listId": list_id}
        return Reply(400, error_json(f"error.lists.invalidListId({list_id})", "Success", params))
    return Reply(200, "\n".join(lines).encode(), TEXT)


def metadata(state: ServerState, req: Request, parts: list[str]) -> Reply:
    tables = state.dataset.metadata
    if not parts:
        return ok({"results": [{"name": name} for name in tables]})
    entries = tables.get(parts[0].lower(), {})  # table names are case-insensitive, keys are not
    if len(parts) == 2:
        record = entries.get(parts[1])
        if record is None:
            msg = f"No metadata found in table {parts[0]} with key {parts[1]}"
            return Reply(404, error_json(msg, "NotFound"))
        return ok(record)
    keys = sorted(entries)
    marker = req.one("nextMarker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadParams(f"Invalid nextMarker: {marker}") from None
        keys = [k for k in keys if k > after]
    page = keys[:METADATA_PAGE]
    summary = [{k: entries[key][k] for k in ("table", "key", "size", "lastModified")} for key in page]
    body: dict[str, Any] = {"results": summary}
    if len(keys) > METADATA_PAGE:
        body["nextMarker"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    return ok(body)


def _range(name: str) -> tuple[float | None, float | None]:
    today = calendar.timegm((*time.gmtime()[:3], 0, 0, 0, 0, 0, 0))
    spans = {
        "today": (today, today + 86400),
        "yesterday": (today - 86400, today),
        "beforetoday": (None, today),
        "all": (None, None),
    }
    if name.lower() not in spans:
        raise BadParams(f"Invalid range: {name}. Expected Today, Yesterday, BeforeToday or All")
    low, high = spans[name.lower()]
    return (None if low is None else float(low)), (None if high is None else float(high))


def _reshape(lines: Iterator[list[bytes]], req: Request, data_type: str) -> Iterator[list[bytes]]:
    """campaignId / onlyFields / omitFields: re-encode rows (slow path, only when asked for)."""
    only = {f.strip() for v in req.query.get("onlyFields", []) for f in v.split(",") if f.strip()}
    omit = {f.strip() for v in req.query.get("omitFields", []) for f in v.split(",") if f.strip()}
    return reshape(lines, data_type, req.one("campaignId"), only, omit)


def export(state: ServerState, req: Request, _: list[str]) -> Stream:
    name = req.one("dataTypeName")
    if not name:
        raise BadParams("dataTypeName is required")
    data_type = state.type_names.get(name.lower())  # emailUnSubscribe == emailUnsubscribe
    if data_type is None:
        raise BadParams(f"Invalid dataTypeName: {name}")
    if req.one("startDateTime"):
        start, end = _window(req)  # start-only is accepted: open-ended window
    elif req.one("range"):
        start, end = _range(req.one("range") or "")
    else:
        raise BadParams("Either range or startDateTime (with an optional endDateTime) must be provided")
    # ``stream=True`` (sent by one peer) and other unknown parameters are ignored.
    total, batches = state.export_window(data_type, start, end)
    if any(req.one(p) is not None for p in ("campaignId", "onlyFields", "omitFields")):
        batches = _reshape(batches, req, data_type)
    return Stream(total, batches)


ROUTES: dict[str, Handler] = {
    "/api/campaigns": campaigns,
    "/api/channels": lambda state, req, _: ok({"channels": state.dataset.channels}),
    "/api/lists": lambda state, req, _: ok({"lists": state.dataset.lists}),
    "/api/messageTypes": lambda state, req, _: ok({"messageTypes": state.dataset.message_types}),
    "/api/templates": templates,
    GETUSERS_PATH: get_users,
    EXPORT_PATH: export,
    "/api/users/getFields": get_fields,
    "/api/campaigns/metrics": campaign_metrics,
}
RESTRICTED = (EXPORT_PATH, GETUSERS_PATH)  # read-only keys get 401 BadApiKey here (and on the jobs API)


def resolve(method: str, path: str) -> tuple[Handler, list[str]] | None:
    job = job_route(method, path)
    if job is not None:
        return JOB_HANDLERS[job[0]], job[1]
    objects = objects_route(method, path)  # journeys, catalogs, snippets, webhooks, forgotten, experiments
    if objects is not None:
        return objects
    if method != "GET":
        return None
    if path in ROUTES:
        return ROUTES[path], []
    if path == "/api/metadata":
        return metadata, []
    if path.startswith("/api/metadata/"):
        parts = [unquote(p) for p in path[len("/api/metadata/") :].split("/", 1)]
        if all(parts):
            return metadata, parts
    return None


def gate(state: ServerState, req: Request) -> Reply | None:
    """Key and rate-limit checks; only calls that pass them count against the rolling window."""
    key = req.key
    if key is None or (key not in state.api_keys and key not in state.readonly_keys):
        return bad_key(req)
    job = job_route(req.method, req.path)
    if (req.path in RESTRICTED or job is not None) and key not in state.api_keys:
        return bad_key(req)
    if job is not None:
        if state.jobs_refused(key):
            msg = "Export jobs are not enabled for this project"
            return Reply(403, error_json(msg, "Forbidden", {"endpoint": req.path}))
        if job[0] == "list":
            return None  # GET /api/export/jobs has no documented limit
        # start + files: one bucket per organization; DELETE: one per project. Not per key.
        jobs_limiter = state.delete_limit if job[0] == "cancel" else state.job_limit
        bucket = f"project:{state.project_id}" if job[0] == "cancel" else state.organization
        if not jobs_limiter.allow(bucket):
            return Reply(429, rate_limit_body(jobs_limiter.rate, req.path, state.project_id, "second"))
        return None
    limiter = {EXPORT_PATH: state.export_limit, GETUSERS_PATH: state.getusers_limit}.get(req.path)
    if limiter is not None and not limiter.allow(key):
        # No Retry-After header, as in the recorded real 429.
        return Reply(429, rate_limit_body(limiter.per_minute, req.path, state.project_id))
    return None


def handle(state: ServerState, req: Request, handler: Handler, parts: list[str]) -> Reply | Stream:
    try:
        return handler(state, req, parts)
    except BadParams as exc:
        return Reply(400, error_json(str(exc), exc.code))
