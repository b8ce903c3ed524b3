"""Sandboxed tools through the real workflow: happy paths, then abuse that must be contained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task, tool_steps
from tests.harness import stored


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small ceilings: the abuse tests hit them within seconds.
    return settings.model_copy(
        update={
            "sandbox_max_wall_seconds": 4.0,
            "sandbox_max_idle_seconds": 3.0,
            "sandbox_max_cpu_seconds": 2,
            "sandbox_max_memory_mb": 128,
            "sandbox_max_pids": 64,
            # The product's default: output floods delay heartbeats on a loaded machine past
            # the suite's 2 s, and a retried abuse step would run again instead of being reported.
            "heartbeat_timeout_seconds": 10.0,
        }
    )


async def test_shell_and_python_run_in_the_sandbox_and_stream_their_output(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(
            tool_calls=[
                call("shell", command="echo hello > output/hi.txt && cat output/hi.txt && id -u")
            ]
        ),
        Turn(tool_calls=[call("python", code="import sys; print('py', sys.version_info[0])")]),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)

    out = results(await events_of(settings, task["id"], "tool-result"))
    assert [r["ok"] for r in out] == [True, True], pretty(out)
    assert "hello" in out[0]["content"] and str(settings.sandbox_uid) in out[0]["content"]
    assert "py 3" in out[1]["content"]

    hi = settings.workspace_root / task["id"] / "output" / "hi.txt"
    assert hi.read_text() == "hello\n"
    assert hi.stat().st_uid == settings.sandbox_uid

    deltas = await events_of(settings, task["id"], "tool-output-delta")
    assert "hello" in "".join(e.data["text"] for e in deltas)
    steps = await tool_steps(settings, task["id"])
    assert all(s.output["isolation"]["level"] == "bwrap" for s in steps), pretty(
        [s.output for s in steps]
    )
    listed = (await api.http.get(f"/v1/tasks/{task['id']}/artifacts")).json()
    names = [a["name"] for a in listed["items"]] if isinstance(listed, dict) else listed
    assert any("shell" in str(n) for n in names), pretty(listed)


ABUSE = {
    "fork bomb": "bomb() { bomb | bomb & }; bomb",
    "memory hog": 'python3 -c "x = bytearray(1 << 30); print(len(x))"',
    "cpu spin": "python3 -c 'while True: pass'",
    "endless output": "yes cape",
    "left running": "(sleep 1000 &) ; sleep 1000",
    "read secrets": "cat /etc/shadow; cat /root/.bashrc; env",
    "network": "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"",
    "write outside": "echo x > /usr/evil; echo x > /etc/evil; echo x > /tmp/evil; ls /tmp",
}


@pytest.mark.parametrize("attack", list(ABUSE))
async def test_abuse_is_contained_and_reported_while_the_task_goes_on(
    attack: str, api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    os.environ["CAPE_TEST_SECRET"] = "hunter2"  # visible to the worker, must not be inside
    turns = [
        Turn(tool_calls=[call("shell", command=ABUSE[attack])]),
        Turn(tool_calls=[call("shell", command="echo still-alive")]),
        Turn(content="contained"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    first, second = results(await events_of(settings, task["id"], "tool-result"))
    assert "still-alive" in second["content"]
    text = first["content"]
    assert "hunter2" not in text and "root:" not in text
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists()
    assert not Path("/tmp/evil").exists()
    assert len(text) <= settings.tool_output_chars + 500
    if attack in {"fork bomb", "memory hog", "cpu spin", "endless output", "left running"}:
        assert "exit" in text.lower() or "killed" in text.lower() or "timeout" in text.lower(), text
    if attack == "network":
        assert "unreachable" in text.lower() or "error" in text.lower(), text
    # Nothing the command started outlives the step.
    survivors = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_sleeper(p)]
    assert not survivors, survivors


def _is_sleeper(proc: Path) -> bool:
    try:
        return (proc / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"1000"]
    except OSError:
        return False


async def test_unknown_tool_and_bad_arguments_are_tool_errors_the_model_sees(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("format_disk"), call("shell", cmd="ls")]),
        Turn(content="ok"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    # Results are recorded as the calls finish, not in call order: match them by call id.
    found = results(await events_of(settings, task["id"], "tool-result"))
    unknown, bad = sorted(found, key=lambda r: str(r["id"]))
    assert not unknown["ok"] and "format_disk" in unknown["content"], unknown
    assert not bad["ok"] and "command" in bad["content"], bad


async def test_assistant_cannot_use_tools_outside_its_spec(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [Turn(tool_calls=[call("shell", command="echo hi")]), Turn(content="ok")]
    task = await run_task(api, fake_llm, turns, agent="assistant")
    (result,) = results(await events_of(settings, task["id"], "tool-result"))
    assert not result["ok"] and "not available to this agent" in result["content"], result
    _, events = await stored(settings, task["id"])
    assert not [e for e in events if e.type == "tool-output-delta"]
