"""Fault injection rules (``POST /_control/faults``) and the canned error bodies of the real API.

A rule fires for requests to its ``path`` (exact, or a prefix when it ends with ``*``; absent = any
``/api`` path) whose query parameters equal every entry of ``match`` (compared as strings;
``dataTypeName`` case-insensitively, as the API itself matches it). The first rule with ``times`` left wins;
``times`` null means forever. Faults are consulted *after* authentication and after the rate-limit check of
export/getUsers/export jobs, so a faulted request still spends rate-limit budget, as a real failing call
would.

For the export jobs endpoints ``match`` also sees the job's fields: on ``POST /api/export/start`` the JSON
body's fields; on ``/api/export/{jobId}/files`` and ``DELETE /api/export/{jobId}`` the job's ``jobId``,
``dataTypeName`` (canonical spelling), ``startDateTime``/``endDateTime`` (as the client sent them),
``start``/``end`` (the same instants as ``YYYY-MM-DD HH:MM:SS`` UTC) and ``outputFormat``. A rule's
``path`` may be the normalised ``/api/export/{jobId}/files`` or ``/api/export/{jobId}`` as well as the
concrete path. ``{"kind": "status", "status": 429, "path": "/api/export/start", "times": N}`` is the
"429 on start" fault (its default body is Iterable's per-second 429).

HTTP kinds (replace or damage one response): ``status``, ``cut``, ``malformed``, ``html``, ``empty``,
``delay``, ``stall``, ``reset``, ``no_trailing_newline``.

Job kinds take no ``path``; they match on the job fields above and fire once per job (or per listing or
download), ``times`` times:

- ``job_failed``: the job runs, then ends ``failed`` after ``after_seconds`` of running (default: halfway
  through its run); files written before that stay listed.
- ``job_slow``: ``seconds`` (default 30) of extra latency before the job's first row.
- ``job_truncated``: only the first ``after_rows`` rows (default: half) are exported and the job
  completes with ``exportTruncated: true``, as if it had hit the 100 GB cap.
- ``job_requeue``: after ``after_seconds`` of running (default: halfway) the job drops back to
  ``enqueued`` for ``seconds`` (default 2), then runs on, keeping its files (a restart).
- ``url_expired`` (consulted on a files listing that has at least one file): every URL of that listing is
  already expired; the storage host answers 403 "Request has expired".
- ``file_cut`` (consulted on a storage download; ``match`` also sees ``file``, the file name): the
  response promises the whole Content-Length and the connection closes inside row ``after_rows``
  (default: the middle row).
- ``file_malformed``: the downloaded file has ``line`` inserted before row ``after_rows`` (default: the
  middle row); Content-Length covers the damaged body.
- ``file_status``: the storage host answers ``status`` (default 503) with an S3 XML error body.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

HTTP_KINDS = ("status", "cut", "malformed", "html", "empty", "delay", "stall", "reset", "no_trailing_newline")
START_KINDS = ("job_failed", "job_slow", "job_truncated", "job_requeue")  # decided when the job starts
LISTING_KINDS = ("url_expired",)  # decided when a files page is listed
FILE_KINDS = ("file_cut", "file_malformed", "file_status")  # decided when the storage host serves a file
JOB_KINDS = (*START_KINDS, *LISTING_KINDS, *FILE_KINDS)
KINDS = (*HTTP_KINDS, *JOB_KINDS)
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
    after_seconds: float | None = None
    fired: int = 0

    def matches(self, path: str, query: dict[str, str], alias: str | None = None) -> bool:
        """``alias`` is a second name of the path (the normalised ``/api/export/{jobId}/files``)."""
        if self.times is not None and self.times <= 0:
            return False
        if self.path is not None:
            wanted = self.path

            def hit(candidate: str) -> bool:
                return candidate.startswith(wanted[:-1]) if wanted.endswith("*") else candidate == wanted

            if not (hit(path) or (alias is not None and hit(alias))):
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
        if self.kind in ("malformed", "file_malformed"):
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
        "after_seconds",
    }
    if unknown:
        raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    match = raw.get("match") or {}
    if not isinstance(match, dict):
        raise FaultError("match must be an object of query parameter -> value")
    times = raw.get("times", 1)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
        raise FaultError("times must be a non-negative integer or null")
    if kind in JOB_KINDS and raw.get("path") is not None:
        raise FaultError(f"{kind} takes no path: it matches on the job's fields (use match)")
    status = raw.get("status", 503 if kind == "file_status" else 500)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultError("status must be an HTTP status code")
    after = raw.get("after_rows")
    if after is not None and (not isinstance(after, int) or after < 0):
        raise FaultError("after_rows must be a non-negative integer")
    seconds = raw.get("seconds", 0.0)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise FaultError("seconds must be a non-negative number")
    if kind in ("delay", "stall", "job_slow", "job_requeue") and "seconds" not in raw:
        seconds = {"delay": 5.0, "stall": 30.0, "job_slow": 30.0, "job_requeue": 2.0}[kind]
    after_seconds = raw.get("after_seconds")
    if after_seconds is not None and (
        not isinstance(after_seconds, int | float) or isinstance(after_seconds, bool) or after_seconds < 0
    ):
        raise FaultError("after_seconds must be a non-negative number")
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
        after_seconds=None if after_seconds is None else float(after_seconds),
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

    def take(
        self,
        path: str,
        query: dict[str, str],
        kinds: tuple[str, ...] = HTTP_KINDS,
        alias: str | None = None,
    ) -> Fault | None:
        """The first matching rule of one of ``kinds`` with firings left, spending one of them."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(path, query, alias):
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


def rate_limit_body(limit: float, path: str, project: int, per: str = "minute") -> bytes:
    # Real body: the limit printed as a float ("4.0") and a trailing space after the project id.
    return error_json(
        f"Exceeded rate limit of {float(limit)} per {per} for endpoint: {path}, project: {project} ",
        "RateLimitExceeded",
        {},
    )


def default_status_body(
    status: int, path: str, ip: str, limit: float, project: int, per: str = "minute"
) -> tuple[bytes, str]:
    """The fact-sheet body for an injected status when the rule gives none: (body, content type)."""
    json_type = "application/json; charset=utf-8"
    if status == 500:
        return error_json(GENERIC_500, "GenericError"), json_type
    if status == 429:
        return rate_limit_body(limit, path, project, per), json_type
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
