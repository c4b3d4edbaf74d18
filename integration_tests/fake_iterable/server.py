"""HTTP/1.1 transport of the fake Iterable API: keep-alive, hand-written chunked bodies, fault execution.

Built on ``http.server.ThreadingHTTPServer``; one thread per connection. ``FakeIterable`` also runs the
storage host of the export jobs' files (storage.py) on a second port.
"""

from __future__ import annotations

import socket
import struct
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson

from .api import GETUSERS_PATH, TEXT, Reply, Request, Stream, gate, handle, not_found, resolve
from .control import handle_control
from .data import Dataset
from .faults import MAINTENANCE_HTML, ROW_KINDS, Fault, default_status_body, parse_fault
from .jobs import JobSettings
from .jobs_api import body_for_log, job_route, match_fields, stats_path
from .state import ServerState
from .storage import StorageHost
from .streaming import write_stream
from .transport import TrackingHandler, TrackingServer

CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class _Server(TrackingServer):
    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        super().__init__(address, state, _Handler)


class _Handler(TrackingHandler):
    server_version = "iterable-ingress"

    def version_string(self) -> str:
        return "iterable-ingress fake"  # the real Server header reads "iterable-ingress <hex>"

    def do_GET(self) -> None:
        self._run("GET")

    def do_POST(self) -> None:
        self._run("POST")

    def do_PUT(self) -> None:
        self._run("PUT")

    def do_DELETE(self) -> None:
        self._run("DELETE")

    def _run(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""  # always drain: keeps keep-alive framing
            split = urlsplit(self.path)
            if split.path.startswith("/_control/"):
                self._send(handle_control(self.state, method, split.path, body))
            else:
                self._api(method, split.path, split.query, body)
        except CLIENT_GONE:
            self.close_connection = True

    def _api(self, method: str, path: str, query: str, body: bytes = b"") -> None:
        key = self.headers.get("Api-Key") or self.headers.get("api_key")  # header names: case-insensitive
        req = Request(
            path=path,
            query=parse_qs(query, keep_blank_values=True),  # "+" decodes to a space
            host=self.headers.get("Host") or f"127.0.0.1:{cast(_Server, self.server).server_port}",
            ip=self.client_address[0],
            key=key.strip() if key else None,
            method=method,
            body=body,
            raw_target=self.path,
        )
        flat = req.flat()
        route = resolve(method, path)
        if route is None:
            self.state.stats.record(path, flat, 404, method=method)
            self._send(not_found(path))
            return
        shown = stats_path(method, path)  # /api/export/{jobId}/files: countable across jobs
        logged = body_for_log(req)

        def record(status: int, fired: str | None = None) -> None:
            self.state.stats.record(shown, flat, status, fired, method, logged)

        denied = gate(self.state, req)
        if denied is not None:
            record(denied.status)
            self._send(denied)
            return
        fields = match_fields(self.state, req) if job_route(method, path) is not None else flat
        fault = self.state.faults.take(path, fields, alias=shown if shown != path else None)
        fired = fault.kind if fault is not None else None
        if fault is not None and fault.kind == "delay":
            self.state.stopping.wait(fault.seconds)  # slow first byte, then a normal answer
            fault = None
        if fault is not None and fault.kind not in ROW_KINDS:
            replacement = self._replacement(fault, req)
            # Record before answering: a client may read /_control/stats right after our reply.
            record(0 if replacement is None else replacement.status, fault.kind)
            if replacement is None:
                self._reset()
            else:
                self._send(replacement)
            return
        result = handle(self.state, req, *route)
        if isinstance(result, Stream):
            record(200, fired)
        else:
            record(result.status, fired or result.fault)
        if isinstance(result, Stream):
            self._stream(result, fault)
        elif fault is not None:
            self._fixed_fault(result, fault)
        else:
            self._send(result)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _replacement(self, fault: Fault, req: Request) -> Reply | None:
        """The answer given instead of the endpoint's (status/html/empty); None for a reset."""
        if fault.kind == "reset":
            return None
        if fault.kind == "html":
            return Reply(200, MAINTENANCE_HTML.encode(), "text/html; charset=utf-8")
        if fault.kind == "empty":
            return Reply(200, b"")
        job = job_route(req.method, req.path)
        if job is not None:  # the jobs API quotes its per-second limits
            limiter = self.state.delete_limit if job[0] == "cancel" else self.state.job_limit
            limit, per = (limiter.rate if limiter.rate > 0 else 1.0), "second"
        else:
            users = req.path == GETUSERS_PATH
            limit = (self.state.getusers_limit if users else self.state.export_limit).per_minute
            # limit disabled: quote the documented one
            limit = limit if limit > 0 else (5.0 if users else 4.0)
            per = "minute"
        project = self.state.project_id
        body, content_type = default_status_body(fault.status, req.path, req.ip, limit, project, per)
        if isinstance(fault.body, str):
            body, content_type = fault.body.encode(), TEXT
        elif fault.body is not None:
            body, content_type = orjson.dumps(fault.body), "application/json; charset=utf-8"
        return Reply(fault.status, body, fault.content_type or content_type, fault.headers)

    def _reset(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset by peer".
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fixed_fault(self, reply: Reply, fault: Fault) -> None:
        """Row-level faults on a non-streamed body: truncate it (cut/stall) or corrupt it (malformed)."""
        half = len(reply.body) // 2
        if fault.kind == "no_trailing_newline":
            self._send(Reply(reply.status, reply.body.rstrip(b"\n"), reply.content_type, reply.headers))
        elif fault.kind == "malformed":
            self._send(Reply(reply.status, reply.body[:half], reply.content_type, reply.headers))
        else:  # cut / stall: promise the full length, deliver half, then give up
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body[:half])
            if fault.kind == "stall":
                self.state.stopping.wait(fault.seconds)
            self._hang_up()

    def _stream(self, stream: Stream, fault: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", TEXT)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if write_stream(self.wfile.write, stream, fault, self.state.stopping.wait):
            self._hang_up()


class FakeIterable:
    """In-process fake Iterable API. ``with FakeIterable() as server: server.base_url``."""

    def __init__(
        self,
        api_keys: list[str] | None = None,
        readonly_keys: list[str] | None = None,
        export_rpm: float | None = None,
        getusers_rpm: float | None = None,
        bench_rows: int = 0,
        seed: int = 7,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        *,
        export_job_rps: float | None = None,
        export_delete_rps: float | None = None,
        job_queue_seconds: float | None = None,
        job_base_latency: float | None = None,
        job_row_seconds: float | None = None,
        job_file_bytes: int | None = None,
        job_url_lifetime: float | None = None,
        job_truncate_bytes: int | None = None,
        job_max_running: int | None = None,
        job_cancel_seconds: float | None = None,
        jobs_api: bool = True,
        jobs_forbidden_keys: list[str] | None = None,
        storage_port: int = 0,
        recent_months: int = 0,
        extra_lists: int = 0,
        project_type: str = "email_based",
        scaled_lists: tuple[int, int, int] | None = None,
    ) -> None:
        """``project_type``: list_users' data as a hybrid or userID-based project has it
        (membership.py); ``scaled_lists``: (users, lists, dynamic lists) generated for the list_users
        benchmark (scaled_lists.py). ``job_*`` arguments left None come from the FAKE_ITERABLE_JOB_* variables, then the defaults
        (jobs.py); the two rate limits from ITERABLE_EXPORT_JOB_REQUESTS_PER_SECOND and
        ITERABLE_EXPORT_JOB_DELETES_PER_SECOND (default 1; 0 disables)."""
        settings = JobSettings.resolve(
            queue_seconds=job_queue_seconds,
            base_latency=job_base_latency,
            row_seconds=job_row_seconds,
            file_bytes=job_file_bytes,
            url_lifetime=job_url_lifetime,
            truncate_bytes=job_truncate_bytes,
            max_running=job_max_running,
            cancel_seconds=job_cancel_seconds,
        )
        self.state = ServerState(
            api_keys,
            readonly_keys,
            export_rpm,
            getusers_rpm,
            bench_rows,
            seed,
            export_job_rps=export_job_rps,
            export_delete_rps=export_delete_rps,
            job_settings=settings,
            jobs_api=jobs_api,
            jobs_forbidden_keys=jobs_forbidden_keys,
            recent_months=recent_months,
            extra_lists=extra_lists,
            project_type=project_type,
            scaled_lists=scaled_lists,
        )
        self._address = (host, port)
        self._verbose = verbose
        self._httpd: _Server | None = None
        self.storage = StorageHost(self.state, host, storage_port, verbose)

    def start(self) -> FakeIterable:
        if self._httpd is not None:
            return self
        _Handler.verbose = self._verbose
        self.state.stopping.clear()
        self.storage.start()
        self._httpd = _Server(self._address, self.state)
        self._httpd.serve_in_thread("fake-iterable")
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.state.stopping.set()
        self._httpd.stop_serving()
        self._httpd = None
        self.storage.stop()
        self.state.jobs.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.port

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    @property
    def dataset(self) -> Dataset:
        return self.state.dataset

    def add_fault(self, rule: dict[str, Any]) -> None:
        self.state.faults.add([parse_fault(rule)])

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def add_events(self, data_type: str, rows: list[dict[str, Any]]) -> int:
        return self.state.add_events(data_type, rows)

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    @property
    def storage_url(self) -> str:
        """The storage host's origin (another port: the files' URLs point there)."""
        return self.storage.base_url

    def storage_stats(self) -> dict[str, Any]:
        """Every request the storage host got, each with ``api_key_present``."""
        return self.state.storage_stats.snapshot()

    def jobs(self) -> list[dict[str, Any]]:
        """Every export job, as ``GET /_control/jobs`` lists them."""
        return self.state.jobs.describe()

    def reset(self) -> None:
        self.state.reset()

    def __enter__(self) -> FakeIterable:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
