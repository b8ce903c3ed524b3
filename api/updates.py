"""Which refused Temporal updates never ran, so the API may send them again.

A workflow update can be turned away before the workflow saw it: Temporal takes only a few
updates in flight per workflow (RESOURCE_EXHAUSTED), aborts those caught by a continue-as-new
or a failed workflow task (UNAVAILABLE), and, when a worker completes a workflow task without
taking an update it was given (a worker killed or evicted mid-task), rejects it with the
server's `UnprocessedUpdate` failure. None of these changed the workflow's state, which is why
the lock and instance services retry them for a while instead of failing the caller.
"""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

UNPROCESSED = "UnprocessedUpdate"  # the failure type the Temporal server gives such a rejection
_ABORTED = ("aborted", "could not be executed", "workflow task failure")


def never_ran(exc: BaseException) -> bool:
    """Whether `exc` refused an update before the workflow processed it (safe to resend).

    Args:
        exc: What `execute_update` (or `start_update`) raised.

    Returns:
        True for a busy workflow, an aborted update or one the worker left unprocessed.
    """
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        return isinstance(cause, ApplicationError) and cause.type == UNPROCESSED
    if isinstance(exc, RPCError):
        return exc.status == RPCStatusCode.RESOURCE_EXHAUSTED or (
            exc.status == RPCStatusCode.UNAVAILABLE
            and any(words in exc.message for words in _ABORTED)
        )
    return False
