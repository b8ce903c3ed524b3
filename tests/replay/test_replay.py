"""Workflow histories replay against the current AgentTaskWorkflow (non-determinism gate).

Fresh histories of every task shape are recorded and replayed, and so is the committed corpus in
histories/ (regenerate it with `python -m tests.replay.record` after an intended change, guarding
changes to running workflows with `workflow.patched`). A deliberately changed copy of the
workflow must fail to replay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from cape.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.replay.changed_workflow import ReorderedAgentTaskWorkflow
from tests.replay.shapes import SHAPES, run_shape
from workflows.agent_task import AgentTaskWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def committed(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def activity_types(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_fresh_history_replays(
    shape: str, api: Api, worker: Worker, fake_llm: FakeLLMServer, client: Client
) -> None:
    task_id = await run_shape(api.http, fake_llm, shape)
    history = await client.get_workflow_handle(task_id).fetch_history()
    assert activity_types(history)[0] == "setup_workspace"
    assert activity_types(history)[-1] == "finish_task"
    result = await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)
    assert result.replay_failure is None


def test_the_corpus_holds_every_shape() -> None:
    assert sorted(p.stem for p in HISTORIES) == sorted(SHAPES)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path) -> None:
    history = committed(path)
    assert len(history.events) > 10
    await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)


async def test_all_committed_histories_replay_in_one_pass() -> None:
    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in HISTORIES:
            yield committed(path)

    replayer = Replayer(workflows=[AgentTaskWorkflow])
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {run_id: repr(err) for run_id, err in results.replay_failures.items()}
    assert failures == {}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_non_deterministic_change_is_detected(path: Path) -> None:
    replayer = Replayer(workflows=[ReorderedAgentTaskWorkflow])
    with pytest.raises(NondeterminismError, match=r"setup_workspace|finish_task"):
        await replayer.replay_workflow(committed(path))
