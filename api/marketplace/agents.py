"""Installed packages' agents in a team's registry: their names, specs and removal.

Agent names are one namespace for every team, so an installed agent is named after its spec and
the team (`<spec name>-<6 hex of the team id>`): the same in every install into that team, so a
reinstall from a lockfile gives the same agents. Its version is the package's version, and its
spec carries the package's permissions as the sandbox enforces them: only the declared tools,
and `web_fetch` only to the declared destinations (`sandbox_limits.network_allow`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from packaging.requirements import Requirement
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.auth import Principal
from cape.db.agent_models import Agent, AgentVersion
from cape.db.models import utcnow
from cape.errors import Conflict
from cape.marketplace.manifest import Manifest
from cape.registry.spec import parse_spec
from cape.registry.store import VersionStatus, refresh, versions_of


def installed_name(team_id: str, spec_name: str) -> str:
    """The name of spec `spec_name`'s agent once installed in team `team_id`."""
    suffix = hashlib.sha256(team_id.encode()).hexdigest()[:6]
    return f"{spec_name[:57].rstrip('-')}-{suffix}"


def installed_spec(
    spec: dict[str, Any], name: str, version: str, manifest: Manifest
) -> dict[str, Any]:
    """The spec registered for an installed agent (validated again by the registry's checks)."""
    allowed = set(manifest.permissions.tools)
    data = dict(spec)
    data["name"], data["version"] = name, version
    data["tools"] = [
        t for t in spec.get("tools", []) if (t if isinstance(t, str) else t["name"]) in allowed
    ]
    limits = dict(spec.get("sandbox_limits") or {})
    limits["network_allow"] = list(manifest.permissions.network)
    limits["pip_allow"] = [Requirement(text).name for text in manifest.permissions.pip]
    limits["secrets_allow"] = list(manifest.permissions.secrets)
    data["sandbox_limits"] = limits
    return parse_spec(data, prefix=f"agents.{spec.get('name')}").to_data()


async def register(session: AsyncSession, principal: Principal, spec: dict[str, Any]) -> None:
    """Add `spec` as the published default version of the team's installed agent."""
    name, version = spec["name"], spec["version"]
    agent = await session.get(Agent, name, populate_existing=True)
    if agent is None:
        agent = Agent(
            name=name, owner=principal.owner, team_id=principal.team_id, builtin=False, tags=[]
        )
        session.add(agent)
        rows: list[AgentVersion] = []
    elif agent.builtin or agent.team_id != principal.team_id:
        raise Conflict(f"agent name {name!r} is taken", details={"agent": name})
    else:
        rows = await versions_of(session, name)
    existing = next((r for r in rows if r.version == version), None)
    if existing is None:
        row = AgentVersion(
            agent=name,
            version=version,
            status=VersionStatus.PUBLISHED,
            spec=spec,
            published_at=utcnow(),
        )
        session.add(row)
        rows.append(row)
    elif existing.spec != spec:
        raise Conflict(
            f"agent {name!r} already has a different version {version}",
            details={"agent": name, "version": version},
        )
    else:
        existing.status = VersionStatus.PUBLISHED
    agent.default_version = version
    refresh(agent, rows)


async def remove(session: AsyncSession, team_id: str, names: list[str]) -> None:
    """Delete the team's installed agents `names` and their versions (tasks keep their rows)."""
    mine = list(
        await session.scalars(
            select(Agent.name).where(Agent.name.in_(names), Agent.team_id == team_id)
        )
    )
    if mine:
        await session.execute(delete(AgentVersion).where(AgentVersion.agent.in_(mine)))
        await session.execute(delete(Agent).where(Agent.name.in_(mine)))
