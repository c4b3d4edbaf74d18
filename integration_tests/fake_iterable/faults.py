"""Fault injection rules (``POST /_control/faults``) and the canned error bodies of the real API.

A rule fires for requests to its ``path`` (exact, or a prefix when it ends with ``*``; absent = any
``/api`` path) whose query parameters equal every entry of ``match`` (compared as strings;
``dataTypeName`` case-insensitively, as the API itself matches it). The first rule with ``times`` left wins;
``times`` null means forever. Faults are consulted *after* authentication and after the rate-limit check of
export/getUsers, so a faulted request still spends rate-limit budget, as a real failing call would.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

KINDS = ("status", "cut", "malformed", "html", "empty", "delay", "stall", "reset", "no_trailing_newline")
# Kinds that act on the rows of a streamed (export) body rather than replacing the response.
ROW_KINDS = ("cut", "malformed", "stall", "no_trailing_newline")
GENERIC_500 = "An error occurred. Please try again later. If problem persists, please contact your CSM"
MAINTENANCE_HTML = "<html><body>Maintenance</body></html>"
BAD_LINE = '{"email": "x@example.com", "createdAt": '


class FaultError(ValueError):
    """A rule that cannot be understood; reported to the control client as a 400."""


@dataclass
class Fault:
    kind: str
    path: str | None = None
    match: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    status: int = 500
    body: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_rows: int | None = None
    seconds: float = 0.0
    line: str = BAD_LINE
    fired: int = 0

    def matches(self, path: str, query: dict[str, str]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.path is not None:
            wanted = self.path
            if not (path.startswith(wanted[:-1]) if wanted.endswith("*") else path == wanted):
                return False
        for name, expected in self.match.items():
            actual = query.get(name)
            if actual is None:
                return False
            if name == "dataTypeName" and actual.lower() != expected.lower():
                return False
            if name != "dataTypeName" and actual != expected:
                return False
        return True

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None and v != {} and k != "line"}
        if self.kind == "malformed":
            out["line"] = self.line
        return out


def parse_fault(raw: Any) -> Fault:
    if not isinstance(raw, dict):
        raise FaultError("a fault rule must be a JSON object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
    unknown = set(raw) - {
        "kind",
        "path",
        "match",
        "times",
        "status",
        "body",
        "content_type",
        "headers",
        "after_rows",
        "seconds",
        "line",
    }
    if unknown:
        raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    match = raw.get("match") or {}
    if not isinstance(match, dict):
        raise FaultError("match must be an object of query parameter -> value")
    times = raw.get("times", 1)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
        raise FaultError("times must be a non-negative integer or null")
    status = raw.get("status", 500)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultError("status must be an HTTP status code")
    after = raw.get("after_rows")
    if after is not None and (not isinstance(after, int) or after < 0):
        raise FaultError("after_rows must be a non-negative integer")
    seconds = raw.get("seconds", 0.0)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise FaultError("seconds must be a non-negative number")
    if kind in ("delay", "stall") and "seconds" not in raw:
        seconds = 5.0 if kind == "delay" else 30.0
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise FaultError("headers must be an object")
    return Fault(
        kind=kind,
        path=raw.get("path"),
        match={str(k): str(v) for k, v in match.items()},
        times=times,
        status=status,
        body=raw.get("body"),
        content_type=raw.get("content_type"),
        headers={str(k): str(v) for k, v in headers.items()},
        after_rows=after,
        seconds=float(seconds),
        line=str(raw.get("line", BAD_LINE)),
    )


class FaultBook:
    """The ordered rule list, shared by all handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, rules: list[Fault]) -> int:
        with self._lock:
            self._rules.extend(rules)
            return len(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, path: str, query: dict[str, str]) -> Fault | None:
        """The first matching rule with firings left, spending one of them."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(path, query):
                    if rule.times is not None:
                        rule.times -= 1
                    rule.fired += 1
                    return rule
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]


def error_json(msg: str, code: str, params: Any = None) -> bytes:
    return orjson.dumps({"msg": msg, "code": code, "params": params})


def rate_limit_body(limit: float, path: str, project: int) -> bytes:
    # Real body: the limit printed as a float ("4.0") and a trailing space after the project id.
    return error_json(
        f"Exceeded rate limit of {float(limit)} per minute for endpoint: {path}, project: {project} ",
        "RateLimitExceeded",
        {},
    )


def default_status_body(status: int, path: str, ip: str, limit: float, project: int) -> tuple[bytes, str]:
    """The fact-sheet body for an injected status when the rule gives none: (body, content type)."""
    json_type = "application/json; charset=utf-8"
    if status == 500:
        return error_json(GENERIC_500, "GenericError"), json_type
    if status == 429:
        return rate_limit_body(limit, path, project), json_type
    if status == 401:
        return error_json("Invalid API key", "BadApiKey", {"ip": ip, "endpoint": path}), json_type
    if status == 400:
        return error_json("Invalid request parameters", "BadParams"), json_type
    if status == 403:
        return error_json("API key is not allowed to call this endpoint", "Forbidden"), json_type
    if status == 404:
        return error_json("Not found", "NotFound"), json_type
    if status == 503 and path == "/api/lists/getUsers":
        return b"Request timeout. Try again later.", "text/plain; charset=utf-8"  # as documented in SPEC
    if status in (502, 503, 504):
        phrase = HTTPStatus(status).phrase
        title = f"{status} {phrase}"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return page.encode(), "text/html; charset=utf-8"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return error_json(phrase, "GenericError"), json_type
