"""Temporal names: the workflow type, its handlers, search attribute keys and task queues.

Registrations (`@workflow.defn(name=...)`, `@workflow.signal(name=...)`) use these constants;
callers use the methods themselves (`client.start_workflow(AgentTaskWorkflow.run, ...)`), so a
renamed handler fails type checking instead of at run time. The values are recorded in every
history: changing one breaks the replay of running and archived tasks.
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

AGENT_TASK_WORKFLOW: Final = "AgentTaskWorkflow"
PAUSE_SIGNAL: Final = "pause"
RESUME_SIGNAL: Final = "resume"
STATE_QUERY: Final = "state"
PROVIDE_INPUT_UPDATE: Final = "provide_input"

DEFAULT_TASK_QUEUE: Final = "cape-agent-tasks"

AGENT_KEY = SearchAttributeKey.for_keyword("CapeAgent")
AGENT_VERSION_KEY = SearchAttributeKey.for_keyword("CapeAgentVersion")
OWNER_KEY = SearchAttributeKey.for_keyword("CapeOwner")
STATUS_KEY = SearchAttributeKey.for_keyword("CapeStatus")
SEARCH_ATTRIBUTE_KEYS = (AGENT_KEY, AGENT_VERSION_KEY, OWNER_KEY, STATUS_KEY)
# What a namespace must have registered, name to type (the dev server and the worker add them).
SEARCH_ATTRIBUTES = {key.name: "Keyword" for key in SEARCH_ATTRIBUTE_KEYS}


def host_queue(shared: str, host_id: str) -> str:
    """The task queue only one host's worker polls: steps that touch its workspaces."""
    return f"{shared}@{host_id}"
