"""Workspace steps run on their host's queue; when that host is gone the task fails over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from cape.db.engine import create_engine
from cape.llm.providers import Providers
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, start_task, wait_task
from tests.harness import stored, wait_until
from worker.group import WorkerGroup
from worker.main import build_worker


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"host_timeout_seconds": 2.0, "artifact_dir": tmp_path / "shared-artifacts"}
    )


def on_host(settings: Settings, host: str, tmp_path: Path) -> Settings:
    """The same deployment seen from another host: its own workspaces, shared artifacts."""
    return settings.model_copy(
        update={"host_id": host, "data_dir": tmp_path / host, "artifact_dir": settings.artifact_dir}
    )


@asynccontextmanager
async def host_worker(client: Client, settings: Settings) -> AsyncIterator[WorkerGroup]:
    engine = create_engine(settings)
    provider = Providers(settings)
    try:
        async with build_worker(client, settings, engine, provider) as group:
            yield group
    finally:
        await provider.aclose()
        await engine.dispose()


async def _tool_finished(settings: Settings, task_id: str) -> bool:
    return bool(await events_of(settings, task_id, "tool-result"))


async def run_with_lost_host(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> tuple[dict[str, object], Settings]:
    """Host A writes a file, then goes away while the model thinks; B is left to carry on."""
    a, b = on_host(settings, "host-a", tmp_path), on_host(settings, "host-b", tmp_path)
    turns = [
        Turn(tool_calls=[call("write_file", path="notes/plan.md", content="step one")]),
        Turn(delay_seconds=1.0, tool_calls=[call("read_file", path="notes/plan.md")]),
        Turn(content="done"),
    ]
    async with host_worker(client, a):
        task_id = await start_task(api, fake_llm, turns)
        await wait_until(lambda: _tool_finished(settings, task_id), "host A's tool step")
    # A has stopped (after finishing the model call it was running); B starts: the read must
    # find the workspace somewhere.
    async with host_worker(client, b):
        task = await wait_task(api, task_id)
    return task, b


async def test_lost_host_restores_the_last_snapshot_on_another_host(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    task, b = await run_with_lost_host(api, client, fake_llm, settings, tmp_path)
    assert task["status"] == "succeeded", pretty(task)
    read = results(await events_of(settings, str(task["id"]), "tool-result"))[-1]
    assert read["ok"] and read["content"] == "step one", read
    restored = await events_of(settings, str(task["id"]), "workspace-restored")
    assert [e.data["lost_host"] for e in restored] == ["host-a"]
    assert restored[0].data["host"] == "host-b"
    assert (b.workspace_root / str(task["id"]) / "notes" / "plan.md").read_text() == "step one"
    steps, _ = await stored(settings, str(task["id"]))
    assert [s.name for s in steps].count("workspace: restore") == 1


async def test_lost_host_without_a_snapshot_fails_the_task_with_a_clear_error(
    api: Api, client: Client, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    no_snapshots = settings.model_copy(update={"workspace_snapshots": False})
    task, _ = await run_with_lost_host(api, client, fake_llm, no_snapshots, tmp_path)
    assert task["status"] == "failed", pretty(task)
    error = task["error"]
    assert error["type"] == "WorkspaceHostLost", error
    assert "host-a" in error["message"] and "no snapshot" in error["message"], error
