"""Audit entries: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cape.auth import Principal
from cape.db.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    resource_type: str,
    resource_id: str,
    **details: Any,
) -> None:
    """Add an entry to the session's transaction (the caller commits it with the change).

    `actor` is the caller (its team and key are recorded) or a system name such as `system`.
    """
    if isinstance(actor, Principal):
        details = {**details, "key_id": actor.key_id}
    session.add(
        AuditEvent(
            team_id=actor.team_id if isinstance(actor, Principal) else None,
            actor=actor.owner if isinstance(actor, Principal) else actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            details={k: v for k, v in details.items() if v is not None},
        )
    )
