"""How a task's workflow is started: the options every start shares (API, schedules, repair).

The call itself (`client.start_workflow(AgentTaskWorkflow.run, input, **options)`) is made by a
starter that may import the workflow class; these are the options it passes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from cape.contracts.temporal import AGENT_KEY, AGENT_VERSION_KEY, OWNER_KEY, STATUS_KEY
from cape.domain import TaskStatus

RUN_TIMEOUT = timedelta(days=7)  # a run continues as new long before; this bounds a stuck one


def queued_attributes(agent: str, owner: str, version: str | None) -> TypedSearchAttributes:
    """The search attributes of a workflow that starts a queued task.

    `version` is None for a schedule's action, which carries none (as it always did).
    """
    pairs = [SearchAttributePair(AGENT_KEY, agent)]
    if version is not None:
        pairs.append(SearchAttributePair(AGENT_VERSION_KEY, version))
    pairs += [
        SearchAttributePair(OWNER_KEY, owner),
        SearchAttributePair(STATUS_KEY, str(TaskStatus.QUEUED)),
    ]
    return TypedSearchAttributes(pairs)
