"""cape.tasks: the one constructor of task rows, and the ids tasks and their artifacts get."""

from __future__ import annotations

from sqlalchemy import inspect

from cape.contracts.task_input import TaskRegistration
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.tasks.ids import fork_seed_id, new_task_id, schedule_workflow_id
from cape.tasks.rows import NewTask

FORK = NewTask(
    id="task_1", agent="assistant", agent_version="1.2.0", owner="ann", input={"prompt": "hi"},
    model="gpt-4o-mini", max_steps=7, limits={"max_steps": 7, "max_cost": 0.5},
    idempotency_key="k", parent_id="task_0", relation="fork", fork_step=3, schedule_id=None,
)  # fmt: skip


def test_a_new_row_is_queued_with_nothing_used_yet() -> None:
    row = FORK.row()
    assert row.status == TaskStatus.QUEUED
    assert row.usage == {} and row.last_seq == 0
    assert (row.parent_id, row.relation, row.fork_step) == ("task_0", "fork", 3)


def test_an_existing_row_describes_the_same_task() -> None:
    columns = [c.key for c in inspect(Task).mapper.column_attrs]
    row = FORK.row()
    again = NewTask.of(row).row()
    assert {c: getattr(again, c) for c in columns} == {c: getattr(row, c) for c in columns}


def test_ids() -> None:
    assert new_task_id("ann", "key") == new_task_id("ann", "key") != new_task_id("bob", "key")
    assert new_task_id("ann", None).startswith("task_")
    assert new_task_id("ann", None) != new_task_id("ann", None)
    assert fork_seed_id("task_" + "a" * 80) == ("seed-task_" + "a" * 80)[:64]
    assert schedule_workflow_id("nightly") == "sch-nightly"


def test_a_schedule_run_registers_the_row_its_schedule_describes() -> None:
    reg = TaskRegistration(
        owner="ann", agent="assistant", agent_version="1.2.0", model="m", max_steps=4,
        input={"prompt": "hi"}, schedule_id="nightly",
    )  # fmt: skip
    row = NewTask.registered("sch-nightly-2026", reg).row()
    assert (row.id, row.owner, row.agent, row.agent_version) == (
        "sch-nightly-2026", "ann", "assistant", "1.2.0",
    )  # fmt: skip
    assert (row.model, row.max_steps, row.input, row.schedule_id) == (
        "m",
        4,
        {"prompt": "hi"},
        "nightly",
    )
    assert row.limits is None and row.parent_id is None and row.status == TaskStatus.QUEUED
