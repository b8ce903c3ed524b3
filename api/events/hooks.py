"""Webhooks: signed requests from outside systems published as events (docs/events.md).

A hook has a secret; a request is accepted when its `X-Hub-Signature-256` (GitHub's format,
`sha256=<hex HMAC-SHA256 of the raw body>`) or `X-Cape-Signature` matches. A bad or missing
signature is a 401 that records nothing. The secret is kept as is (HMAC needs it) and shown
only once, when the hook is made. A delivery id (`X-GitHub-Delivery`, `X-Cape-Delivery`)
becomes the event's dedupe_key, so a redelivery is the same event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.events.schemas import EventPublish, HookCreate, HookOut
from api.events.service import Published, publish
from cape import audit
from cape.auth import Principal
from cape.db.event_models import EventHook
from cape.errors import InvalidInput, NotFound, Unauthorized
from cape.settings import Settings

SIGNATURE_HEADERS = ("x-hub-signature-256", "x-cape-signature")
DELIVERY_HEADERS = ("x-github-delivery", "x-cape-delivery")


def hook_out(hook: EventHook, settings: Settings, secret: str | None = None) -> HookOut:
    """The API view of a hook (its secret only when just made)."""
    return HookOut(
        id=hook.id, event_type=hook.event_type, priority=hook.priority,
        url=f"{settings.base_url}/v1/hooks/{hook.id}", created_by=hook.created_by,
        created_at=hook.created_at, secret=secret,
    )  # fmt: skip


async def create_hook(
    session: AsyncSession, principal: Principal, body: HookCreate
) -> tuple[EventHook, str]:
    """Make a hook of the caller's team; returns it and its secret."""
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    hook = EventHook(
        id=f"hook_{uuid.uuid4().hex}", team_id=principal.team_id, event_type=body.event_type,
        secret=secret, priority=body.priority, created_by=principal.owner,
    )  # fmt: skip
    session.add(hook)
    audit.record(session, principal, "hook.create", "hook", hook.id, event_type=body.event_type)
    await session.commit()
    return hook, secret


async def team_hooks(session: AsyncSession, team_id: str) -> list[EventHook]:
    """The team's hooks, newest first."""
    rows = await session.scalars(
        select(EventHook).where(EventHook.team_id == team_id).order_by(EventHook.created_at.desc())
    )
    return list(rows)


async def delete_hook(session: AsyncSession, principal: Principal, hook_id: str) -> None:
    """Delete the team's hook (404 if it is not the team's)."""
    hook = await session.get(EventHook, hook_id)
    if hook is None or hook.team_id != principal.team_id:
        raise _not_found(hook_id)
    await session.delete(hook)
    audit.record(session, principal, "hook.delete", "hook", hook_id)
    await session.commit()


async def verified(
    session: AsyncSession, hook_id: str, body: bytes, headers: dict[str, str]
) -> tuple[Principal, EventPublish]:
    """The publisher and the event of a signed delivery; 401 unless the signature matches.

    An unknown hook is a 401 too, so the route reveals nothing about which hooks exist.
    """
    hook = await session.get(EventHook, hook_id)
    given = next((headers[h] for h in SIGNATURE_HEADERS if h in headers), "")
    if hook is None or not _signed(hook.secret, body, given):
        raise Unauthorized("missing or bad signature (X-Hub-Signature-256: sha256=<hex>)")
    try:
        payload: Any = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "the body is not JSON", details=[{"field": "body", "message": "not JSON"}]
        ) from None
    data = payload if isinstance(payload, dict) else {"payload": payload}
    delivery = next((headers[h] for h in DELIVERY_HEADERS if h in headers), None)
    principal = Principal(owner=hook.created_by, key_id=f"hook:{hook.id}", team_id=hook.team_id)
    event = EventPublish(
        type=hook.event_type, data=data, priority=hook.priority,
        source=f"hook:{hook.id}", dedupe_key=f"{hook.id}:{delivery[:150]}" if delivery else None,
    )  # fmt: skip
    return principal, event


async def receive(
    sessions: async_sessionmaker[AsyncSession],
    temporal: Client,
    settings: Settings,
    hook_id: str,
    body: bytes,
    headers: dict[str, str],
) -> Published:
    """Verify a delivery and publish it as the hook's event (audited as the hook's maker)."""
    async with sessions() as session:
        principal, event = await verified(session, hook_id, body, headers)
    if (context := audit.current.get()) is not None:
        context.principal = principal
    return await publish(sessions, temporal, settings, principal, event)


def _signed(secret: str, body: bytes, given: str) -> bool:
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def _not_found(hook_id: str) -> NotFound:
    return NotFound(f"hook {hook_id!r} not found", details={"hook_id": hook_id})
