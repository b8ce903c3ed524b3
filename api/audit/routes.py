"""The team's audit trail (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.audit.schemas import AuditPage
from api.audit.service import AuditFilter, audit_page
from api.deps import AdminDep, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])
Text = Annotated[str | None, Query(max_length=128)]


@router.get("", response_model=AuditPage)
async def list_audit(
    session: SessionDep,
    principal: AdminDep,
    actor: Text = None,
    action: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    since: Annotated[datetime | None, Query(description="Entries at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Entries before (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    """The team's audit entries, newest first: every write, who made it, from where, its outcome.

    `actor` matches a user's name or id or a key id (`jwt:<subject>` for a JWT); `object_type`
    and `object_id` the changed object; `since`/`until` a time range. Pass `next_cursor` back
    as `cursor` for the next page.
    """
    wanted = AuditFilter(actor, action, object_type, object_id, since, until)
    return await audit_page(session, principal.team_id, wanted, limit, cursor)
