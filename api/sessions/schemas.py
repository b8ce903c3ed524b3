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

    owner: str = Field(description="Whose tasks the caller sees (a JWT's team claim).")
    key_id: str = Field(description="The API key's id, or `jwt:<subject>` for a JWT.")
    method: Literal["api_key", "jwt", "session"]
    expires_at: str | None = Field(None, description="When the session or JWT ends (ISO 8601).")


class LoginResponse(Whoami):
    """A new session: send `csrf_token` as `X-CSRF-Token` on every state-changing request."""

    csrf_token: str
