"""How a task's workflow is started: the options every start shares (API, schedules, repair).

The call itself (`client.start_workflow(AgentTaskWorkflow.run, input, **options)`) is made by a
starter that may import the workflow class; these are the options it passes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from cape.domain import TaskStatus

AGENT_KEY = SearchAttributeKey.for_keyword("CapeAgent")
OWNER_KEY = SearchAttributeKey.for_keyword("CapeOwner")
STATUS_KEY = SearchAttributeKey.for_keyword("CapeStatus")
VERSION_KEY = SearchAttributeKey.for_keyword("CapeAgentVersion")
RUN_TIMEOUT = timedelta(days=7)  # a run continues as new long before; this bounds a stuck one


def queued_attributes(agent: str, owner: str, version: str | None) -> TypedSearchAttributes:
    """The search attributes of a workflow that starts a queued task.

    `version` is None for a schedule's action, which carries none (as it always did).
    """
    pairs = [SearchAttributePair(AGENT_KEY, agent)]
    if version is not None:
        pairs.append(SearchAttributePair(VERSION_KEY, version))
    pairs += [
        SearchAttributePair(OWNER_KEY, owner),
        SearchAttributePair(STATUS_KEY, str(TaskStatus.QUEUED)),
    ]
    return TypedSearchAttributes(pairs)
