"""Every `cape` command starts without loading the SDKs only `cape dev` and the servers need.

The CLI's client commands (`cape tasks ls`, `cape agents ...`) run as short processes, many times
in the test suite: loading the openai SDK, SQLAlchemy and the Temporal SDK for them tripled their
start-up time. Checked by module, not by clock.
"""

from __future__ import annotations

import subprocess
import sys

from tests.harness import ROOT

HEAVY = ("openai", "sqlalchemy", "temporalio")


def test_registering_every_command_loads_no_heavy_sdk() -> None:
    code = (
        "import sys\n"
        "from cli.main import _register\n"
        "_register()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    for command in ("dev", "worker", "api", "migrate", "fake-llm", "tasks", "agents", "doctor"):
        assert f"  {command} " in done.stdout, done.stdout
