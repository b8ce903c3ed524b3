"""A threaded HTTP server on a free loopback port, for the test identity providers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output free of access logs."""

    def log_message(self, *_: Any) -> None:
        """Drop the access log line."""

    def send_json(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Answer `data` as JSON with `status` and any extra `headers`."""
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """Runs a handler class on 127.0.0.1 in a daemon thread; `stop` refuses connections after."""

    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None
        return int(self._server.server_address[1])

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        """Start answering with `handler` on a free port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Take the endpoint down for good (connections are refused from now on)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
