"""Reading the audit trail of one team, newest first, with keyset paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.schemas import AuditEntryOut, AuditPage
from api.pagination import decode_cursor, encode_cursor
from cape.db.models import AuditEvent
from cape.errors import InvalidInput


@dataclass(frozen=True)
class AuditFilter:
    """What the caller asked for; None: any."""

    actor: str | None = None  # a user's name or id, or a key id (`jwt:<subject>` for a JWT)
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def audit_page(
    session: AsyncSession, team_id: str, wanted: AuditFilter, limit: int, cursor: str | None
) -> AuditPage:
    """A page of the team's entries matching `wanted`, newest first."""
    if wanted.since and wanted.until and wanted.since > wanted.until:
        raise InvalidInput(
            "since is after until",
            details=[{"field": "query.since", "message": "must not be after until"}],
        )
    where: list[ColumnElement[bool]] = [AuditEvent.team_id == team_id]
    if wanted.actor:
        who = wanted.actor
        where.append(
            or_(AuditEvent.actor == who, AuditEvent.user_id == who, AuditEvent.key_id == who)
        )
    if wanted.action:
        where.append(AuditEvent.action == wanted.action)
    if wanted.resource_type:
        where.append(AuditEvent.resource_type == wanted.resource_type)
    if wanted.resource_id:
        where.append(AuditEvent.resource_id == wanted.resource_id)
    if wanted.since:
        where.append(AuditEvent.ts >= wanted.since)
    if wanted.until:
        where.append(AuditEvent.ts < wanted.until)
    if cursor:
        stamp, raw_id = decode_cursor(cursor)
        if not raw_id.isdigit():
            raise InvalidInput(
                "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
            )
        last = int(raw_id)
        where.append(or_(AuditEvent.ts < stamp, and_(AuditEvent.ts == stamp, AuditEvent.id < last)))
    query = (
        select(AuditEvent)
        .where(*where)
        .order_by(AuditEvent.ts.desc(), AuditEvent.id.desc())
        .limit(limit + 1)
    )
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].ts, str(rows[-1].id)) if more and rows else None
    return AuditPage(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor)
