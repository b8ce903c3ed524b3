"""Cancelling a task, also when its workflow is not running (ended unrecorded, never started)."""

from __future__ import annotations

from api.admin.reconcile import Reconcile
from cape.contracts.failures import Failure
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import Conflict
from cape.reconciliation import Action, Kind, Outcome


async def cancel_task(reconcile: Reconcile, task: Task, by: str) -> Task:
    """Cancel the open task's workflow, or bring the row into line when none runs.

    A task whose row already ended is a 409.
    Temporal accepts a cancel of a closed workflow and nothing happens, so the workflow is
    looked at first. A running one is asked to cancel (the task ends `canceled` once its step
    is interrupted). A workflow that ended (terminated in Temporal, say) gives the row its final
    status and the cancel a 409 naming it. A row whose workflow never started is started and
    canceled, so the workflow records the cancellation as usual; when it cannot start, the row
    is canceled directly (nothing ran). Returns the task as it now is.
    """
    if TaskStatus(task.status).terminal:
        raise Conflict(f"task {task.id!r} already ended as {task.status}")
    found = await reconcile.check_row(task)
    handle = reconcile.temporal.get_workflow_handle(task.id)
    if found is None:  # running: the usual case
        await handle.cancel()
        return task
    if found.kind == Kind.WORKFLOW_ENDED:
        assert found.outcome is not None
        await reconcile.repair([found])
        error = found.outcome.error or {}
        why = f": {error['message']}" if error.get("message") else ""
        raise Conflict(
            f"task {task.id!r} already ended as {found.outcome.status}{why}",
            details={"status": str(found.outcome.status), "error": found.outcome.error},
        )
    if found.action == Action.START:
        await reconcile.repair([found])
        if found.repaired:
            await handle.cancel()
            return task
    message = f"canceled by {by}; the task's workflow was not running, so nothing ran"
    outcome = Outcome(
        TaskStatus.CANCELED, "reconciled", {"type": Failure.CANCELED, "message": message}
    )
    await reconcile.record(task.id, outcome)
    async with reconcile.reads() as session:
        now = await session.get(Task, task.id, populate_existing=True)
    return now or task
