"""Request and response bodies of `/v1/session`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LoginRequest(BaseModel):
    """An API key to exchange for a session cookie."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="The API key (`cape_...`); never stored or logged.")


class Whoami(BaseModel):
    """Who the request authenticated as, and how."""

    owner: str = Field(description="The caller's user name (a JWT's subject).")
    key_id: str = Field(
        description="The API key's id, `jwt:<subject>` for a JWT, `oidc:<user>` for an OIDC login."
    )
    team_id: str = Field(description="The team whose objects the caller sees.")
    role: str = Field(description="The caller's role in that team.")
    scopes: list[str] = Field(description="What the caller may do (its scopes within its role).")
    method: Literal["api_key", "jwt", "session"]
    expires_at: str | None = Field(None, description="When the session or JWT ends (ISO 8601).")


class LoginResponse(Whoami):
    """A new session: send `csrf_token` as `X-CSRF-Token` on every state-changing request."""

    csrf_token: str
