"""The start form: one labelled control per property of the agent's input JSON Schema.

The browser's script turns the controls back into JSON by their `data-type` and posts it to
`POST /v1/tasks`, which validates it against the same schema (its 422 names the field). With
files chosen it posts multipart instead (the task as JSON in `task`, one `file` part each), and
the API checks them against the limits the form states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.agents.queries import AgentFilter, search_agents
from api.agents.schemas import AgentSummary
from cape.auth import Principal
from cape.registry.resolve import find_agent, spec_of
from cape.registry.store import default_row
from cape.settings import Settings

LONG_TEXT = {"prompt", "text", "question", "task", "description", "body", "content"}


@dataclass(frozen=True)
class Field:
    """One form control: its name, label, HTML control and how to read it back."""

    name: str
    label: str
    control: str  # text | textarea | number | checkbox | select | json
    data_type: str  # string | integer | number | boolean | json
    required: bool
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (JSON value, label) of an `enum`
    default: str = ""


def _field(name: str, prop: dict[str, Any], required: bool) -> Field:
    kind = prop.get("type", "string")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    label = str(prop.get("title") or name.replace("_", " ").capitalize())
    help_text = str(prop.get("description", ""))
    default = prop.get("default")
    if "enum" in prop:
        return Field(name, label, "select", "json", required, help_text,
                     tuple((json.dumps(v), v if isinstance(v, str) else json.dumps(v))
                           for v in prop["enum"]),
                     json.dumps(default) if default is not None else "")  # fmt: skip
    if kind == "boolean":
        return Field(name, label, "checkbox", "boolean", required, help_text,
                     default="true" if default else "")  # fmt: skip
    if kind in ("integer", "number"):
        shown = "" if default is None else str(default)
        return Field(name, label, "number", kind, required, help_text, default=shown)
    if kind == "string":
        long = name in LONG_TEXT or (prop.get("maxLength") or 1000) > 200
        shown = "" if default is None else str(default)
        return Field(name, label, "textarea" if long else "text", "string", required, help_text,
                     default=shown)  # fmt: skip
    shown = "" if default is None else json.dumps(default, indent=2)
    help_text = help_text or f"JSON ({kind})"
    return Field(name, label, "json", "json", required, help_text, default=shown)


def schema_fields(schema: dict[str, Any]) -> list[Field]:
    """The controls of an object schema; a schema without properties gets one JSON box."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [Field("", "Input (JSON object)", "json", "whole", True, default="{}")]
    required = set(schema.get("required") or [])
    return [_field(name, prop if isinstance(prop, dict) else {}, name in required)
            for name, prop in properties.items()]  # fmt: skip


@dataclass(frozen=True)
class FileLimits:
    """The limits `POST /v1/tasks` puts on a task's files, stated next to the file field."""

    count: int
    file_mb: int
    total_mb: int

    @classmethod
    def of(cls, settings: Settings) -> FileLimits:
        """The limits of `settings` (the total is also bounded by the workspace quota)."""
        total = min(settings.task_files_max_mb, settings.workspace_quota_mb)
        return cls(settings.task_files_max_count, settings.artifact_max_upload_mb, total)


@dataclass(frozen=True)
class StartForm:
    """The agents to pick from, the one picked, its default version and its controls."""

    agents: list[AgentSummary]
    agent: str
    version: str
    fields: list[Field]
    files: FileLimits


async def start_form(
    session: AsyncSession, settings: Settings, principal: Principal, agent: str
) -> StartForm:
    """The form for `agent` (the first startable agent when empty); NotFound if not visible."""
    page = await search_agents(session, principal, AgentFilter(), 100, None)
    startable = [a for a in page.items if a.default_version]
    name = agent or (startable[0].name if startable else "")
    limits = FileLimits.of(settings)
    if not name:
        return StartForm(startable, "", "", [], limits)
    found, rows = await find_agent(session, principal, name)
    row = default_row(found, rows)
    if row is None:
        return StartForm(startable, name, "", [], limits)
    fields = schema_fields(spec_of(row).input_schema)
    return StartForm(startable, name, row.version, fields, limits)
