"""The degraded sandbox (no bubblewrap) through a real task: tools that run code are refused.

Without namespaces nothing keeps one task from another, from the app's files or from loopback
(see `cape.sandbox.degraded`), so `shell`, `python`, `pip_install` and the git tools must not
run at all: the model reads why and what the operator can do, and the canary files the commands
would have created never appear. `unsafe-rlimits`, the operator's explicit opt-out, runs them.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from temporalio.worker import Worker

from cape.sandbox import probe
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task, tool_steps
from tests.harness import log_tail, spawn, stop_process, wait_until

REFUSED = "refused: this worker cannot isolate commands"


@pytest.fixture(params=["rlimits", "auto without bwrap", "unsafe-rlimits"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    settings: Settings, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    if mode == "auto without bwrap":
        empty = tmp_path / "no-bwrap-here"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))  # the probe finds no bwrap, as on a bare host
        monkeypatch.setattr(probe, "_cache", {})
        return settings.model_copy(update={"sandbox_mode": "auto"})
    return settings.model_copy(update={"sandbox_mode": mode})


async def test_tools_that_run_code_are_refused_in_the_degraded_mode(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, mode: str, tmp_path: Path
) -> None:
    outside = tmp_path / "canary-outside"
    shell = f"touch canary-shell {outside}; echo ran"
    turns = [
        Turn(tool_calls=[call("shell", command=shell)]),
        Turn(tool_calls=[call("python", code="open('canary-python', 'w').write('x')")]),
        Turn(tool_calls=[call("pip_install", packages=["six"])]),
        Turn(tool_calls=[call("git_commit", dir=".", message="m")]),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    out = results(await events_of(settings, task["id"], "tool-result"))
    workspace = settings.workspace_root / task["id"]

    if mode == "unsafe-rlimits":  # the opt-out runs them, uncontained: the canary proves it
        assert out[0]["ok"] and "ran" in out[0]["content"], pretty(out)
        assert (workspace / "canary-shell").exists()
        steps = await tool_steps(settings, task["id"])
        assert steps[0].output["isolation"]["level"] == "rlimits"
        return

    assert [r["ok"] for r in out] == [False] * 4, pretty(out)
    for result in out:
        message = result["content"]
        assert message.startswith(f"error: {REFUSED}"), message
        assert "CAPE_SANDBOX_MODE=unsafe-rlimits" in message and "docs/security.md" in message
        assert "user namespaces" in message and "NOT contained" in message
    why = "sandbox_mode is rlimits" if mode == "rlimits" else "bwrap is not installed"
    assert why in out[0]["content"], out[0]["content"]
    # Nothing ran: no canary, no venv, no output log artifact.
    assert not outside.exists()
    assert not (workspace / "canary-shell").exists() and not (workspace / "canary-python").exists()
    assert not (workspace / ".venv").exists()
    assert await events_of(settings, task["id"], "tool-output-delta") == []
    assert all(not s.output.get("artifacts") for s in await tool_steps(settings, task["id"]))


async def test_the_worker_warns_at_start(settings: Settings, mode: str, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    proc = spawn("worker", settings, log)  # logs warnings and errors only

    async def warned() -> bool:
        await asyncio.sleep(0)
        return "tool sandbox degraded" in log_tail(log, 20000)

    try:
        await wait_until(warned, "the worker's sandbox warning", limit=90, every=0.2)
    finally:
        stop_process(proc, signal.SIGTERM)
    text = log_tail(log, 20000)
    if mode == "unsafe-rlimits":
        assert "WITHOUT containment" in text, text
    else:
        assert "will be refused" in text and "docs/security.md" in text, text
