"""A scripted OpenAI-compatible LLM server for tests and offline demos.

Tests run it in a background thread::

    with FakeLLMServer(scripts=[Script(name="s", turns=[Turn(content="hi")])]) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x")
        ...  # model="script:s"

The app itself lives in :mod:`cli.testing.fake_llm_app`, the script models in
:mod:`cli.testing.scripts`; both are re-exported here.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from cli.testing.fake_llm_app import create_app
from cli.testing.scripts import (
    Fault,
    Script,
    ScriptedToolCall,
    ScriptRegistry,
    Turn,
    load_scripts,
)

__all__ = [
    "FakeLLMServer",
    "Fault",
    "Script",
    "ScriptRegistry",
    "ScriptedToolCall",
    "Turn",
    "base_url_for",
    "bind_socket",
    "create_app",
    "load_scripts",
    "uvicorn_server",
]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0 picks a free one), not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def base_url_for(sock: socket.socket) -> str:
    """The OpenAI base URL (``http://host:port/v1``) of a bound socket."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def uvicorn_server(app: ASGIApp) -> uvicorn.Server:
    """A quiet uvicorn server for ``app``: warnings only, no access log, no lifespan."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class FakeLLMServer:
    """The fake LLM on a daemon thread with its own event loop; a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scripts: Iterable[Script] = (),
        *,
        chunk_size: int = 8,
    ) -> None:
        self.registry = ScriptRegistry(scripts)
        self._host = host
        self._port = port
        self._chunk_size = chunk_size
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            self._sock = bind_socket(self._host, self._port)
        return self._sock

    @property
    def base_url(self) -> str:
        """The URL to use as ``OPENAI_BASE_URL``, e.g. ``http://127.0.0.1:54321/v1``.

        Known before :meth:`start`: reading it binds the socket.
        """
        return base_url_for(self._socket())

    def start(self) -> None:
        """Serve in a daemon thread; returns once the server is listening.

        Raises:
            RuntimeError: If it is already running or does not come up in time.
        """
        if self._thread is not None:
            raise RuntimeError("the fake LLM server is already running")
        sock = self._socket()
        server = uvicorn_server(create_app(self.registry, chunk_size=self._chunk_size))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Shut the server down and release its port; a no-op when not running."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_script(self, script: Script) -> None:
        """Register or replace a script (its call counts restart from zero)."""
        self.registry.add(script)

    def calls(self, name: str) -> dict[int, int]:
        """Calls per turn index made so far to script ``name`` (empty if none)."""
        return self.registry.calls(name)

    def headers(self, name: str) -> dict[str, str]:
        """HTTP headers of the latest request to script ``name`` (lower-cased names)."""
        return self.registry.headers(name)
