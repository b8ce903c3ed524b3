"""Delegated tasks: the guards a `delegate` call passes, then the child's row and workflow input.

Every guard reads the database, so it holds across the parent's runs (retries, continue-as-new,
a worker killed mid-call): the depth is the chain of `delegated` parents, the children are the
rows that name the parent, a cycle is an ancestor running the same agent on the same input, and
the budget left is the parent's limit minus its own usage and what its children used or may
still use (a running child's limits are reserved). A refusal is a `Refused` whose message the
model reads as the tool's error (docs/multi-agent.md#delegation).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.choose import Assignment, choose_agent
from cape.assign.event import record_assignment
from cape.auth import Principal
from cape.contracts.delegation import DELEGATED_RELATION
from cape.contracts.task_input import Alternative
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import CapeError
from cape.registry.resolve import resolve_agent
from cape.registry.spec import AgentSpec
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.tasks.delegation_args import DelegateArgs
from cape.tasks.limits import task_limits
from cape.tasks.rows import NewTask, add_task
from cape.team_limits import check_new_task

FINAL = {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.TIMED_OUT}
BUDGETS = ("max_tokens", "max_cost")


class Refused(Exception):
    """A guard refused the call: the message tells the model why (never a crashed task)."""


@dataclass(frozen=True)
class Child:
    """The delegated task: its row's description and its agent version's spec.

    `alternatives`: assigned by capability with every candidate busy, the other candidates it
    also waits for (it runs on the first that frees up, as a task created by capability).
    """

    new: NewTask
    spec: AgentSpec
    depth: int
    alternatives: list[Alternative] = field(default_factory=list)


async def create_child(
    session: AsyncSession, settings: Settings, parent: Task, args: DelegateArgs, child_id: str
) -> Child:
    """Check every guard and add the child's queued row (the caller commits).

    Raises:
        Refused: an unknown agent, a bad input, too deep, too many children, a cycle, or no
            budget left; the message names it.
    """
    chain = await ancestry(session, parent)
    depth = len(chain)  # the parent's delegated ancestors, plus the parent: the child's depth
    if depth > settings.delegation_max_depth:
        raise Refused(
            f"delegation too deep: this task is at depth {depth - 1} and the limit is "
            f"{settings.delegation_max_depth} (CAPE_DELEGATION_MAX_DEPTH); do the work yourself"
        )
    children = await delegated_children(session, parent.id)
    if len([c for c in children if c.id != child_id]) >= settings.delegation_max_children:
        raise Refused(
            f"this task already delegated {len(children)} tasks, the most one task may "
            f"(CAPE_DELEGATION_MAX_CHILDREN={settings.delegation_max_children})"
        )
    assignment = await _assign(session, parent, args) if args.capability else None
    if assignment is not None:
        args = replace(args, agent=assignment.agent)
    spec, version = await _agent(session, parent, args, assignment)
    for ancestor in chain:
        if ancestor.agent == spec.name and ancestor.input == args.input:
            raise Refused(
                f"delegation cycle: task {ancestor.id} up this chain already runs agent "
                f"{spec.name!r} with this input"
            )
    limits = _limits(settings, spec, args, await budget_left(session, parent, child_id))
    try:
        await check_new_task(session, settings, parent.team_id)
    except CapeError as exc:
        raise Refused(exc.message) from None
    new = NewTask(
        id=child_id, agent=spec.name, agent_version=version, owner=parent.owner,
        input=args.input, model=spec.model.name or settings.default_model,
        max_steps=limits["max_steps"], limits=limits, parent_id=parent.id,
        relation=DELEGATED_RELATION, team_id=parent.team_id,
    )  # fmt: skip
    details = {"limits": limits, "parent_id": parent.id, "relation": DELEGATED_RELATION,
               "depth": depth, "wait": args.wait,
               "share_workspace": args.share_workspace}  # fmt: skip
    await add_task(session, new, details)
    if assignment is None:
        return Child(new, spec, depth)
    await record_assignment(session, child_id, assignment)
    return Child(new, spec, depth, assignment.alternatives())


async def _assign(session: AsyncSession, parent: Task, args: DelegateArgs) -> Assignment:
    """The team's agent for the call's capability, chosen as for `POST /v1/tasks`."""
    assert args.capability is not None
    try:
        return await choose_agent(session, parent.team_id, args.capability, args.complexity)
    except CapeError as exc:
        raise Refused(exc.message) from None


async def _agent(
    session: AsyncSession, parent: Task, args: DelegateArgs, assignment: Assignment | None
) -> tuple[AgentSpec, str]:
    """The child's agent version (the team's default, or the assigned one), input checked."""
    assert args.agent is not None
    principal = Principal(owner=parent.owner, key_id="", team_id=parent.team_id)
    version = assignment.version if assignment is not None else None
    try:
        resolved = await resolve_agent(session, principal, args.agent, version)
        spec = resolved.spec
        problems = input_problems(spec.input_schema, args.input)
        if problems:
            said = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise Refused(f"invalid input for agent {spec.name!r}: {said}")
        spec.render_prompt(args.input)
        spec.render_locks(args.input)
    except CapeError as exc:
        raise Refused(exc.message) from None
    return spec, resolved.version


async def ancestry(session: AsyncSession, parent: Task) -> list[Task]:
    """The parent and the tasks that delegated it, up the chain (the parent first)."""
    chain, seen = [parent], {parent.id}
    task = parent
    while task.relation == DELEGATED_RELATION and task.parent_id and task.parent_id not in seen:
        up = await session.get(Task, task.parent_id)
        if up is None:
            break
        chain.append(up)
        seen.add(up.id)
        task = up
    return chain


async def delegated_children(session: AsyncSession, parent_id: str) -> list[Task]:
    """Every task `parent_id` delegated, oldest first."""
    found = await session.scalars(
        select(Task)
        .where(Task.parent_id == parent_id, Task.relation == DELEGATED_RELATION)
        .order_by(Task.created_at, Task.id)
    )
    return list(found)


def used(task: Task) -> dict[str, float]:
    """A task's tokens and cost: its final totals (its collected children too), else its steps'."""
    if task.usage and task.usage.get("total_tokens"):
        return {"max_tokens": float(task.usage["total_tokens"]),
                "max_cost": float(task.usage.get("cost_usd") or 0.0)}  # fmt: skip
    tokens = (task.prompt_tokens or 0) + (task.completion_tokens or 0)
    return {"max_tokens": float(tokens), "max_cost": float(task.cost_usd or 0.0)}


async def budget_left(
    session: AsyncSession, parent: Task, exclude: str = ""
) -> dict[str, float | None]:
    """What the parent may still give a child, per budget (None: the parent has no limit).

    Its own usage, plus each child's: a child that ended counts what it used, a running one
    the most it may use (its limit, or what it used when that is more).
    """
    spent = {
        "max_tokens": float((parent.prompt_tokens or 0) + (parent.completion_tokens or 0)),
        "max_cost": float(parent.cost_usd or 0.0),
    }
    for child in await delegated_children(session, parent.id):
        if child.id == exclude:
            continue
        child_used = used(child)
        for name in BUDGETS:
            limit = (child.limits or {}).get(name)
            if child.status not in FINAL and limit is not None:  # it may use all its limit
                spent[name] += max(float(limit), child_used[name])
            else:
                spent[name] += child_used[name]
    limits = parent.limits or {}
    left: dict[str, float | None] = {}
    for name in BUDGETS:
        limit = limits.get(name)
        left[name] = None if limit is None else float(limit) - spent[name]
    return left


def _limits(
    settings: Settings, spec: AgentSpec, args: DelegateArgs, left: dict[str, float | None]
) -> dict[str, Any]:
    """The child's limits: what it asks for, within its agent's ceilings and the parent's left."""
    asked: dict[str, int | float | None] = {"max_steps": None, "max_tokens": args.max_tokens,
                                            "max_cost": args.max_cost}  # fmt: skip
    limits, problems = task_limits(asked, spec.limits, settings)
    if problems:
        said = "; ".join(f"{p['field'].removeprefix('body.')} {p['message']}" for p in problems)
        raise Refused(f"budget refused: {said}")
    for name in BUDGETS:
        remaining = left[name]
        if remaining is None:
            continue
        if remaining <= (0 if name == "max_cost" else 1):
            raise Refused(
                f"no {name} budget left to delegate: this task and its delegated tasks have "
                f"used or reserved all of it (remaining {max(remaining, 0):g})"
            )
        wanted = limits.get(name)
        given = remaining if wanted is None else min(float(wanted), remaining)
        limits[name] = int(given) if name == "max_tokens" else round(given, 6)
    return limits
