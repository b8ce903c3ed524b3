"""Which refused updates the lock and instance services send again (`api/updates.py`)."""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.updates import UNPROCESSED, never_ran


def failed(kind: str) -> WorkflowUpdateFailedError:
    """An update failure whose cause is an application failure of type `kind`."""
    cause = ApplicationError("refused", type=kind, non_retryable=True)
    return WorkflowUpdateFailedError(cause)


def test_an_update_a_killed_worker_left_unprocessed_is_sent_again() -> None:
    # What the server answers when a worker completes a workflow task without the update.
    assert never_ran(failed(UNPROCESSED))


def test_an_update_the_workflow_refused_is_not_sent_again() -> None:
    assert not never_ran(failed("StaleToken"))
    assert not never_ran(WorkflowUpdateFailedError(RuntimeError("boom")))


def test_busy_and_aborted_updates_are_sent_again_other_rpc_errors_are_not() -> None:
    busy = RPCError(
        "limit on number of concurrent in-flight updates", RPCStatusCode.RESOURCE_EXHAUSTED, b""
    )
    aborted = RPCError("update was aborted", RPCStatusCode.UNAVAILABLE, b"")
    down = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    missing = RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
    assert never_ran(busy) and never_ran(aborted)
    assert not never_ran(down) and not never_ran(missing)
    assert not never_ran(ValueError("x"))
