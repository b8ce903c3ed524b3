"""Temporal names as plain strings: the workflow type, its handlers, search attributes, queues.

Registrations (`@workflow.defn(name=...)`, `@workflow.signal(name=...)`) use these constants;
callers use the methods themselves (`client.start_workflow(AgentTaskWorkflow.run, ...)`), so a
renamed handler fails type checking instead of at run time. The values are recorded in every
history: changing one breaks the replay of running and archived tasks. This module imports no
SDK, so settings and the CLI can read it without loading Temporal (`temporal.py` adds the typed
search attribute keys).
"""

from __future__ import annotations

from typing import Final

AGENT_TASK_WORKFLOW: Final = "AgentTaskWorkflow"
PAUSE_SIGNAL: Final = "pause"
RESUME_SIGNAL: Final = "resume"
STATE_QUERY: Final = "state"
PROVIDE_INPUT_UPDATE: Final = "provide_input"
# A message from another task of the delegation tree (cape/contracts/channels.py).
MESSAGE_SIGNAL: Final = "receive_message"

DEFAULT_TASK_QUEUE: Final = "cape-agent-tasks"

AGENT_ATTRIBUTE: Final = "CapeAgent"
AGENT_VERSION_ATTRIBUTE: Final = "CapeAgentVersion"
OWNER_ATTRIBUTE: Final = "CapeOwner"
STATUS_ATTRIBUTE: Final = "CapeStatus"
TEAM_ATTRIBUTE: Final = "CapeTeam"  # the team id: set at start, never changed
# What a namespace must have registered, name to type (the dev server and the worker add them).
SEARCH_ATTRIBUTES: Final = {
    name: "Keyword"
    for name in (
        AGENT_ATTRIBUTE,
        AGENT_VERSION_ATTRIBUTE,
        OWNER_ATTRIBUTE,
        STATUS_ATTRIBUTE,
        TEAM_ATTRIBUTE,
    )
}


def host_queue(shared: str, host_id: str) -> str:
    """The task queue only one host's worker polls: steps that touch its workspaces."""
    return f"{shared}@{host_id}"
