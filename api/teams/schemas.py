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
    rate_limit_rpm: int | None = Field(None, description="Own limit; null: the default.")
    max_running_tasks: int | None = Field(None, description="Own limit; null: the default.")
    daily_token_quota: int | None = Field(None, description="Own limit; null: the default.")


class TeamLimits(BaseModel):
    """The team's own limits to set: a number (0: unlimited) or null (the setting's default).

    Fields left out keep their value.
    """

    model_config = ConfigDict(extra="forbid")

    rate_limit_rpm: int | None = Field(None, ge=0, le=1_000_000)
    max_running_tasks: int | None = Field(None, ge=0, le=1_000_000)
    daily_token_quota: int | None = Field(None, ge=0)


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
