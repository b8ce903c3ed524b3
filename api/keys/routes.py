"""API keys of the caller's team (admins): list, create, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AdminDep, SessionDep, WriteSessionDep
from api.keys.schemas import KeyCreate, KeyCreated, KeyOut
from api.keys.service import create_key, list_keys, revoke_key

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("", response_model=list[KeyOut])
async def list_team_keys(session: SessionDep, principal: AdminDep) -> list[KeyOut]:
    """The team's keys, newest first: prefix, name, user, scopes, expiry; never a secret."""
    return await list_keys(session, principal)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_team_key(
    body: KeyCreate, response: Response, session: WriteSessionDep, principal: AdminDep
) -> KeyCreated:
    """A new key; its `secret` is in this response only.

    Scopes default to (and may not exceed) the calling key's own; `user_id` issues it to
    another member of the team.
    """
    created = await create_key(session, principal, body)
    response.headers["Location"] = f"/v1/keys/{created.id}"
    return created


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_team_key(key_id: str, session: WriteSessionDep, principal: AdminDep) -> KeyOut:
    """Revoke the key: the next request made with it gets 401 `API key revoked`."""
    return await revoke_key(session, principal, key_id)
