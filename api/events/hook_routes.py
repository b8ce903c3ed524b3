"""Webhook routes: make, list and delete hooks, and receive their signed deliveries."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import (
    AdminDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    WriteSessionDep,
    WriteSessionsDep,
)
from api.events.hooks import create_hook, delete_hook, hook_out, receive, team_hooks
from api.events.queries import event_out
from api.events.schemas import EventOut, HookCreate, HookOut

router = APIRouter(prefix="/hooks", tags=["events"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HookOut)
async def create(
    body: HookCreate, session: WriteSessionDep, settings: SettingsDep, principal: AdminDep
) -> HookOut:
    """Make a webhook that publishes events of `event_type`; its `secret` is shown only now."""
    hook, secret = await create_hook(session, principal, body)
    return hook_out(hook, settings, secret)


@router.get("", response_model=list[HookOut])
async def list_hooks(
    session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> list[HookOut]:
    """The team's webhooks, newest first (without their secrets)."""
    return [hook_out(h, settings) for h in await team_hooks(session, principal.team_id)]


@router.delete("/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(hook_id: str, session: WriteSessionDep, principal: AdminDep) -> Response:
    """Delete a webhook: its URL refuses deliveries from now on."""
    await delete_hook(session, principal, hook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{hook_id}", status_code=status.HTTP_202_ACCEPTED, response_model=EventOut)
async def deliver(
    hook_id: str,
    request: Request,
    response: Response,
    sessions: WriteSessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> EventOut:
    """Receive a delivery signed with the hook's secret and publish it as an event.

    No API key: the `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` header (or
    `X-Cape-Signature`) authenticates it; a bad one is a 401 and nothing is recorded. The JSON
    body becomes the event's data; a repeated `X-GitHub-Delivery` is the same event (200).
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    published = await receive(sessions, temporal, settings, hook_id, await request.body(), headers)
    if not published.created:
        response.status_code = status.HTTP_200_OK
    return event_out(published.event, duplicate=not published.created)
