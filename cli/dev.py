"""`cape dev`: Temporal dev server + worker + API in one command, supervised, stopped on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import httpx

from cape.settings import Settings
from cli import devserver
from cli.dev_model import DemoModel, demo_model, model_line
from cli.devpids import AlreadyRunning, PidFile
from cli.processes import load_settings, register_key
from cli.supervisor import (
    ChildDied,
    ChildSpec,
    GaveUp,
    RestartPolicy,
    Stop,
    Supervisor,
    describe_exit,
    log_tail,
)
from cli.workers import worker_processes

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0


class _PortBusy(click.ClickException):
    exit_code = 2


def _dev_key(data_dir: Path) -> str:
    from cape.auth import KEY_PREFIX  # sqlalchemy: not loaded for the other `cape` commands

    path = data_dir / "dev-api-key"
    if path.exists() and (key := path.read_text().strip()):
        return key
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(key + "\n")
    return key


def _temporal_ready(settings: Settings) -> Callable[[Callable[[], bool]], None]:
    async def ready(alive: Callable[[], bool]) -> None:
        from cape.search_attributes import ensure_search_attributes

        client = await devserver.wait_for_temporal(
            settings.temporal_address,
            settings.temporal_namespace,
            wait_seconds=READY_TIMEOUT,
            alive=alive,
        )
        await ensure_search_attributes(client, settings.temporal_namespace)

    return lambda alive: asyncio.run(ready(alive))


def _http_ready(url: str) -> Callable[[Callable[[], bool]], None]:
    def ready(alive: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(timeout=2.0) as http:
            while alive():
                try:
                    if http.get(url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise click.ClickException(f"{url} did not answer 200 in {READY_TIMEOUT:g}s")
                time.sleep(0.2)

    return ready


def children(
    settings: Settings, ui: bool, policy: RestartPolicy, demo: DemoModel | None = None
) -> list[ChildSpec]:
    """The processes of `cape dev`, in start order (they stop in reverse).

    Adding a child is one more `ChildSpec` here: each is launched after the previous one's
    ready check passed, restarted by `policy`, and named in the banner's log line. With `demo`
    (no LLM provider configured) the bundled scripted LLM runs too and serves the worker.
    """
    temporal = devserver.dev_server_args(
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port if ui else None,
        db_file=settings.data_dir / "temporal.db",
    )
    env = os.environ | _children_settings(settings, demo).to_env() | {"PYTHONUNBUFFERED": "1"}
    cape = [sys.executable, "-m", "cli"]
    health = f"http://{HOST}:{settings.api_port}/healthz"
    specs = [
        ChildSpec(
            "temporal",
            [str(devserver.temporal_binary()), *temporal],
            ready=_temporal_ready(settings),
            policy=policy,
        )
    ]
    if demo is not None:
        specs.append(ChildSpec("fake-llm", demo.command(), ready=demo.wait_ready, policy=policy))
    return [
        *specs,
        ChildSpec("worker", [*cape, "worker"], env, policy=policy),
        ChildSpec("api", [*cape, "api"], env, ready=_http_ready(health), policy=policy),
    ]


def _children_settings(settings: Settings, demo: DemoModel | None) -> Settings:
    return demo.configure(settings) if demo is not None else settings


def _banner(
    sup: Supervisor, settings: Settings, ui: bool, key: str, demo: DemoModel | None
) -> None:
    api_url = f"http://{HOST}:{settings.api_port}"
    ui_url = f"http://{HOST}:{settings.temporal_ui_port}" if ui else "disabled (--no-ui)"
    names = ",".join(child.name for child in sup.children)
    for label, value in [
        ("API", api_url),
        ("API docs", f"{api_url}/docs"),
        ("Dashboard", f"{api_url}/ui (log in with the dev API key)"),
        ("Temporal Web UI", ui_url),
        (
            "Temporal address",
            f"{settings.temporal_address} (namespace {settings.temporal_namespace})",
        ),
        ("Model", model_line(_children_settings(settings, demo), demo)),
        ("Worker processes", f"{worker_processes(settings, None)} (CAPE_WORKER_PROCESSES)"),
        ("Data dir", str(settings.data_dir)),
        ("Logs", str(sup.log_dir / f"{{{names}}}.log")),
        ("Dev API key", key),
    ]:
        click.echo(f"  {label + ':':<18}{value}")
    click.echo(f'  Try: curl -H "Authorization: Bearer {key}" {api_url}/v1/tasks')
    _warn_about_sandbox(settings)
    click.echo("CapeControl dev is running; press Ctrl-C to stop.")


def _run(sup: Supervisor, settings: Settings, specs: list[ChildSpec]) -> str:
    from migrations.apply import upgrade

    # The app database needs no Temporal: ready before any child starts.
    upgrade(settings)
    key = _dev_key(settings.data_dir)
    asyncio.run(register_key(settings, owner="dev", name="dev", key=key))
    for spec in specs:
        sup.launch(spec)
    return key


def _check_ports(settings: Settings, ui: bool) -> None:
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


def _crashed(child_died: ChildDied) -> None:
    child = child_died.child
    code = child.proc.returncode if child.proc is not None else 0
    if isinstance(child_died, GaveUp):
        policy = child.spec.policy
        times = "restart" if policy.max_restarts == 1 else "restarts"
        what = (
            f"{child.name} exited ({describe_exit(code)}) after {policy.max_restarts} {times} "
            f"in {policy.window_seconds:g} s; giving up"
        )
    else:
        what = f"{child.name} exited unexpectedly ({describe_exit(code)})"
    click.echo(f"{what}; last lines of {child.log_path}:\n{log_tail(child.log_path)}", err=True)


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
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=RestartPolicy.max_restarts,
    show_default=True,
    help="Restarts of one crashed child allowed within --restart-window (0: never restart).",
)
@click.option(
    "--restart-window",
    type=click.FloatRange(min=0, min_open=True),
    default=RestartPolicy.window_seconds,
    show_default=True,
    help="Seconds over which --max-restarts counts.",
)
def dev(
    data_dir: Path | None,
    api_port: int | None,
    temporal_port: int | None,
    ui_port: int | None,
    ui: bool,
    max_restarts: int,
    restart_window: float,
) -> None:
    """Run Temporal, a worker and the API locally; data survives restarts.

    A child that crashes is restarted with a growing delay; after more than --max-restarts
    crashes within --restart-window seconds, `cape dev` stops the rest and prints the tail of
    its log. Child logs go to <data-dir>/logs/{temporal,worker,api}.log.
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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = PidFile(settings.data_dir)
    try:
        pid_file.clear_leftovers(click.echo, STOP_TIMEOUT)
    except AlreadyRunning as exc:
        raise _PortBusy(str(exc)) from exc
    _check_ports(settings, ui)
    policy = RestartPolicy(max_restarts=max_restarts, window_seconds=restart_window)
    sup = Supervisor(settings.data_dir / "logs", pid_file, stop_timeout=STOP_TIMEOUT)
    sup.log_dir.mkdir(parents=True, exist_ok=True)
    # SIGHUP: a closed terminal stops the stack in order too, rather than killing `cape dev`
    # outright (its children would then die by the parent-death signal, without a clean stop).
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
        signal.signal(sig, sup.on_signal)
    try:
        demo = demo_model(settings, HOST)
        key = _run(sup, settings, children(settings, ui, policy, demo))
        _banner(sup, settings, ui, key, demo)
        sup.watch()
    except Stop:
        names = [child.name for child in reversed(sup.children)]
        click.echo(f"Stopping {', '.join(names) or 'nothing'}...")
    except ChildDied as exc:
        _crashed(exc)
        sys.exit(1)  # after `finally` stopped the rest
    except devserver.DevServerError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sup.stop_all()
    click.echo("Stopped.")


COMMANDS = [dev]
