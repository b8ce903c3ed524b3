"""B19: a task never shows the worker's host paths or host name, wherever clients or the model look.

The task's tools fail and succeed (git_clone of a missing repository and of a real one, file
tools, shell, python, git_commit outside a repository, create_pdf of a missing file); its steps,
events, artifacts and API answers are then searched for the data dir (and so every workspace
path) and the host names.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.harness import read_sse, stored
from tests.tools.git_server import GitServer

TOKEN = "ghp_HostPathsT0ken0000000000000000000000"


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", TOKEN) as server:
        server.create_repo("acme/widget", {"README.md": "# widget\n"})
        yield server


@pytest.fixture(params=["auto", "unsafe-rlimits"])
def settings(settings: Settings, git_server: GitServer, request: pytest.FixtureRequest) -> Settings:
    """The default host id (the host name); also the opt-in unsafe degraded sandbox (host paths)."""
    assert settings.host_id == socket.gethostname()
    return settings.model_copy(
        update={"github_git_url": git_server.url, "sandbox_mode": request.param}
    )


def leaks(text: str, settings: Settings, tmp_path: Path) -> list[str]:
    """The host paths and host names `text` contains."""
    found = [p for p in {str(tmp_path), str(tmp_path.resolve())} if p in text]
    for name in {settings.host_id, socket.gethostname()}:
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text):
            found.append(name)
    return found


TURNS = [
    Turn(tool_calls=[call("git_clone", repo="acme/missing")]),
    Turn(tool_calls=[call("git_clone", repo="acme/widget")]),
    Turn(tool_calls=[call("git_clone", repo="acme/widget")]),  # the target is not empty
    Turn(tool_calls=[call("read_file", path="nope/missing.txt")]),
    Turn(tool_calls=[call("write_file", path="src/fail.py", content="open('no-such-file')\n")]),
    Turn(tool_calls=[call("python", file="src/fail.py")]),
    Turn(tool_calls=[call("python", code="import os; print(os.getcwd(), os.path.abspath('x'))")]),
    Turn(tool_calls=[call("shell", command="pwd; echo $HOME; ls no-such-dir; hostname")]),
    Turn(tool_calls=[call("list_files", path="src")]),
    Turn(tool_calls=[call("delete_file", path="src")]),
    Turn(tool_calls=[call("git_commit", dir="src", message="not a repository")]),
    Turn(tool_calls=[call("create_pdf", output="out.pdf", source_file="missing.md")]),
    Turn(content="done"),
]


async def test_no_host_path_or_host_name_reaches_steps_events_or_the_api(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    task = await run_task(api, fake_llm, TURNS, timeout=180)
    assert task["status"] == "succeeded", pretty(task)
    task_id = task["id"]
    out = results(await events_of(settings, task_id, "tool-result"))
    oks = [r["ok"] for r in out]
    # The messages still say where things are, as the task sees them.
    assert "pwd" not in out[7]["content"] and "/workspace\n/workspace\n" in out[7]["content"]
    # git and python need the full sandbox's /workspace mount (the unsafe mode runs them in the
    # host directory, which the sandbox user cannot reach under pytest's 0700 tmp dir).
    if settings.sandbox_mode == "auto":
        assert oks == [False, True, False, False, True, True, True, True, True, False, False, False]
        assert "cannot clone acme/missing into 'src/missing'" in out[0]["content"], out[0]
        assert "/workspace /workspace/x" in out[6]["content"], out[6]

    steps, events = await stored(settings, task_id)
    # A failed call's error object has its type apart: no "ToolError: error: ..." anywhere.
    errors = [s.error["message"] for s in steps if s.kind == "tool" and s.error]
    assert errors and not [e for e in errors if e.startswith("error: ")], errors
    texts = {
        "steps": pretty([(s.input, s.output, s.error) for s in steps]),
        "events": pretty([e.data for e in events]),
    }
    http = api.http
    for path in ("", "/steps", "/artifacts"):
        answer = await http.get(f"/v1/tasks/{task_id}{path}")
        assert answer.status_code == 200, answer.text
        texts[f"GET {path or '/'}"] = answer.text
    texts["SSE"] = pretty(await read_sse(http, f"/v1/tasks/{task_id}/events"))
    for artifact in (await http.get(f"/v1/tasks/{task_id}/artifacts")).json():
        if artifact["name"].endswith(".log"):
            body = await http.get(artifact["download_url"])
            texts[artifact["name"]] = body.text
    found = {where: leaks(text, settings, tmp_path) for where, text in texts.items()}
    assert not any(found.values()), (found, texts)
