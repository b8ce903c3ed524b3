"""cape-ai-guide's parts: its spec, its retrieval answers and the answer_from_docs activity.

The guide through the real workflow and API comes with the registry wiring; here the activity
runs in a real worker against a real task row, through a one-activity probe workflow.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.guide import GuideActivities
from activities.types import RetrievalInput, RetrievalResult, StepRef
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task, TaskEvent, TaskStep
from cape.kb import FORMATS, retrieval_answer
from cape.registry.spec import AgentSpec, load_yaml, parse_spec
from cape.registry.validate import input_problems
from cape.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = ROOT / "cape" / "registry" / "builtin" / "cape-ai-guide.yaml"


@pytest.fixture(scope="module")
def spec() -> AgentSpec:
    return parse_spec(load_yaml(SPEC_FILE.read_text()))


def test_the_spec_follows_the_contract(spec: AgentSpec) -> None:
    # 1.0.1: a resource may be a section of README.md, which the index now holds; 1.1.0:
    # it declares its capabilities.
    assert (spec.name, spec.version, spec.category) == ("cape-ai-guide", "1.1.0", "guide")
    assert spec.tool_names == ["docs_search"] and spec.approval_tools == []
    assert spec.knowledge is not None
    assert (spec.knowledge.source, spec.knowledge.top_k) == ("docs", 5)
    assert spec.limits.max_steps == 6
    assert spec.tags and spec.goals
    assert spec.output_schema is not None
    assert spec.output_schema["required"] == ["answer", "confidence", "resources"]


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"query": "How do I approve a tool call?"}, []),
        (
            {"query": "q", "context": {"page": "tasks", "user_level": "expert"}, "format": "code"},
            [],
        ),
        ({}, ["input.query"]),
        ({"query": ""}, ["input.query"]),
        ({"query": "x" * 2001}, ["input.query"]),
        ({"query": "q", "format": "poem"}, ["input.format"]),
        ({"query": "q", "context": {"user_level": "guru"}}, ["input.context.user_level"]),
        ({"query": "q", "context": {"theme": "dark"}}, ["input.context.theme"]),
        ({"query": "q", "prompt": "p"}, ["input.prompt"]),
    ],
)
def test_the_input_schema(spec: AgentSpec, data: dict[str, Any], fields: list[str]) -> None:
    assert [p["field"] for p in input_problems(spec.input_schema, data)] == fields


def test_the_prompt_uses_the_input(spec: AgentSpec) -> None:
    prompt = spec.render_prompt(
        {"query": "How do I fork?", "context": {"page": "tasks", "user_level": "beginner"},
         "format": "checklist"}
    )  # fmt: skip
    assert "The question: How do I fork?" in prompt
    assert "on this page of CapeControl: tasks" in prompt
    assert "The reader's level: beginner. Explain terms" in prompt
    assert "Shape `answer` as checklist: a Markdown checklist" in prompt
    assert "call docs_search" in prompt and "exactly one JSON object" in prompt
    bare = spec.render_prompt({"query": "How do I fork?"})
    assert "on this page" not in bare
    assert "The reader's level: intermediate." in bare
    assert "Shape `answer` as text:" in bare


@pytest.mark.parametrize("format", FORMATS)
def test_retrieval_answers_match_the_output_schema(spec: AgentSpec, format: str) -> None:
    assert spec.output_schema is not None
    validator = jsonschema.Draft202012Validator(spec.output_schema)
    queries = ("how do I approve a tool call", "zebra giraffe quux", "where my github token goes")
    paths = []
    for query in queries:
        out = retrieval_answer(query, {"user_level": "beginner"}, format, 5)
        validator.validate(out)
        for resource in out["resources"]:  # every link points at a real section
            file, _, anchor = resource["path"].partition("#")
            assert (ROOT / file).is_file() and anchor
            paths.append(resource["path"])
    assert "README.md#configuration" in paths


# --- the activity in a real worker ----------------------------------------------------------


@workflow.defn(sandboxed=False)
class GuideProbe:
    """Runs answer_from_docs once, as AgentTaskWorkflow does (three attempts allowed)."""

    @workflow.run
    async def run(self, inp: RetrievalInput) -> RetrievalResult:
        return await workflow.execute_activity_method(
            GuideActivities.answer_from_docs,
            inp,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=0.2), maximum_attempts=3),
        )


class Rig:
    def __init__(self, env: WorkflowEnvironment, settings: Settings, queue: str) -> None:
        self.env, self.settings, self.queue = env, settings, queue
        self.task_id = f"guide-{uuid.uuid4().hex[:12]}"

    async def run(self, inp: RetrievalInput) -> RetrievalResult:
        return await self.env.client.execute_workflow(
            GuideProbe.run, inp, id=f"{self.task_id}-{uuid.uuid4().hex[:6]}", task_queue=self.queue
        )

    async def stored(self) -> tuple[list[TaskStep], list[TaskEvent]]:
        engine = create_engine(self.settings)
        try:
            async with session_factory(engine)() as session:
                steps = await session.scalars(
                    select(TaskStep).where(TaskStep.task_id == self.task_id)
                )
                events = await session.scalars(
                    select(TaskEvent)
                    .where(TaskEvent.task_id == self.task_id)
                    .order_by(TaskEvent.seq)
                )
                return list(steps), list(events)
        finally:
            await engine.dispose()


@pytest.fixture
async def rig(
    temporal_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[Rig]:
    """A task row and a worker running GuideProbe with GuideActivities on the real docs."""
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    rig = Rig(temporal_env, settings, f"guide-{uuid.uuid4().hex[:12]}")
    engine = create_engine(settings)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        session.add(
            Task(id=rig.task_id, agent="cape-ai-guide", agent_version="1.1.0", owner="test",
                 team_id="team_test", status="running", input={"query": "q"}, model="",
                 max_steps=6, usage={}, last_seq=0)
        )  # fmt: skip
    guide = GuideActivities(sessions)
    async with Worker(
        temporal_env.client,
        task_queue=rig.queue,
        workflows=[GuideProbe],
        activities=[guide.answer_from_docs],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield rig
    await engine.dispose()


def _ref(rig: Rig, step_no: int) -> StepRef:
    return StepRef(rig.task_id, step_no, "retrieval: docs", "retrieval")


async def test_the_activity_answers_and_records_its_step(rig: Rig) -> None:
    inp = RetrievalInput(
        _ref(rig, 2), "how do I approve a tool call", {"user_level": "expert"}, "steps", 3
    )
    result = await rig.run(inp)
    out = result.output
    assert out == retrieval_answer(
        "how do I approve a tool call", {"user_level": "expert"}, "steps", 3
    )
    assert out["mode"] == "retrieval" and out["answer"].startswith("Based on “")
    assert out["resources"][0]["path"].endswith("#approvals")
    assert len(out["resources"]) == 3

    [step], events = await rig.stored()
    assert (step.step_no, step.name, step.kind, step.status) == (
        2,
        "retrieval: docs",
        "retrieval",
        "succeeded",
    )
    assert step.input == {
        "query": "how do I approve a tool call",
        "context": {"user_level": "expert"},
        "format": "steps",
        "top_k": 3,
    }
    assert step.output == out
    assert [(e.channel, e.type) for e in events] == [
        ("lifecycle", "step-started"),
        ("messages", "assistant-message"),
        ("lifecycle", "step-finished"),
    ]
    assert events[1].data == {"content": out["answer"], "mode": "retrieval"}
    assert all(e.step_no == 2 for e in events)

    # The same step run again (a retry after its result was lost) returns what was stored.
    again = await rig.run(inp)
    assert again.output == out
    assert len((await rig.stored())[1]) == 3


async def test_nothing_relevant_is_an_answer_not_a_failure(rig: Rig) -> None:
    result = await rig.run(RetrievalInput(_ref(rig, 2), "zebra giraffe quux"))
    assert result.output["confidence"] == 0.0
    assert "found nothing relevant" in result.output["answer"]


async def test_bad_input_fails_the_step_without_retries(rig: Rig) -> None:
    with pytest.raises(WorkflowFailureError) as raised:
        await rig.run(RetrievalInput(_ref(rig, 2), "budgets", format="poem"))
    cause = raised.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "InvalidInput" and cause.cause.non_retryable
    [step], events = await rig.stored()
    assert (step.status, step.attempt) == ("failed", 1)
    assert step.error is not None and step.error["details"][0]["field"] == "input.format"
    assert [e.type for e in events] == ["step-started", "step-failed"]
