"""A fresh machine: `cape dev` with no LLM provider, then the README's task commands (issue 12).

`cape dev` runs as a process with no provider setting in its environment, a new data dir and
free ports; it serves the bundled scripted LLM with the `demo` model and says so in its banner.
`cape run "hello"` and every `cape run` line of README.md's code blocks then succeed as processes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT, free_port, log_tail

START_TIMEOUT = 240.0
RUN_TIMEOUT = 240.0
FENCE = re.compile(r"^```(?:bash|sh|shell)?\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class FreshDev:
    """A running `cape dev` and what a client needs to reach it."""

    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    api_url: str

    def banner(self) -> str:
        return self.log.read_text(errors="replace")

    def cli(self, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        """`cape ARGS` as a process that finds the API and the dev key as a user's shell would."""
        env = _clean_env() | {"CAPE_API_URL": self.api_url, "CAPE_DATA_DIR": str(self.data_dir)}
        command = [sys.executable, "-m", "cli", *args]
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )


def _clean_env() -> dict[str, str]:
    # A fresh machine: no CapeControl, Temporal or provider settings at all.
    prefixes = ("CAPE_", "TEMPORAL_", "OPENAI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture(scope="module")
def fresh_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshDev]:
    data_dir = tmp_path_factory.mktemp("fresh") / "data"
    log = data_dir.parent / "cape-dev.log"
    api_port = free_port()
    options = ["--data-dir", str(data_dir), "--api-port", str(api_port)]
    options += ["--temporal-port", str(free_port()), "--no-ui"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev", *options],
            cwd=ROOT, env=_clean_env() | {"PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    dev = FreshDev(proc, log, data_dir, f"http://127.0.0.1:{api_port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "is running" not in dev.banner():
            assert proc.poll() is None, f"cape dev exited:\n{log_tail(log)}"
            assert time.monotonic() < deadline, f"cape dev did not start:\n{log_tail(log)}"
            time.sleep(0.2)
        yield dev
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_tail(log)
    assert "Traceback" not in dev.banner(), log_tail(log)


def test_cape_dev_serves_the_demo_model_and_cape_run_hello_succeeds(fresh_dev: FreshDev) -> None:
    [line] = [line for line in fresh_dev.banner().splitlines() if "Model:" in line]
    assert "demo, the bundled scripted LLM at http://127.0.0.1:" in line, line
    assert "OPENAI_API_KEY" in line  # and how to use a real model instead
    ran = fresh_dev.cli("run", "hello")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "model demo" in ran.stdout and "\nsucceeded" in ran.stdout, ran.stdout
    assert "warning" not in ran.stderr, ran.stderr


def readme_task_commands(readme: Path = ROOT / "README.md") -> list[list[str]]:
    """The `cape run` lines of the README's shell code blocks, as argument lists."""
    commands = []
    for block in FENCE.findall(readme.read_text()):
        for line in block.replace("\\\n", " ").splitlines():  # continuation lines
            words = shlex.split(line, comments=True)
            if words[:2] in (["cape", "run"], [".venv/bin/cape", "run"]):
                commands.append(words[1:])
    return commands


def test_every_readme_command_that_starts_a_task_succeeds(
    fresh_dev: FreshDev, tmp_path: Path
) -> None:
    commands = readme_task_commands()
    assert len(commands) >= 3 and any("cape-ai-guide" in c for c in commands), commands
    for args in commands:
        # The README makes the files it passes with `--file` just before (a CSV it prints).
        for name in (args[i + 1] for i, word in enumerate(args[:-1]) if word == "--file"):
            (tmp_path / name).write_text("month,sales\nJan,120\nFeb,135\n")
        ran = fresh_dev.cli(*args, cwd=tmp_path)
        assert ran.returncode == 0, (args, ran.stdout[-3000:], ran.stderr[-3000:])
        assert "\nsucceeded" in ran.stdout, (args, ran.stdout[-3000:])
