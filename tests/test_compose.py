"""Static checks of the production deployment: docker-compose.yml, the Dockerfile, the DB init.

They need no Docker engine: the files are parsed and checked against what the code expects (CLI
subcommands, Settings fields). `docker compose config` runs too where the compose plugin works.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cape.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

REQUIRED_SERVICES = {"postgresql", "temporal", "temporal-ui", "migrate", "api", "worker"}
CAPE_SERVICES = ("migrate", "api", "worker")
ONE_SHOT = {"migrate"}
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}

# Innermost first: a default may itself hold a `${...}` (compose resolves nested defaults).
# Environment variable of every Settings field -> the field's name.
FIELD_OF = {
    (f.validation_alias if isinstance(f.validation_alias, str) else f"CAPE_{name.upper()}"): name
    for name, f in Settings.model_fields.items()
}
SETTINGS = sorted(FIELD_OF)
# Set from other host-side names: an exported TEMPORAL_ADDRESS (for the `temporal` CLI) must not
# reach the containers, where localhost is the container itself.
HOST_NAMES = {
    "TEMPORAL_ADDRESS": "CAPE_TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE": "CAPE_TEMPORAL_NAMESPACE",
}
# Fixed by the deployment: the API listens on all interfaces of its container, on 8000.
FIXED = {"CAPE_API_HOST", "CAPE_API_PORT"}
# In `.env` for other services, blanked for CapeControl's processes.
BLANKED = {"POSTGRES_PASSWORD"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:(?!\$\{)[^}])*))?\}")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def interpolate(value: Any, env: dict[str, str] | None = None) -> Any:
    """Resolve `${VAR:-default}` the way compose does, with `env` (default: empty) as `.env`."""
    env = env or {}
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            if env.get(match.group(1)):
                return env[match.group(1)]
            if match.group(2) in (":-", "-"):
                return match.group(3)
            raise AssertionError(f"{match.group(0)} has no default: a bare `up` would fail")

        while _VAR.search(value):
            value = _VAR.sub(repl, value)
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    return value


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends in a line continuation"
    return instructions


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that is run)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(args: str) -> list[str]:
    parsed = json.loads(args)
    assert isinstance(parsed, list), f"use the exec (JSON) form: {args}"
    return [str(item) for item in parsed]


def registered_cape_commands() -> set[str]:
    from cli import main

    main._register()
    return set(main.cli.commands)


def duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"bad duration {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: interpolate(spec) for name, spec in compose["services"].items()}


def test_required_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES


def test_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker.{key} prevents `docker compose up --scale worker=N`"
    assert worker.get("network_mode") != "host"


def test_worker_shuts_down_gracefully(services: dict[str, dict[str, Any]]) -> None:
    assert duration_seconds(services["worker"]["stop_grace_period"]) >= 60


@pytest.mark.parametrize("name", ["api", "worker"])
def test_processes_wait_for_migrations_and_temporal(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    depends_on = services[name].get("depends_on") or {}
    conditions = {target: rule.get("condition") for target, rule in depends_on.items()}
    assert conditions.get("migrate") == "service_completed_successfully", conditions
    assert conditions.get("temporal") == "service_healthy", conditions


def test_long_running_services_are_supervised(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        if name in ONE_SHOT:
            continue
        healthcheck = spec.get("healthcheck") or {}
        has_healthcheck = bool(healthcheck.get("test")) and not healthcheck.get("disable")
        assert has_healthcheck or spec.get("restart") in RESTART_POLICIES, name
    assert services["worker"].get("restart") in RESTART_POLICIES
    assert services["api"].get("restart") in RESTART_POLICIES


def test_one_shot_migrate_is_not_restarted(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["postgresql"]["condition"] == "service_healthy"


def test_dependency_conditions_are_satisfiable(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        depends_on = spec.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: use the long depends_on form"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), (name, target)
            if rule["condition"] == "service_completed_successfully":
                assert target in ONE_SHOT, (name, target)


def test_api_healthcheck_probes_readyz_without_curl(services: dict[str, dict[str, Any]]) -> None:
    test = services["api"]["healthcheck"]["test"]
    probe = " ".join(test)
    assert "/readyz" in probe
    assert test[:2] == ["CMD", "python"], "the slim image has no curl/wget"


def test_postgres_init_script_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    postgresql = services["postgresql"]
    assert postgresql["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgresql["healthcheck"]["test"])
    mounts = [str(volume).split(":") for volume in postgresql["volumes"]]
    init = [m for m in mounts if m[1].startswith("/docker-entrypoint-initdb.d/")]
    assert init, "the init script that creates the `cape` database is not mounted"
    script = ROOT / init[0][0]
    assert script.is_file()
    assert "CREATE DATABASE" in script.read_text()
    # The role's password is handed to the init script through the container environment.
    assert postgresql["environment"]["CAPE_DB_PASSWORD"]


def test_temporal_uses_the_shared_postgresql(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:1.")
    env = temporal["environment"]
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["POSTGRES_PWD"] == services["postgresql"]["environment"]["POSTGRES_PASSWORD"]
    assert env["POSTGRES_USER"] == services["postgresql"]["environment"]["POSTGRES_USER"]
    assert temporal["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


@pytest.mark.parametrize("name", CAPE_SERVICES)
def test_process_environment_is_understood_by_settings(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {key: str(value) for key, value in services[name]["environment"].items()}
    for key in env:
        blanked = key in BLANKED and env[key] == ""
        assert key in SETTINGS or blanked, f"{name}: {key} is not a CapeControl setting (typo?)"

    for key in list(os.environ):
        if key.startswith(("CAPE_", "TEMPORAL_", "OPENAI_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.async_database_url.startswith("postgresql+psycopg://cape:")
    assert settings.async_database_url.endswith("@postgresql:5432/cape")
    assert settings.temporal_address == "temporal:7233"
    assert settings.openai_base_url.startswith("http")
    if name == "api":
        assert settings.api_host == "0.0.0.0"
        assert settings.api_port == 8000


def container_env(compose: dict[str, Any], name: str, dotenv: dict[str, str]) -> dict[str, str]:
    """A CapeControl process's environment with `dotenv` as `.env`, merged as compose does.

    `env_file` entries come first and `environment:` wins over them.
    """
    spec = interpolate(compose["services"][name], dotenv)
    assert {"path": ".env", "required": False} in spec.get("env_file", []), (
        f"{name}: `.env` is not an optional env_file, so its settings never reach the process"
    )
    return {**dotenv, **{key: str(value) for key, value in spec["environment"].items()}}


@pytest.mark.parametrize("name", CAPE_SERVICES)
def test_every_setting_in_dotenv_reaches_the_process(compose: dict[str, Any], name: str) -> None:
    # What an operator writes in `.env` (host-side names where the deployment renames one).
    dotenv = {HOST_NAMES.get(key, key): f"from-dotenv-{key.lower()}" for key in SETTINGS}
    env = container_env(compose, name, dotenv)
    missed = [
        key
        for key in SETTINGS
        if key not in FIXED and env.get(key) != dotenv[HOST_NAMES.get(key, key)]
    ]
    assert not missed, f"{name}: set in .env but not what the process gets: {missed}"
    for key in BLANKED:
        assert env[key] == "", f"{name}: {key} is not for CapeControl processes"


def test_every_setting_is_documented() -> None:
    docs = "\n".join(path.read_text() for path in DOCS)
    undocumented = [
        key
        for key in [*SETTINGS, *HOST_NAMES.values()]
        if not re.search(rf"(?<![A-Z_]){key}(?![A-Z_])", docs)
    ]
    assert not undocumented, f"settings missing from README.md and docs/*.md: {undocumented}"
    operations = (ROOT / "docs" / "operations.md").read_text()
    for key in [*FIXED, *HOST_NAMES.values(), "CAPE_TEMPORAL_UI_URL", "env_file"]:
        assert key in operations, f"docs/operations.md does not say how compose sets {key}"


def test_task_links_point_at_the_published_temporal_ui(compose: dict[str, Any]) -> None:
    for dotenv, base in [
        ({}, "http://127.0.0.1:8080"),
        ({"TEMPORAL_UI_PUBLISHED_PORT": "9090"}, "http://127.0.0.1:9090"),
        ({"CAPE_TEMPORAL_UI_URL": "https://temporal.example.com"}, "https://temporal.example.com"),
    ]:
        env = container_env(compose, "api", dotenv)
        settings = Settings(
            **{FIELD_OF[key]: value for key, value in env.items() if key in FIELD_OF}
        )
        link = settings.workflow_link("task_1")
        assert link == f"{base}/namespaces/default/workflows/task_1", (dotenv, link)
    ui = interpolate(compose["services"]["temporal-ui"])
    assert "127.0.0.1:8080:8080" in ui["ports"]


def test_cape_services_share_one_image(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name]["image"] for name in CAPE_SERVICES}
    assert len(images) == 1
    for name in CAPE_SERVICES:
        assert services[name]["build"]["context"] == "."


def test_commands_are_real_cape_subcommands(services: dict[str, dict[str, Any]]) -> None:
    commands = [exec_form(args) for keyword, args in runtime_stage() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    for name in CAPE_SERVICES:
        command = services[name]["command"]
        commands.append(shlex.split(command) if isinstance(command, str) else command)

    available = registered_cape_commands()
    used = set()
    for command in commands:
        assert command[0] == "cape", command
        assert command[1] in available, f"`cape {command[1]}` does not exist"
        used.add(command[1])
    assert {"api", "worker", "migrate"} <= used
    assert [services[name]["command"][1] for name in CAPE_SERVICES] == list(CAPE_SERVICES)


def test_documented_admin_commands_exist() -> None:
    from cli import main

    main._register()
    keys = main.cli.commands["keys"]
    assert "create" in keys.commands  # type: ignore[attr-defined]
    assert "cape keys create --owner" in (ROOT / "docs" / "operations.md").read_text()


def test_runtime_image_is_lean_and_unprivileged() -> None:
    instructions = dockerfile_instructions()
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1] for k, a in instructions if k == "ARG" and "=" in a
    }
    froms = [a.split()[0] for k, a in instructions if k == "FROM"]
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert resolved == "python:3.11-slim"

    stage = runtime_stage()
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users and users[-1] == "cape"
    assert ("WORKDIR", "/app") in stage
    runs = " ".join(args for keyword, args in stage if keyword == "RUN")
    assert "bubblewrap" in runs
    assert "--no-install-recommends" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs

    every_run = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install" in every_run
    assert "[dev]" not in every_run and "optional-dependencies" not in every_run


def test_worker_workspaces_volume_matches_data_dir(services: dict[str, dict[str, Any]]) -> None:
    env = " ".join(args for keyword, args in runtime_stage() if keyword == "ENV")
    match = re.search(r"CAPE_DATA_DIR=(\S+)", env)
    assert match, "the image sets no CAPE_DATA_DIR"
    workspaces = Settings(data_dir=Path(match.group(1))).workspace_root
    targets = [str(volume).split(":")[1] for volume in services["worker"].get("volumes", [])]
    assert str(workspaces) in targets


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", ".cape", ".env"} <= ignored


def _compose_plugin() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False, timeout=30
    )
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_is_valid() -> None:
    cli = _compose_plugin()
    if cli is None:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


SANDBOX_OPTIONS = {"apparmor=unconfined", "systempaths=unconfined", "no-new-privileges=true"}
# What bubblewrap calls to build a sandbox; the worker's profile must leave them alone.
BWRAP_SYSCALLS = {"clone", "clone3", "unshare", "mount", "umount2", "pivot_root", "prctl"}
BWRAP_SYSCALLS |= {"setresuid", "setresgid", "setgroups", "capset", "execve", "chroot"}


def test_worker_can_run_the_full_sandbox(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    options = set(worker["security_opt"])
    seccomp = [o.split("=", 1)[1] for o in options if o.startswith("seccomp=")]
    assert len(seccomp) == 1 and options >= SANDBOX_OPTIONS, options
    # compose reads the profile relative to the project directory and sends its content.
    profile = json.loads((ROOT / seccomp[0]).read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = {name for rule in profile["syscalls"] for name in rule["names"]}
    assert all(rule["action"] == "SCMP_ACT_ERRNO" for rule in profile["syscalls"])
    assert not denied & BWRAP_SYSCALLS, denied & BWRAP_SYSCALLS
    assert {"init_module", "kexec_load", "bpf", "keyctl", "open_by_handle_at"} <= denied
    assert int(worker["pids_limit"]) > 0
    assert worker["environment"]["CAPE_SANDBOX_MODE"] == "bwrap"  # refuses rather than degrades
    env = " ".join(args for keyword, args in runtime_stage() if keyword == "ENV")
    # The python image's interpreter, under the /usr the sandbox shows (no /usr/bin/python3).
    assert "CAPE_SANDBOX_PYTHON=/usr/local/bin/python3" in env


@pytest.mark.parametrize("name", ["api", "migrate"])
def test_only_the_worker_loosens_its_confinement(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    assert "security_opt" not in services[name]
    assert not services[name].get("privileged") and not services[name].get("cap_add")
