"""API keys: creation and lookup. Only a key's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cape.db.models import ApiKey

KEY_PREFIX = "cape_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the owner every task and audit entry is attributed to."""

    owner: str
    key_id: str


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, owner: str, name: str = "default", key: str | None = None
) -> str:
    """Store a new key for `owner` and return its secret (shown once).

    Passing `key` registers a known secret (the dev key `cape dev` keeps across restarts);
    registering it again is a no-op.
    """
    secret = key or KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(secret)
    if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest)) is None:
        session.add(
            ApiKey(
                id=str(uuid.uuid4()), prefix=secret[:12], key_hash=digest, owner=owner, name=name
            )
        )
        await session.commit()
    return secret


async def authenticate(session: AsyncSession, key: str) -> Principal | None:
    """The principal of an active key, or None."""
    row = await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
    return Principal(owner=row.owner, key_id=row.id) if row else None
