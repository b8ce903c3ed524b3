"""Changing the agent registry: create, add and replace versions, publish, deprecate, yank.

Only its team changes an agent (another team gets 404; built-ins are read-only to everyone);
every change writes an audit entry in the same transaction. Resolution for tasks lives in
`cape.registry.resolve` (the worker needs it too) and is re-exported here.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.schemas import YAML_TYPES
from cape.auth import Principal
from cape.db.agent_models import Agent, AgentVersion
from cape.db.models import utcnow
from cape.errors import Conflict, Forbidden, InvalidInput, NotFound, UnsupportedMediaType
from cape.registry.resolve import (
    ResolvedAgent,
    find_agent,
    is_mine,
    load_spec,
    resolve_agent,
    unknown_agent,
)
from cape.registry.semver import parse as parse_version
from cape.registry.spec import AgentSpec, load_yaml, parse_spec
from cape.registry.store import VersionStatus, audit, precedence, refresh, versions_of

__all__ = [
    "ResolvedAgent",
    "add_version",
    "create_agent",
    "deprecate_version",
    "load_spec",
    "publish_version",
    "replace_draft",
    "resolve_agent",
    "set_default",
    "yank_version",
]

log = structlog.get_logger(__name__)
Created = tuple[Agent, list[AgentVersion], AgentVersion]


def _check_owner(agent: Agent, principal: Principal) -> None:
    if agent.builtin:
        raise Forbidden(
            f"built-in agent {agent.name!r} is read-only", details={"agent": agent.name}
        )
    if not is_mine(agent, principal):
        raise unknown_agent(agent.name)  # another team's agent is not revealed


async def _owned(
    session: AsyncSession, principal: Principal, name: str
) -> tuple[Agent, list[AgentVersion]]:
    agent, rows = await find_agent(session, principal, name)
    _check_owner(agent, principal)
    return agent, rows


def _version(rows: list[AgentVersion], name: str, version: str) -> AgentVersion:
    for row in rows:
        if row.version == version:
            return row
    raise NotFound(
        f"agent {name!r} has no version {version}",
        details={"agent": name, "version": version, "available": [r.version for r in rows]},
    )


def _state(row: AgentVersion, action: str, allowed: tuple[VersionStatus, ...]) -> None:
    if row.status not in allowed:
        wanted = " or ".join(allowed)
        raise Conflict(
            f"cannot {action} version {row.version} of agent {row.agent!r}: it is {row.status} "
            f"(only a {wanted} version can be)",
            details={"agent": row.agent, "version": row.version, "status": row.status},
        )


def _mismatch(field: str, given: str, expected: str, what: str) -> InvalidInput:
    message = f"must be {expected!r} ({what} in the path), not {given!r}"
    return InvalidInput(
        f"invalid agent spec: {field}", details=[{"field": field, "message": message}]
    )


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        # Another request created the same agent or version between our read and write.
        await session.rollback()
        raise Conflict(
            f"agent {name!r} was changed concurrently; retry", details={"agent": name}
        ) from None


def _new_row(
    session: AsyncSession, principal: Principal, rows: list[AgentVersion], spec: AgentSpec,
    publish: bool,
) -> AgentVersion:  # fmt: skip
    wanted = parse_version(spec.version)
    for row in rows:
        if row.version == spec.version or precedence(row) == wanted:
            raise Conflict(
                f"agent {spec.name!r} already has version {row.version}; versions never change "
                "once added: pick a new version number (a draft can be replaced with PUT)",
                details={"agent": spec.name, "version": row.version},
            )
    status = VersionStatus.PUBLISHED if publish else VersionStatus.DRAFT
    row = AgentVersion(
        agent=spec.name, version=spec.version, status=status, spec=spec.to_data(),
        published_at=utcnow() if publish else None,
    )  # fmt: skip
    session.add(row)
    rows.append(row)
    audit(session, principal, "agent.version.add", spec.name, version=spec.version,
          status=str(status))  # fmt: skip
    return row


async def create_agent(
    session: AsyncSession, principal: Principal, data: Any, publish: bool
) -> Created:
    """Create an agent from a spec (or add the version to the caller's agent of that name)."""
    spec = parse_spec(data)
    agent = await session.get(Agent, spec.name, populate_existing=True)
    if agent is None:
        # No flush here: a concurrent create of the same name fails at commit, as a 409.
        agent = Agent(
            name=spec.name,
            owner=principal.owner,
            team_id=principal.team_id,
            builtin=False,
            tags=[],
        )
        session.add(agent)
        audit(session, principal, "agent.create", spec.name)
        rows: list[AgentVersion] = []
    else:
        every = await versions_of(session, spec.name)
        if not agent.builtin and not is_mine(agent, principal):
            # Agent names are one namespace for every team: say it is taken, show nothing.
            raise Conflict(f"agent name {spec.name!r} is taken", details={"agent": spec.name})
        _check_owner(agent, principal)
        rows = every
    row = _new_row(session, principal, rows, spec, publish)
    refresh(agent, rows)
    await _commit(session, spec.name)
    log.info("agent version added", agent=spec.name, version=spec.version, status=row.status)
    return agent, rows, row


async def add_version(
    session: AsyncSession, principal: Principal, name: str, data: Any, publish: bool
) -> Created:
    """Add a version (a draft, or published with `publish`) to the caller's agent `name`."""
    spec = parse_spec(data)
    if spec.name != name:
        raise _mismatch("spec.name", spec.name, name, "the agent")
    agent, rows = await _owned(session, principal, name)
    row = _new_row(session, principal, rows, spec, publish)
    refresh(agent, rows)
    await _commit(session, name)
    return agent, rows, row


async def replace_draft(
    session: AsyncSession, principal: Principal, name: str, version: str, data: Any
) -> AgentVersion:
    """Replace the spec of a draft version; 409 once it is published."""
    spec = parse_spec(data)
    if spec.name != name:
        raise _mismatch("spec.name", spec.name, name, "the agent")
    if spec.version != version:
        raise _mismatch("spec.version", spec.version, version, "the version")
    agent, rows = await _owned(session, principal, name)
    row = _version(rows, name, version)
    _state(row, "replace", (VersionStatus.DRAFT,))
    row.spec = spec.to_data()
    audit(session, principal, "agent.version.replace", name, version=version)
    refresh(agent, rows)
    await _commit(session, name)
    return row


async def publish_version(
    session: AsyncSession, principal: Principal, name: str, version: str
) -> AgentVersion:
    """Publish a draft: from now on it never changes and tasks may start on it."""
    agent, rows = await _owned(session, principal, name)
    row = _version(rows, name, version)
    _state(row, "publish", (VersionStatus.DRAFT,))
    parse_spec(row.spec)  # the checks again: a tool named by the draft may be gone by now
    row.status, row.published_at = VersionStatus.PUBLISHED, utcnow()
    audit(session, principal, "agent.version.publish", name, version=version)
    refresh(agent, rows)
    await _commit(session, name)
    return row


async def deprecate_version(
    session: AsyncSession, principal: Principal, name: str, version: str, reason: str,
    successor: str | None,
) -> AgentVersion:  # fmt: skip
    """Deprecate a published version: tasks still start on it, with a warning naming `reason`."""
    agent, rows = await _owned(session, principal, name)
    row = _version(rows, name, version)
    _state(row, "deprecate", (VersionStatus.PUBLISHED,))
    if successor is not None:
        target = next((r for r in rows if r.version == successor), None)
        why = None
        if successor == version:
            why = "a version cannot succeed itself"
        elif target is None:
            why = f"agent {name!r} has no version {successor}"
        elif target.status != VersionStatus.PUBLISHED:
            why = f"version {successor} is {target.status}; a successor must be published"
        if why is not None:
            raise InvalidInput(
                f"invalid successor: {why}", details=[{"field": "body.successor", "message": why}]
            )
    row.status, row.status_reason, row.successor = VersionStatus.DEPRECATED, reason, successor
    audit(session, principal, "agent.version.deprecate", name, version=version,
          reason=reason, successor=successor)  # fmt: skip
    refresh(agent, rows)
    await _commit(session, name)
    return row


async def yank_version(
    session: AsyncSession, principal: Principal, name: str, version: str, reason: str
) -> AgentVersion:
    """Yank a published or deprecated version: tasks naming it are refused (409) from now on."""
    agent, rows = await _owned(session, principal, name)
    row = _version(rows, name, version)
    _state(row, "yank", (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED))
    row.status, row.status_reason = VersionStatus.YANKED, reason
    cleared = agent.default_version == version
    if cleared:
        agent.default_version = None  # the default falls back to the newest published version
    audit(session, principal, "agent.version.yank", name, version=version, reason=reason,
          default_cleared=cleared or None)  # fmt: skip
    refresh(agent, rows)
    await _commit(session, name)
    return row


async def set_default(
    session: AsyncSession, principal: Principal, name: str, version: str
) -> tuple[Agent, list[AgentVersion]]:
    """Make `version` (published or deprecated) what tasks naming no version run."""
    agent, rows = await _owned(session, principal, name)
    row = _version(rows, name, version)
    _state(row, "make the default", (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED))
    agent.default_version = version
    audit(session, principal, "agent.default", name, version=version)
    refresh(agent, rows)
    await _commit(session, name)
    return agent, rows


async def read_yaml_spec(request: Request) -> dict[str, Any]:
    """The spec a YAML body holds; 415 for another media type, 422 for text that is not UTF-8.

    YAML errors give their line and column.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES:
        raise UnsupportedMediaType(
            f"send the spec as YAML with Content-Type application/yaml, not {media or 'none'!r}",
            details={"accepted": list(YAML_TYPES)},
        )
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the body is not UTF-8 text", details=[{"field": "body", "message": "not UTF-8"}]
        ) from None
    return load_yaml(text)
