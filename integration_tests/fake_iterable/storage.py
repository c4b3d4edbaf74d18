"""The storage host of export files: a second HTTP server on another port of 127.0.0.1 (another origin).

``GET /api/export/{jobId}/files`` lists each file with a pre-signed-looking URL on this host, shaped like
the S3 URLs Iterable hands out::

    http://127.0.0.1:PORT/itbl-exports/2158/3562/file-1704067200123.json?X-Amz-Algorithm=AWS4-HMAC-SHA256
        &X-Amz-Credential=...&X-Amz-Date=20240101T000000Z&X-Amz-Expires=1800&X-Amz-SignedHeaders=host
        &X-Amz-Signature=<hex>

The signature is an HMAC over the path, the date and the lifetime with a per-process secret, so a URL that
was edited (or made up) is refused. ``X-Amz-Date`` has whole seconds, as in S3, so a URL is good for up
to one second less than its lifetime. Answers, in the order they are checked, with S3's XML error bodies:

- 403 ``AccessDenied`` when the query parameters of the signature are missing;
- 403 ``SignatureDoesNotMatch`` when the signature is wrong;
- 403 ``AccessDenied`` "Request has expired" once ``X-Amz-Date + X-Amz-Expires`` is past;
- 404 ``NoSuchKey`` for a file the book does not have (any more: ``reset`` deletes files);
- otherwise 200 with the file (``Content-Length``, ``ETag``), or 206 for a ``Range: bytes=...`` request.

No API key is needed here, and none should be sent: every request is recorded with ``api_key_present``
(an ``Api-Key`` or ``api_key`` header, or an ``api_key`` query parameter) and the names of the headers it
carried, in the storage stats (``GET /_control/stats`` on this host, ``GET /_control/storage`` on the API
host, ``FakeIterable.storage_stats()``). The ``file_cut``, ``file_malformed`` and ``file_status`` faults
act here (see faults.py).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import os
import socket
import threading
import time
from collections import Counter, deque
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import orjson

from .faults import FILE_KINDS, Fault
from .transport import TrackingHandler, TrackingServer

if TYPE_CHECKING:
    from .state import ServerState

BUCKET = "itbl-exports"
STORAGE_PATH = "/storage"  # the path file faults are matched against (they take no path of their own)
ACCESS_KEY = "ASIAFAKEITERABLEEXPORTS"
LOG_LIMIT = 5000
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
SIGNED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
S3_CODES = {
    400: ("InvalidRequest", "Invalid Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    416: ("InvalidRange", "The requested range is not satisfiable"),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


def _amz_date(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(seconds)))


def _lifetime(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


class UrlSigner:
    """Makes and checks the pre-signed URLs; ``base_url`` is set once the storage host is listening."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)
        self.base_url = "http://127.0.0.1:0"

    def _signature(self, path: str, date: str, expires: str) -> str:
        message = f"GET\n{path}\n{date}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, project: int, job_id: int, name: str, issued: float, lifetime: float) -> str:
        path = f"/{BUCKET}/{project}/{job_id}/{quote(name)}"
        date, expires = _amz_date(issued), _lifetime(lifetime)
        query = urlencode(
            [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", f"{ACCESS_KEY}/{date[:8]}/us-east-1/s3/aws4_request"),
                ("X-Amz-Date", date),
                ("X-Amz-Expires", expires),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", self._signature(path, date, expires)),
            ]
        )
        return f"{self.base_url}{path}?{query}"

    def verify(self, path: str, query: dict[str, str], now: float) -> tuple[int, bytes] | None:
        """None when the URL is good; else the (status, XML body) to answer."""
        if any(not query.get(name) for name in SIGNED):
            message = (
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
            )
            return 403, s3_error("AccessDenied", message)
        date, expires = query["X-Amz-Date"], query["X-Amz-Expires"]
        expected = self._signature(path, date, expires)
        if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
            message = (
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method."
            )
            return 403, s3_error("SignatureDoesNotMatch", message)
        try:
            deadline = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ")) + float(expires)
        except ValueError:
            return 403, s3_error("AccessDenied", "X-Amz-Date must be in the ISO8601 Long Format")
        if now > deadline:
            extra = {"X-Amz-Expires": expires, "Expires": _iso_z(deadline), "ServerTime": _iso_z(now)}
            return 403, s3_error("AccessDenied", "Request has expired", extra)
        return None


