"""Request and response models of `/v1/teams` and `/v1/teams/{id}/members`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cape.teams import SLUG_PATTERN, Role


class TeamOut(BaseModel):
    """A team and the caller's role in it."""

    id: str
    slug: str
    name: str
    created_at: datetime
    role: str = Field(description="The caller's role: owner, admin, member or viewer.")


class TeamCreate(BaseModel):
    """A new team; its creator becomes its owner."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=f"^{SLUG_PATTERN}$", description="Unique, lower case, never reused.")
    name: str | None = Field(None, min_length=1, max_length=128)


class OwnerKey(BaseModel):
    """The first key of a new team (its creator's, every scope): the secret is shown once."""

    id: str
    prefix: str
    scopes: list[str]
    secret: str


class TeamCreated(BaseModel):
    """The new team, and a key to act in it."""

    team: TeamOut
    key: OwnerKey


class MemberOut(BaseModel):
    """A member of the team."""

    user_id: str
    user: str
    email: str | None
    role: str
    created_at: datetime


class MemberAdd(BaseModel):
    """A user to add (created when no user has this name yet) and the role they get."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=128, description="The user's name.")
    email: str | None = Field(None, max_length=256)
    role: Role = Role.MEMBER


class MemberPatch(BaseModel):
    """A member's new role."""

    model_config = ConfigDict(extra="forbid")

    role: Role
