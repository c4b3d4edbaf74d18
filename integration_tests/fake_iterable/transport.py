"""The HTTP server both of the fake's hosts (the API and the storage host) run on: threads per
connection, and the open sockets tracked so ``stop`` can cut keep-alive connections at once."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .state import ServerState


class TrackingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], state: ServerState, handler: type[BaseHTTPRequestHandler]
    ) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_thread(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self._thread.start()

    def stop_serving(self) -> None:
        """Stop accepting, cut the keep-alive connections still open, and wait for the thread."""
        self.shutdown()
        self.drop_connections()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that hangs up mid-body is normal, not a server error
        super().handle_error(request, client_address)


class TrackingHandler(BaseHTTPRequestHandler):
    """What both hosts' handlers share: keep-alive, an idle timeout, quiet logs, the server's state."""

    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries Content-Length or is chunked
    timeout = 300  # idle keep-alive connections are eventually dropped
    verbose = False

    @property
    def state(self) -> ServerState:
        return cast(TrackingServer, self.server).state

    def log_message(self, format: str, *args: Any) -> None:
        if self.verbose:
            super().log_message(format, *args)
