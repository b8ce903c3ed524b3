"""Running a package's test cases: real tasks of the publisher's team on the scripted model.

At publish, in the transaction that stores the version, each test case becomes a queued task
(`cape.tasks.rows.add_task`) of the package's agent as it would be installed in the
publisher's team (`<spec>-<6 hex>` of the team's test namespace, registered in its registry
with the package's permissions enforced), on the operator's `marketplace_test_model`. The
committed rows are the outbox: the workflows are started after the commit, and a start that
fails is finished by the reconciler like any task's. The version's report keeps each case's
task id; its outcome is read from the task row whenever the version is shown
(`cape.marketplace.cases`), so a version whose cases still run shows `pending`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.marketplace.agents import installed_name, installed_spec, register
from api.tasks.launch import start_workflow
from cape.auth import Principal
from cape.db.market_models import PackageVersion
from cape.db.models import Task
from cape.marketplace.cases import TaskResult, cases_of, skipped_step, started_step
from cape.marketplace.manifest import Manifest
from cape.registry.spec import AgentSpec, parse_spec
from cape.registry.validate import input_problems
from cape.settings import Settings
from cape.tasks.ids import new_task_id
from cape.tasks.limits import task_limits
from cape.tasks.rows import NewTask, add_task

log = structlog.get_logger(__name__)


@dataclass
class Queued:
    """The test step of the report and the tasks to start once the version is committed."""

    step: dict[str, Any]
    starts: list[tuple[NewTask, AgentSpec]] = field(default_factory=list)


def test_agent_name(team_id: str, spec_name: str) -> str:
    """The registry name a package's agent runs its test cases as, in the publisher's team."""
    return installed_name(f"{team_id}:package-tests", spec_name)


async def queue_cases(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    manifest: Manifest,
    agents: list[dict[str, Any]],
) -> Queued:
    """Add each test case's task (queued) and its agent to the session; nothing is started."""
    if not manifest.tests:
        return Queued(skipped_step("the package has no test cases"))
    model = settings.marketplace_test_model
    if not model:
        return Queued(skipped_step("no test model is configured (CAPE_MARKETPLACE_TEST_MODEL)"))
    specs: dict[str, AgentSpec] = {}
    for data in agents:
        name = test_agent_name(principal.team_id, data["name"])
        registered = installed_spec(data, name, manifest.version, manifest)
        await register(session, principal, registered)
        specs[data["name"]] = parse_spec(registered)
    queued = Queued(started_step([], model))
    for index, case in enumerate(manifest.tests):
        spec = specs[case.agent]
        entry: dict[str, Any] = {"index": index, "agent": case.agent, "input": case.input,
                                 "expect_contains": case.expect_contains}  # fmt: skip
        problems = input_problems(spec.input_schema, case.input, f"manifest.tests.{index}.input")
        if problems:
            entry["invalid"] = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            queued.step["cases"].append(entry)
            continue
        asked: dict[str, int | float | None] = {"max_steps": settings.marketplace_test_max_steps}
        limits, _ = task_limits(asked, spec.limits, settings)
        key = f"package-test:{manifest.name}@{manifest.version}#{index}"
        new = NewTask(
            id=new_task_id(principal.team_id, key), agent=spec.name, agent_version=spec.version,
            owner=principal.owner, team_id=principal.team_id, input=case.input, model=model,
            max_steps=limits["max_steps"], limits=limits, idempotency_key=key,
        )  # fmt: skip
        await add_task(session, new, {"limits": limits, "package_test": key})
        entry["task_id"] = new.id
        queued.step["cases"].append(entry)
        queued.starts.append((new, spec))
    return queued


async def start_cases(temporal: Client, settings: Settings, queued: Queued) -> None:
    """Start the committed test tasks; one that does not start is left to the reconciler."""
    for new, spec in queued.starts:
        try:
            async with asyncio.timeout(settings.workflow_start_timeout_seconds):
                await start_workflow(temporal, settings, new, spec)
        except (RPCError, RuntimeError, TimeoutError) as exc:
            log.warning("package test not started; the reconciler starts it", task_id=new.id,
                        error=str(exc))  # fmt: skip


async def case_tasks(session: AsyncSession, rows: list[PackageVersion]) -> dict[str, TaskResult]:
    """The task rows of the versions' test cases, by task id (any team: only outcomes shown)."""
    ids = [str(c["task_id"]) for r in rows for c in cases_of(r.scan_report) if c.get("task_id")]
    if not ids:
        return {}
    found = await session.execute(
        select(Task.id, Task.status, Task.output, Task.error).where(Task.id.in_(ids))
    )
    return {tid: TaskResult(status, output, error) for tid, status, output, error in found.all()}
