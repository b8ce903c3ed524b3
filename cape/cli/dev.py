"""`cape dev`: Temporal dev server + worker + API in one command, stopped cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
import httpx

from cape import devserver
from cape.auth import KEY_PREFIX
from cape.cli.processes import load_settings, register_key
from cape.settings import Settings

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


def log_tail(path: Path, lines: int = 25, max_bytes: int = 8192) -> str:
    """The last `lines` lines among the last `max_bytes` bytes of a log ("" if unreadable)."""
    try:
        text = path.read_bytes()[-max_bytes:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _PortBusy(click.ClickException):
    exit_code = 2


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                click.echo(f"{self.name} did not stop in {STOP_TIMEOUT:g}s; killing it", err=True)
                self.proc.kill()
        return self.proc.wait()

    def tail(self, lines: int = 25) -> str:
        return log_tail(self.log_path, lines)


class _ChildDied(Exception):
    def __init__(self, child: _Child) -> None:
        super().__init__(child.name)
        self.child = child


@dataclass
class _Supervisor:
    log_dir: Path
    children: list[_Child] = field(default_factory=list)
    stopping: bool = False

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> _Child:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            out.write(f"--- cape dev {datetime.now(UTC).isoformat()} ---\n".encode())
            out.flush()
            # A session of its own: Ctrl-C reaches only `cape dev`, which stops children in order.
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.children.append(_Child(name, proc, log_path))
        return self.children[-1]

    def check(self) -> None:
        """Raise _Stop on a signal, _ChildDied when a child exited."""
        if self.stopping:
            raise _Stop
        for child in self.children:
            if child.proc.poll() is not None:
                raise _ChildDied(child)

    def stop_all(self) -> None:
        """Stop children in reverse start order: API, worker, then Temporal."""
        while self.children:
            child = self.children.pop()
            if (code := child.stop()) not in (0, -signal.SIGTERM):  # SIGTERM: stopped early
                click.echo(f"{child.name} exited with code {code}; see {child.log_path}", err=True)


def _dev_key(data_dir: Path) -> str:
    path = data_dir / "dev-api-key"
    if path.exists() and (key := path.read_text().strip()):
        return key
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(key + "\n")
    return key


async def _temporal_ready(settings: Settings, alive: Callable[[], bool]) -> None:
    client = await devserver.wait_for_temporal(
        settings.temporal_address, settings.temporal_namespace, wait_seconds=60, alive=alive
    )
    await devserver.ensure_search_attributes(client, settings.temporal_namespace)


def _wait_healthy(sup: _Supervisor, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while True:
            sup.check()
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise click.ClickException(f"the API did not become healthy at {url}")
            time.sleep(0.2)


def _run(sup: _Supervisor, settings: Settings, ui: bool) -> None:
    data_dir = settings.data_dir
    args = devserver.dev_server_args(
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port if ui else None,
        db_file=data_dir / "temporal.db",
    )
    temporal = sup.start("temporal", [str(devserver.temporal_binary()), *args])
    try:
        asyncio.run(
            _temporal_ready(settings, lambda: temporal.proc.poll() is None and not sup.stopping)
        )
    except devserver.DevServerError:
        sup.check()  # a signal or a dead server explains it better
        raise
    from cape.db.migrate import upgrade

    upgrade(settings)
    key = _dev_key(data_dir)
    asyncio.run(register_key(settings, owner="dev", name="dev", key=key))
    child = settings.model_copy(update={"api_host": HOST})
    env = os.environ | child.to_env() | {"PYTHONUNBUFFERED": "1"}
    sup.start("worker", [sys.executable, "-m", "cape.cli", "worker"], env)
    sup.start("api", [sys.executable, "-m", "cape.cli", "api"], env)
    api_url = f"http://{HOST}:{settings.api_port}"
    _wait_healthy(sup, f"{api_url}/healthz")
    ui_url = f"http://{HOST}:{settings.temporal_ui_port}" if ui else "disabled (--no-ui)"
    for label, value in [
        ("API", api_url),
        ("API docs", f"{api_url}/docs"),
        ("Temporal Web UI", ui_url),
        (
            "Temporal address",
            f"{settings.temporal_address} (namespace {settings.temporal_namespace})",
        ),
        ("Data dir", str(data_dir)),
        ("Logs", str(sup.log_dir / "{temporal,worker,api}.log")),
        ("Dev API key", key),
    ]:
        click.echo(f"  {label + ':':<18}{value}")
    click.echo(f'  Try: curl -H "Authorization: Bearer {key}" {api_url}/v1/tasks')
    _warn_about_sandbox(settings)
    click.echo("CapeControl dev is running; press Ctrl-C to stop.")
    while True:
        sup.check()
        time.sleep(0.2)


def _warn_about_sandbox(settings: Settings) -> None:
    # The worker logs this too, but into its log file: say it where the developer looks.
    from cape.sandbox.launcher import Sandbox

    warning = asyncio.run(Sandbox(settings).startup_warning())
    if warning is not None:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where tasks, logs and the dev key live (default: $CAPE_DATA_DIR or .cape).",
)
@click.option("--api-port", type=int, default=None, help="API port (default 8000).")
@click.option("--temporal-port", type=int, default=None, help="Temporal gRPC port (default 7233).")
@click.option("--ui-port", type=int, default=None, help="Temporal Web UI port (default 8233).")
@click.option("--ui/--no-ui", default=True, show_default=True, help="Serve the Temporal Web UI.")
def dev(
    data_dir: Path | None,
    api_port: int | None,
    temporal_port: int | None,
    ui_port: int | None,
    ui: bool,
) -> None:
    """Run Temporal, a worker and the API locally; data survives restarts.

    Child logs go to <data-dir>/logs/{temporal,worker,api}.log; a crash prints the tail.
    """
    base = load_settings(
        data_dir, api_port=api_port, temporal_port=temporal_port, temporal_ui_port=ui_port
    )
    settings = load_settings(
        base.data_dir.resolve(),
        api_host=HOST,
        api_port=base.api_port,
        temporal_port=base.temporal_port,
        temporal_ui_port=base.temporal_ui_port,
        temporal_address=f"{HOST}:{base.temporal_port}",
    )
    ports = [
        (settings.api_port, "API", "--api-port"),
        (settings.temporal_port, "Temporal", "--temporal-port"),
    ]
    if ui:
        ports.append((settings.temporal_ui_port, "Temporal Web UI", "--ui-port"))
    for port, what, option in ports:
        try:
            devserver.check_port_free(HOST, port, what, option)
        except devserver.PortInUse as exc:
            raise _PortBusy(str(exc)) from exc
    sup = _Supervisor(settings.data_dir / "logs")
    sup.log_dir.mkdir(parents=True, exist_ok=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, sup.on_signal)
    try:
        _run(sup, settings, ui)
    except _Stop:
        click.echo("Stopping the API, the worker and Temporal...")
    except _ChildDied as exc:
        child = exc.child
        sup.children.remove(child)
        code = child.proc.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        click.echo(
            f"{child.name} exited unexpectedly ({how}); "
            f"last lines of {child.log_path}:\n{child.tail()}",
            err=True,
        )
        sys.exit(1)
    except devserver.DevServerError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sup.stop_all()
    click.echo("Stopped.")


COMMANDS = [dev]
