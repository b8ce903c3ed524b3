"""AgentTaskWorkflow with a deliberately non-deterministic change: a different first activity.

Registered under the same workflow name, so replaying a recorded history against it must fail.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.types import FinishInput, Usage
    from workflows.agent_task import AgentTaskWorkflow
    from workflows.types import AgentTaskInput, AgentTaskResult


@workflow.defn(name="AgentTaskWorkflow")
class ReorderedAgentTaskWorkflow(AgentTaskWorkflow):
    """Schedules `finish_task` before the workspace step the recorded histories start with."""

    @workflow.run
    async def run(self, inp: AgentTaskInput) -> AgentTaskResult:
        self._input = inp
        finish = FinishInput(inp.task_id, "running", None, None, Usage())
        await self._step("finish first", "workspace", "finish_task", finish, type(None), 5.0)
        return await super().run(inp)
