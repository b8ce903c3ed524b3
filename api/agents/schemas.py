"""Request and response models of the agent registry routes (`/v1/agents`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPEC_DOC = (
    "An agent spec (YAML key names, as JSON): name, version, description, category, tags, "
    "goals, system_prompt, model, tools, triggers, input_schema, output_schema, limits, "
    "sandbox_limits, knowledge, config. Problems are listed by field (`spec.model.name`)."
)
SPEC_EXAMPLE = {
    "name": "release-notes",
    "version": "1.0.0",
    "description": "Writes release notes from a list of changes.",
    "tags": ["writing"],
    "system_prompt": "You write release notes for {{ input.product }}.",
    "tools": ["write_file", {"name": "send_email", "approval": True}],
    "input_schema": {
        "type": "object",
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string"}, "product": {"type": "string"}},
    },
    "limits": {"max_steps": 10, "max_tokens": 50000},
}


YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")  # accepted by import


class VersionSummary(BaseModel):
    """One version of an agent, without its spec."""

    version: str
    status: str = Field(description="draft, published, deprecated or yanked")
    status_reason: str | None = Field(None, description="Why it was deprecated or yanked.")
    successor: str | None = Field(None, description="The version to use instead.")
    created_at: datetime
    published_at: datetime | None


class AgentVersionOut(VersionSummary):
    """One version of an agent with its spec."""

    agent: str
    updated_at: datetime
    spec: dict[str, Any]
    links: dict[str, str] = Field(default_factory=dict)


class AgentSummary(BaseModel):
    """An agent in a listing."""

    name: str
    owner: str
    builtin: bool
    description: str
    category: str
    tags: list[str]
    default_version: str | None = Field(
        None, description="What a task naming no version runs: the set default, else the newest "
        "published version.",
    )  # fmt: skip
    latest: str | None = Field(None, description="The newest published version.")
    created_at: datetime
    updated_at: datetime


class AgentOut(AgentSummary):
    """An agent with its versions (drafts only for its owner)."""

    default_pinned: bool = Field(False, description="Whether the default was set explicitly.")
    versions: list[VersionSummary]
    links: dict[str, str] = Field(default_factory=dict)


class AgentCreated(BaseModel):
    """The agent and the version a create or import made."""

    agent: AgentOut
    version: AgentVersionOut


class AgentPage(BaseModel):
    """One page of agents, by name; pass `next_cursor` as `cursor` for the next."""

    items: list[AgentSummary]
    next_cursor: str | None


class DeprecateBody(BaseModel):
    """Why a version is deprecated and which version replaces it."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    successor: str | None = Field(None, min_length=1, max_length=64)


class YankBody(BaseModel):
    """Why a version is yanked (tasks naming it are refused from now on)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class DefaultBody(BaseModel):
    """The version tasks get when they name none (published or deprecated)."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)


class SchemasOut(BaseModel):
    """A version's input and output JSON Schemas."""

    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None


class TriggerOut(BaseModel):
    """A trigger of an agent: the event type and the filter on the event's data.

    With `capability` the task runs on the team's agent chosen for it, not on this one.
    """

    event: str
    filter: dict[str, Any] | None
    capability: str | None = None
    complexity: int | None = None


class TriggeredAgent(BaseModel):
    """An agent whose default version is started by an event type."""

    name: str
    version: str
    owner: str
    description: str
    triggers: list[TriggerOut]


class TriggeredAgents(BaseModel):
    """The agents an event type starts."""

    event: str
    items: list[TriggeredAgent]
