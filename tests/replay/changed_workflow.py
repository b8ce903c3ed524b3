"""AgentTaskWorkflow with a deliberately non-deterministic change: a different first activity.

Registered under the same workflow name, so replaying a recorded history against it must fail.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.task import TaskActivities
    from activities.types import FinishInput, Usage
    from cape.contracts.temporal import AGENT_TASK_WORKFLOW
    from cape.domain import TaskStatus
    from workflows.agent_task import AgentTaskWorkflow
    from workflows.types import AgentTaskInput, AgentTaskResult


@workflow.defn(name=AGENT_TASK_WORKFLOW)
class ReorderedAgentTaskWorkflow(AgentTaskWorkflow):
    """Schedules `finish_task` before the workspace step the recorded histories start with."""

    @workflow.run
    async def run(self, inp: AgentTaskInput) -> AgentTaskResult:
        self._input = inp
        finish = FinishInput(inp.task_id, TaskStatus.RUNNING, None, None, Usage())
        await self._step("finish first", TaskActivities.finish_task, finish, 5.0)
        return await super().run(inp)
