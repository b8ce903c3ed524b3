"""Delegation: the activities' inputs and results of a task that starts tasks (docs/multi-agent.md).

A `delegate` tool call runs in the workflow: `prepare_delegation` checks the guards and creates
the child's row and input, the workflow starts the child as a child workflow, and
`collect_child` writes the tool's result (the child's answer, or that it was started) once the
child ended. Plain dataclasses (no `from __future__ import annotations`, see `task_input.py`):
field names never change, new fields get defaults.
"""

from dataclasses import dataclass, field
from typing import Final

from cape.contracts.task_input import AgentTaskInput, Usage, WorkspaceResult

DELEGATED_RELATION: Final = "delegated"  # a child task's `relation`
DELEGATE_TOOL: Final = "delegate"
AWAIT_TOOL: Final = "await_task"
DELEGATION_TOOLS: Final = (DELEGATE_TOOL, AWAIT_TOOL)
PREPARE_DELEGATION_ACTIVITY: Final = "prepare_delegation"
COLLECT_CHILD_ACTIVITY: Final = "collect_child"


@dataclass
class DelegateInput:
    """A `delegate` call to check and, when the guards allow it, turn into a child task."""

    task_id: str  # the parent
    step_no: int  # the tool step of the call
    call_id: str
    arguments: str  # the model's JSON text
    workspace: WorkspaceResult  # the parent's, shared with a `share_workspace` child


@dataclass
class DelegatePrepared:
    """The child to start (`input`), or why not (`error`, already the step's tool result)."""

    error: str | None = None
    child_id: str = ""
    agent: str = ""
    wait: bool = True
    input: AgentTaskInput | None = None
    team_id: str = ""


@dataclass
class CollectInput:
    """Write the tool result of a child: `started` (no wait), `wait` (it ended) or `await`."""

    task_id: str  # the parent
    step_no: int  # the tool step that gets the result
    call_id: str
    child_id: str
    mode: str  # started | wait | await | denied (a person refused the delegate call)
    arguments: str = ""  # await_task's own call (its step starts here)
    timeout_seconds: float = 0.0  # how long `await` waits for the child to end
    ended: str | None = None  # how the child workflow ended, when its row may not say
    refused: str | None = None  # the call's arguments are wrong: this is the tool's error


@dataclass
class ChildOutcome:
    """The tool result, and the child's usage when this call collected it (added once)."""

    ok: bool
    content: str
    child_id: str = ""
    status: str = ""  # the child's status ("" when the call failed before finding it)
    usage: Usage = field(default_factory=Usage)
    collected: bool = False  # the child ended: its usage counts in the parent's
