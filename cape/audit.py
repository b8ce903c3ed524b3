"""Audit entries: who changed what, from where, with what outcome.

A writing request's entry is added to the same transaction as its change (`record`). The
request's context (`RequestAudit`: the client's address, the caller once authenticated) is
set by the API's audit middleware; a write that records nothing itself (a Temporal-only change:
signals, schedules) or that fails is recorded by that middleware once the response is known
(`request_entry`), so every writing request leaves exactly one entry.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cape.auth import Principal
from cape.db.models import AuditEvent


@dataclass
class RequestAudit:
    """One request's audit context; routes and services mark it when they recorded."""

    address: str | None
    principal: Principal | None = None
    recorded: bool = False


current: ContextVar[RequestAudit | None] = ContextVar("cape_request_audit", default=None)


def record(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    resource_type: str,
    resource_id: str,
    **details: Any,
) -> None:
    """Add an entry to the session's transaction (the caller commits it with the change).

    `actor` is the caller (its team, user and key are recorded) or a system name such as
    `system`. Inside a request the client's address is recorded and the request is marked as
    audited, so the middleware adds no second entry.
    """
    context = current.get()
    if context is not None:
        context.recorded = True
    session.add(
        entry(
            actor, action, resource_type, resource_id,
            address=context.address if context else None, details=details,
        )
    )  # fmt: skip


def entry(
    actor: Principal | str,
    action: str,
    resource_type: str,
    resource_id: str,
    *,
    address: str | None,
    details: dict[str, Any],
    outcome: str = "ok",
    status_code: int | None = None,
) -> AuditEvent:
    """An audit row of `actor` (a principal or a system name)."""
    who = actor if isinstance(actor, Principal) else None
    return AuditEvent(
        team_id=who.team_id if who else None,
        actor=who.owner if who else str(actor),
        user_id=who.user_id or None if who else None,
        key_id=who.key_id or None if who else None,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        details={k: v for k, v in details.items() if v is not None},
        address=address,
        outcome=outcome,
        status_code=status_code,
    )
