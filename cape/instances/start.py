"""How an instance's workflow starts: the options every starter shares.

The call is made by reference where the workflow class may be imported: the API at creation
(`api/instances/launch.py`) and the worker's delivery of an event (`worker/instances.py`, a
signal-with-start, so an event reaches the instance even if its workflow is not running).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from cape.contracts.instances import InstanceState, instance_workflow_id
from cape.contracts.temporal import TEAM_KEY


@dataclass(frozen=True)
class InstanceStart:
    """The start of one instance's workflow."""

    state: InstanceState
    id: str
    task_queue: str
    search_attributes: TypedSearchAttributes
    summary: str
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING


def instance_start(state: InstanceState, task_queue: str) -> InstanceStart:
    """The workflow start of the instance `state` describes (a running one is used as is)."""
    config = state.config
    return InstanceStart(
        state=state,
        id=instance_workflow_id(config.team_id, config.instance_id),
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TEAM_KEY, config.team_id)]),
        summary=f"instance {config.name}: {config.agent}@{config.version_range or 'default'}",
    )
