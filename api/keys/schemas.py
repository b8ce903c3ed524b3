"""Request and response models of `/v1/keys`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cape.teams import Scope


class KeyOut(BaseModel):
    """A key as listed: never its secret, only the prefix that tells keys apart."""

    id: str
    prefix: str = Field(description="The first characters of the secret.")
    name: str
    team_id: str
    user_id: str
    user: str = Field(description="The name of the user the key acts as.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A new key, with its secret: shown this once, never stored."""

    secret: str


class KeyCreate(BaseModel):
    """A new key of the caller's team."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", min_length=1, max_length=128)
    scopes: list[Scope] | None = Field(
        None, description="Default: every scope the calling key may use. Never more than those."
    )
    expires_at: datetime | None = Field(None, description="When the key stops working (UTC).")
    user_id: str | None = Field(
        None, max_length=64, description="A member of the team to issue it to (default: you)."
    )
