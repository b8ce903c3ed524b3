"""File tools and the task's virtualenv through the real workflow."""

from __future__ import annotations

import os

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task, tool_steps


@pytest.fixture
def settings(settings: Settings) -> Settings:
    update: dict[str, object] = {"pip_allow": ["six"]}
    if os.environ.get("PIP_INDEX_URL"):
        update["pip_index_url"] = os.environ["PIP_INDEX_URL"]
    return settings.model_copy(update=update)


async def test_file_tools_edit_the_workspace_and_snapshot_it(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("write_file", path="src/app.py", content="x = 1\nprint(x)\n")]),
        Turn(tool_calls=[call("append_file", path="src/app.py", content="print('more')\n")]),
        Turn(tool_calls=[call("patch_file", path="src/app.py", edits=[{"old": "1", "new": "2"}])]),
        Turn(tool_calls=[call("write_file", path="tmp.txt", content="scratch")]),
        Turn(tool_calls=[call("delete_file", path="tmp.txt")]),
        Turn(tool_calls=[call("list_files", path=".")]),
        Turn(tool_calls=[call("read_file", path="../outside.txt")]),
        Turn(content="edited"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    workspace = settings.workspace_root / task["id"]
    assert (workspace / "src" / "app.py").read_text() == "x = 2\nprint(x)\nprint('more')\n"
    assert not (workspace / "tmp.txt").exists()
    out = results(await events_of(settings, task["id"], "tool-result"))
    assert [r["ok"] for r in out] == [True] * 6 + [False], pretty(out)
    assert "src/app.py" in out[5]["content"] and "tmp.txt" not in out[5]["content"]
    assert "outside" in out[6]["content"]

    readme = (workspace / "README.md").read_text()
    assert "step 3: write_file (ok)" in readme and "read_file (error)" in readme
    steps = await tool_steps(settings, task["id"])
    writes = [s for s in steps if s.name != "tool: list_files" and s.output.get("snapshot")]
    assert len(writes) == 5, pretty([s.output for s in steps])  # reads do not snapshot
    assert workspace.stat().st_uid == settings.sandbox_uid


async def test_pip_install_then_python_uses_the_package_in_the_task_venv(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("pip_install", packages=["requests"])]),
        Turn(tool_calls=[call("pip_install", packages=["six==1.16.0"])]),
        Turn(
            tool_calls=[call("python", code="import six, sys; print(six.__version__, sys.prefix)")]
        ),
        Turn(content="installed"),
    ]
    task = await run_task(api, fake_llm, turns, timeout=180)
    assert task["status"] == "succeeded", pretty(task)
    refused, installed, used = results(await events_of(settings, task["id"], "tool-result"))
    assert not refused["ok"] and "requests" in refused["content"], refused
    assert installed["ok"] and "exit code: 0" in installed["content"], installed
    assert "1.16.0 /workspace/.venv" in used["content"], used
    steps = await tool_steps(settings, task["id"])
    # The host fetched the wheels; the install itself ran without network, like every run.
    assert steps[1].output["isolation"]["network"] is False
    assert steps[2].output["isolation"]["network"] is False
