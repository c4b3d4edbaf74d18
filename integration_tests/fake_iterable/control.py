"""The ``/_control/...`` API: fault rules, stats, reset, event injection, export jobs. No key needed.

- ``GET /_control/health``, ``GET /_control/stats``, ``GET|POST|DELETE /_control/faults``,
  ``POST /_control/reset``, ``POST /_control/events`` ``{"dataTypeName", "rows"}``;
- ``GET /_control/jobs``: every export job (id, dataTypeName, window, state, rows, files, listings, files
  fetched, faults, created_by, deleted_by/deleted_at/delete_calls);
- ``GET|POST /_control/jobs/settings``: the latency model (``queue_seconds``, ``base_latency``, ``row_seconds``,
  ``file_bytes``, ``url_lifetime``, ``truncate_bytes``, ``max_running``, ``cancel_seconds``); a POST
  changes the given ones for jobs started afterwards;
- ``POST /_control/jobs/feature`` ``{"enabled": false}`` (403 on the jobs API for every key) and/or
  ``{"forbidden_keys": [...]}`` (403 for those keys); data.json is not affected;
- ``GET /_control/storage``: the storage host's base URL and its request log (``api_key_present``).

``POST /_control/reset`` puts settings and feature switches back to the constructor's values.
"""

from __future__ import annotations

from typing import Any

import orjson

from .api import Reply
from .faults import FaultError, parse_fault
from .jobs import SettingsError
from .state import ServerState


def _error(status: int, message: str) -> Reply:
    return Reply(status, orjson.dumps({"ok": False, "error": message}))


def _ok(payload: dict[str, Any] | None = None) -> Reply:
    return Reply(200, orjson.dumps({"ok": True, **(payload or {})}))


def _add_faults(state: ServerState, payload: Any) -> Reply:
    raw = payload.get("faults") if isinstance(payload, dict) and "faults" in payload else payload
    if isinstance(raw, dict):
        raw = [raw]  # a single rule object is accepted too
    if not isinstance(raw, list):
        return _error(400, 'expected {"faults": [rule, ...]}')
    try:
        rules = [parse_fault(rule) for rule in raw]
    except FaultError as exc:
        return _error(400, str(exc))
    return _ok({"count": state.faults.add(rules)})


def _add_events(state: ServerState, payload: Any) -> Reply:
    if not isinstance(payload, dict) or not isinstance(payload.get("dataTypeName"), str):
        return _error(400, 'expected {"dataTypeName": "...", "rows": [...]}')
    rows = payload.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return _error(400, "rows must be a list of objects")
    try:
        added = state.add_events(payload["dataTypeName"], rows)
    except ValueError as exc:
        return _error(400, str(exc))
    return _ok({"added": added})


def _job_settings(state: ServerState, payload: Any) -> Reply:
    if not isinstance(payload, dict):
        return _error(400, "expected an object of setting -> number")
    try:
        settings = state.jobs.settings.update(payload)
    except SettingsError as exc:
        return _error(400, str(exc))
    state.jobs.configure(settings)
    return _ok({"settings": settings.describe()})


def _job_feature(state: ServerState, payload: Any) -> Reply:
    if not isinstance(payload, dict) or not set(payload) <= {"enabled", "forbidden_keys"} or not payload:
        return _error(400, 'expected {"enabled": bool} and/or {"forbidden_keys": [key, ...]}')
    enabled, keys = payload.get("enabled", state.jobs_api), payload.get("forbidden_keys")
    if not isinstance(enabled, bool):
        return _error(400, "enabled must be true or false")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        return _error(400, "forbidden_keys must be a list of strings")
    state.jobs_api = enabled
    if keys is not None:
        state.jobs_forbidden_keys = set(keys)
    return _ok({"enabled": state.jobs_api, "forbidden_keys": len(state.jobs_forbidden_keys)})


def handle_control(state: ServerState, method: str, path: str, body: bytes) -> Reply:
    payload: Any = None
    if method in ("POST", "PUT") and body.strip():
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"invalid JSON body: {exc}")
    route = (method, path.rstrip("/"))
    if route == ("GET", "/_control/health"):
        return Reply(200, b'{"ok":true}')
    if route == ("GET", "/_control/stats"):
        return Reply(200, orjson.dumps(state.stats.snapshot()))
    if route == ("GET", "/_control/faults"):
        return Reply(200, orjson.dumps({"faults": state.faults.describe()}))
    if route == ("POST", "/_control/faults"):
        return _add_faults(state, payload)
    if route == ("DELETE", "/_control/faults"):
        state.faults.clear()
        return _ok()
    if route == ("POST", "/_control/reset"):
        state.reset()
        return _ok()
    if route == ("POST", "/_control/events"):
        return _add_events(state, payload)
    if route == ("GET", "/_control/jobs"):
        return Reply(200, orjson.dumps({"jobs": state.jobs.describe()}))
    if route == ("GET", "/_control/jobs/settings"):
        return _ok({"settings": state.jobs.settings.describe()})
    if route == ("POST", "/_control/jobs/settings"):
        return _job_settings(state, payload)
    if route == ("POST", "/_control/jobs/feature"):
        return _job_feature(state, payload)
    if route == ("GET", "/_control/storage"):
        return Reply(200, orjson.dumps({"base_url": state.signer.base_url, **state.storage_stats.snapshot()}))
    return _error(404, f"no control endpoint {method} {path}")