def _iso_z(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def s3_error(code: str, message: str, extra: dict[str, str] | None = None) -> bytes:
    request_id = os.urandom(8).hex().upper()
    parts = [f"<Code>{code}</Code>", f"<Message>{message}</Message>"]
    parts += [f"<{name}>{value}</{name}>" for name, value in (extra or {}).items()]
    parts += [f"<RequestId>{request_id}</RequestId>", f"<HostId>{os.urandom(24).hex()}</HostId>"]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


class StorageStats:
    """What the storage host was asked; ``api_key_present`` says whether the request carried the key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.count = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.count += 1
            self.statuses[str(entry["status"])] += 1
            self.log.append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            log = list(self.log)
            return {
                "requests": self.count,
                "statuses": dict(self.statuses),
                "api_key_seen": any(entry["api_key_present"] for entry in log),
                "log": log,
            }

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.statuses.clear()
            self.log.clear()


class _StorageServer(TrackingServer):
    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        super().__init__(address, state, _StorageHandler)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """A single ``bytes=a-b`` range as (first, last); None for no (or an unsupported) range; "bad" if
    it cannot be satisfied."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, _, last_text = header[len("bytes=") :].strip().partition("-")
    try:
        if first_text == "":
            count = int(last_text)
            if count <= 0:
                return "bad"
            return max(0, size - count), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return "bad"
    return first, min(last, size - 1)


class _StorageHandler(TrackingHandler):
    def version_string(self) -> str:
        return "AmazonS3"

    def do_GET(self) -> None:
        try:
            self._get()
        except CLIENT_GONE:
            self.close_connection = True

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", os.urandom(8).hex().upper())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _get(self) -> None:
        split = urlsplit(self.path)
        if split.path.rstrip("/") == "/_control/stats":
            self._send(200, orjson.dumps(self.state.storage_stats.snapshot()), "application/json")
            return
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        headers = [name.lower() for name in self.headers]
        entry: dict[str, Any] = {
            "path": split.path,
            "job_id": None,
            "file": None,
            "api_key_present": "api-key" in headers or "api_key" in headers or "api_key" in query,
            "headers": sorted(set(headers)),
            "t": time.time(),
        }
        parts = split.path.split("/")
        if len(parts) != 5 or parts[1] != BUCKET or not parts[3].isdigit():
            self._error(entry, 404, s3_error("NoSuchKey", "The specified key does not exist."))
            return
        job_id, name = int(parts[3]), unquote(parts[4])
        entry["job_id"], entry["file"] = job_id, name
        refused = self.state.signer.verify(split.path, query, time.time())
        if refused is not None:
            self._error(entry, *refused)
            return
        found = self.state.jobs.lookup(job_id, name)
        if found is None:
            body = s3_error("NoSuchKey", "The specified key does not exist.", {"Key": f"{job_id}/{name}"})
            self._error(entry, 404, body)
            return
        item, spec = found
        try:
            with open(item.path, "rb") as handle:
                data = handle.read()
        except OSError:  # deleted by a reset in the meantime
            self._error(entry, 404, s3_error("NoSuchKey", "The specified key does not exist."))
            return
        fault = self.state.faults.take(STORAGE_PATH, {**spec, "file": name}, kinds=FILE_KINDS)
        if fault is not None:
            entry["fault"] = fault.kind
        if fault is not None and fault.kind == "file_status":
            code, message = S3_CODES.get(fault.status, ("InternalError", "We encountered an internal error."))
            self._error(entry, fault.status, s3_error(code, message))
            return
        if fault is not None and fault.kind == "file_malformed":
            data = _insert_line(data, fault)
        self._serve(entry, job_id, name, data, fault)

    def _error(self, entry: dict[str, Any], status: int, body: bytes) -> None:
        entry["status"] = status
        self.state.storage_stats.record(entry)
        self._send(status, body, "application/xml")

    def _serve(self, entry: dict[str, Any], job_id: int, name: str, data: bytes, fault: Fault | None) -> None:
        size = len(data)
        entry["bytes"] = size
        headers = {
            "ETag": f'"{hashlib.md5(data).hexdigest()}"',
            "Last-Modified": formatdate(usegmt=True),
            "Accept-Ranges": "bytes",
        }
        wanted = _byte_range(self.headers.get("Range"), size)
        if wanted == "bad":
            entry["status"] = 416
            self.state.storage_stats.record(entry)
            self._send(
                416, s3_error("InvalidRange", "The requested range is not satisfiable"), "application/xml"
            )
            return
        status, body = 200, data
        if isinstance(wanted, tuple):
            first, last = wanted
            status, body = 206, data[first : last + 1]
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            entry["range"] = [first, last]
        entry["status"] = status
        self.state.storage_stats.record(entry)  # before answering: a test may read the stats right after
        self.state.jobs.note_fetch(job_id, name)
        if fault is None or fault.kind != "file_cut":
            self._send(status, body, "application/octet-stream", headers)
            return
        # Promise the whole body, deliver part of it, hang up: the client sees an incomplete read.
        cut = _cut_at(body, fault) if status == 200 else max(1, len(body) // 2)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for header, value in headers.items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(body[:cut])
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _row_index(lines: list[bytes], fault: Fault) -> int:
    return len(lines) // 2 if fault.after_rows is None else min(fault.after_rows, len(lines))


def _insert_line(data: bytes, fault: Fault) -> bytes:
    lines = data.splitlines(keepends=True)
    lines.insert(_row_index(lines, fault), fault.line.encode() + b"\n")
    return b"".join(lines)


def _cut_at(data: bytes, fault: Fault) -> int:
    """A byte offset inside row ``after_rows`` (default: the middle row): never at a line boundary."""
    lines = data.splitlines(keepends=True)
    if not lines:
        return 0
    index = min(_row_index(lines, fault), len(lines) - 1)
    before = sum(len(line) for line in lines[:index])
    return before + max(1, len(lines[index]) // 2)


class StorageHost:
    """Runs the storage server beside the API server; sets the signer's base URL once bound."""

    def __init__(
        self, state: ServerState, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self.state = state
        self._address = (host, port)
        self._verbose = verbose
        self._httpd: _StorageServer | None = None

    def start(self) -> None:
        if self._httpd is not None:
            return
        _StorageHandler.verbose = self._verbose
        self._httpd = _StorageServer(self._address, self.state)
        self.state.signer.base_url = self.base_url
        self._httpd.serve_in_thread("fake-storage")

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stop_serving()
        self._httpd = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("storage host not started")
        return self._httpd.port

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"
