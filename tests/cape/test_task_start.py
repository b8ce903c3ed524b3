"""cape.tasks builds every task's workflow input and start options, whoever starts the task.

The API's starter, a schedule's action and the reconciler all pass these through; the payload
types they build are the ones `activities.types` and `workflows.types` name (re-exported).
"""

from __future__ import annotations

import activities.types
import workflows.types
from cape.contracts import task_input
from cape.contracts.task_input import TaskRegistration
from cape.contracts.temporal import AGENT_KEY, AGENT_VERSION_KEY, OWNER_KEY, STATUS_KEY
from cape.domain import TaskMode
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cape.tasks.rows import NewTask
from cape.tasks.start import RUN_TIMEOUT, scheduled_start, task_start
from cape.tasks.workflow_input import scheduled_input, workflow_input

SPEC = AgentSpec.model_validate(
    {
        "name": "helper",
        "version": "1.2.0",
        "description": "helps",
        "system_prompt": "You help with {{ input.prompt }}.",
        "tools": ["read_file", {"name": "shell", "approval": True}],
        "model": {"provider": "p1", "name": "m1", "fallbacks": [{"provider": "p2", "name": "m2"}]},
        "limits": {"max_steps": 9, "max_tokens": 1000, "max_cost": 0.5},
    }
)
SETTINGS = Settings(llm_timeout_seconds=3.0, retry_max_attempts=2, task_queue="q")
REG = TaskRegistration(
    owner="ann", agent="helper", agent_version="1.2.0", model="m1", max_steps=4,
    input={"prompt": "tidy up"}, schedule_id="nightly",
)  # fmt: skip


def test_the_payload_types_are_defined_once() -> None:
    for name in ("Usage", "ModelChoice", "TaskRegistration", "WorkspaceResult"):
        assert getattr(activities.types, name) is getattr(task_input, name)
    for name in ("AgentTaskInput", "ActivityTuning", "Carry"):
        assert getattr(workflows.types, name) is getattr(task_input, name)


def test_the_payload_types_decode_where_their_module_was_never_imported() -> None:
    # The workflow sandbox resolves string annotations in the declaring module's globals, which
    # it lacks when a workflow imports these through a re-export (tests/replay/changed_workflow).
    for cls in vars(task_input).values():
        if isinstance(cls, type) and cls.__module__ == task_input.__name__:
            strings = [k for k, v in cls.__annotations__.items() if isinstance(v, str)]
            assert not strings, f"{cls.__name__}: {strings} are strings"


def test_a_fork_input_carries_the_agent_version_and_starts_from_its_seed() -> None:
    new = NewTask(
        id="task_1", agent="helper", agent_version="1.2.0", owner="ann",
        input={"prompt": "tidy up"}, model="m1", max_steps=5,
        limits={"max_steps": 5, "max_tokens": 800, "max_cost": None, "timeout_seconds": 60},
        fork_step=3,
    )  # fmt: skip
    inp = workflow_input(SETTINGS, new, SPEC)
    assert (inp.task_id, inp.owner, inp.model, inp.max_steps) == ("task_1", "ann", "m1", 5)
    assert inp.system_prompt == "You help with tidy up."
    assert (inp.start_step, inp.seed) == (3, "seed-task_1")
    assert [(m.provider, m.name) for m in inp.fallbacks] == [("p2", "m2")]
    assert (inp.max_tokens, inp.max_cost, inp.timeout_seconds) == (800, None, 60)
    assert inp.approval_tools == ["shell"] and inp.mode == TaskMode.LLM
    assert inp.tuning.llm_timeout_seconds == 3.0 and inp.tuning.retry_max_attempts == 2


def test_a_task_starts_under_its_id_tagged_queued() -> None:
    new = NewTask(
        id="task_2", agent="helper", agent_version="1.2.0", owner="ann",
        input={"prompt": "tidy up"}, model="m1", max_steps=5,
    )  # fmt: skip
    start = task_start(workflow_input(SETTINGS, new, SPEC), "q")
    assert (start.id, start.task_queue, start.run_timeout) == ("task_2", "q", RUN_TIMEOUT)
    attributes = {pair.key.name: pair.value for pair in start.search_attributes}
    assert attributes == {
        AGENT_KEY.name: "helper",
        AGENT_VERSION_KEY.name: "1.2.0",
        OWNER_KEY.name: "ann",
        STATUS_KEY.name: "queued",
    }
    assert start.static_summary == "helper@1.2.0: tidy up"
    assert start.static_details == "owner: ann\nagent: helper@1.2.0\nmodel: p1/m1\n\ntidy up"


def test_a_schedule_run_registers_its_task_and_has_the_agents_budgets() -> None:
    inp = scheduled_input(SETTINGS, REG, SPEC)
    assert inp.task_id == "" and inp.registration == REG
    assert (inp.max_steps, inp.max_tokens, inp.max_cost) == (4, 1000, 0.5)
    start = scheduled_start(inp, "nightly", "q")
    assert start.id == "sch-nightly"
    attributes = {pair.key.name for pair in start.search_attributes}
    assert AGENT_VERSION_KEY.name not in attributes  # a schedule's action never carried it
    assert start.static_summary == "helper@1.2.0: tidy up (schedule nightly)"
    assert start.static_details == "owner: ann\nmodel: m1\n\ntidy up"
