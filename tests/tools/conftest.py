"""Tool tests: a real database with a task row, a real artifact store and a real sandbox.

`tool_context` gives a ToolContext for one test's task; `emitted` collects the output deltas
the handler streamed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from activities.tools.base import ToolContext
from cape.artifacts import ArtifactStore
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings


@dataclass
class ToolRig:
    """One test's task, workspace and context factory."""

    settings: Settings
    task_id: str
    workspace: Path
    store: ArtifactStore
    sandbox: Sandbox
    emitted: list[str] = field(default_factory=list)

    def context(self, step_no: int = 1, limits: dict[str, Any] | None = None) -> ToolContext:
        async def emit(text: str) -> None:
            self.emitted.append(text)

        return ToolContext(
            task_id=self.task_id,
            step_no=step_no,
            workspace=self.workspace,
            settings=self.settings,
            sandbox=self.sandbox,
            artifacts=self.store,
            emit_output=emit,
            limits=limits,
        )


@pytest.fixture
def tool_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings with a private data dir; tests override tool knobs with `model_copy`."""
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
async def rig(tool_settings: Settings) -> AsyncIterator[ToolRig]:
    """A task row, its workspace (owned by the sandbox user) and a ToolContext factory."""
    engine = create_engine(tool_settings)
    sessions = session_factory(engine)
    task_id = f"tool-{uuid.uuid4().hex[:12]}"
    async with sessions.begin() as session:
        session.add(
            Task(
                id=task_id,
                agent="test",
                agent_version="0",
                owner="test",
                team_id="team_test",
                status="running",
                input={},
                model="test",
                max_steps=1,
            )
        )
    workspace = tool_settings.workspace_root / task_id
    workspace.mkdir(parents=True)
    sandbox = Sandbox(tool_settings)
    sandbox.prepare_workspace(workspace)
    yield ToolRig(
        tool_settings,
        task_id,
        workspace,
        ArtifactStore(sessions, tool_settings.artifact_root),
        sandbox,
    )
    await engine.dispose()
