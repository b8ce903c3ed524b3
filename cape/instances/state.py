"""An instance's row and its workflow's state: the first state of a run, the copy of a save."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from cape.contracts.instances import Counters, InstanceConfig, InstanceState, InstanceStatus
from cape.db.instance_models import AgentInstance
from cape.settings import Settings


def config_of(row: AgentInstance, settings: Settings) -> InstanceConfig:
    """The workflow's configuration of the instance `row`, timeouts from `settings`."""
    return InstanceConfig(
        team_id=row.team_id, instance_id=row.id, name=row.name, agent=row.agent,
        version_range=row.version_range, owner=row.created_by,
        max_concurrent=row.max_concurrent, failure_limit=row.failure_limit,
        heartbeat_seconds=settings.instance_heartbeat_seconds,
        history_limit=settings.instance_history_limit,
    )  # fmt: skip


def initial_state(row: AgentInstance, settings: Settings) -> InstanceState:
    """The state a (re)started instance workflow begins with, from its row.

    Used at creation and by a signal-with-start that finds no running workflow: a stopped
    row starts a run that ends at once, an error or a pause is kept.
    """
    counters = Counters(**{k: int(v) for k, v in (row.counters or {}).items()})
    return InstanceState(
        config=config_of(row, settings),
        paused=row.state == InstanceStatus.PAUSED,
        stopped=row.state == InstanceStatus.STOPPED,
        error=row.last_error if row.state == InstanceStatus.ERROR else None,
        counters=counters,
        agent_version=row.agent_version,
        version=row.version,
    )


def copy_state(row: AgentInstance, state: InstanceState, inbox_length: int = -1) -> None:
    """Write the workflow's `state` onto its row (`inbox_length` -1: the inbox is whole)."""
    row.state = state.status.value
    row.counters = asdict(state.counters)
    row.inbox_length = len(state.inbox) if inbox_length < 0 else inbox_length
    row.current_tasks = [asdict(r) for r in state.running]
    row.last_error = state.error
    row.agent_version = state.agent_version
    row.version = state.version


def stamp(at: datetime) -> str:
    """An ISO 8601 time as the workflow's state keeps it."""
    return at.isoformat()
