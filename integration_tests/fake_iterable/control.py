"""The ``/_control/...`` API: fault rules, stats, reset, event injection. No key needed."""

from __future__ import annotations

from typing import Any

import orjson

from .api import Reply
from .faults import FaultError, parse_fault
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
    return _error(404, f"no control endpoint {method} {path}")
