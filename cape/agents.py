"""The built-in agent catalogue.

Issue 3 replaces this with the versioned registry; until then one general agent exists so the
loop is real: it plans with the LLM and works in its workspace with the file tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema

from cape.errors import InvalidInput, NotFound

FILE_TOOLS = (
    "write_file",
    "read_file",
    "list_files",
    "append_file",
    "delete_file",
    "patch_file",
)
CODE_TOOLS = ("shell", "python", "pip_install")
WEB_TOOLS = ("web_search", "web_fetch")
GITHUB_TOOLS = (
    "git_clone",
    "git_branch",
    "git_commit",
    "git_push",
    "github_issue",
    "github_pull_request",
)
DOCUMENT_TOOLS = ("create_pdf", "send_email")


@dataclass(frozen=True)
class AgentSpec:
    """What a task needs to know about its agent."""

    name: str
    version: str
    description: str
    system_prompt: str
    tools: tuple[str, ...]
    input_schema: dict[str, Any] = field(default_factory=dict)
    sandbox_limits: dict[str, Any] = field(default_factory=dict)  # within operator ceilings


ASSISTANT = AgentSpec(
    name="assistant",
    version="0.1.0",
    description="A general agent that works on files in its own workspace.",
    system_prompt=(
        "You are CapeControl's assistant. You work inside a private workspace directory and "
        "can write, read and list files there with your tools. Do what the user asks, keep "
        "results in files when they are longer than a paragraph, and finish with a short answer."
    ),
    tools=FILE_TOOLS,
    input_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 200_000},
            "title": {"type": "string", "maxLength": 200},
        },
    },
)

ENGINEER = AgentSpec(
    name="engineer",
    version="0.1.0",
    description=(
        "An agent with every tool: files, sandboxed shell and Python, web search and fetch, "
        "GitHub, PDF reports and email."
    ),
    system_prompt=(
        "You are CapeControl's engineer. You work in a private workspace mounted at /workspace "
        "(src/ for code, research/ for notes and sources, output/ for deliverables). Commands and "
        "Python run in a sandbox without network; install packages with pip_install (only those "
        "the operator allows). Cite the pages you fetched. Finish with a short answer that says "
        "where the results are."
    ),
    tools=FILE_TOOLS + CODE_TOOLS + WEB_TOOLS + GITHUB_TOOLS + DOCUMENT_TOOLS,
    input_schema=ASSISTANT.input_schema,
    sandbox_limits={"wall_seconds": 300, "memory_bytes": 1024 * 1024 * 1024},
)

CATALOGUE = {agent.name: agent for agent in (ASSISTANT, ENGINEER)}


def get_agent(name: str) -> AgentSpec:
    """The agent called `name`, or NotFound."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise NotFound(f"unknown agent {name!r}", details={"agent": name}) from None


def validate_input(agent: AgentSpec, data: dict[str, Any]) -> None:
    """Validate task input against the agent's JSON Schema, listing every problem by field."""
    validator = jsonschema.Draft202012Validator(agent.input_schema)
    problems = [
        {"field": _field(error), "message": error.message}
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidInput(f"invalid input for agent {agent.name!r}: {fields}", details=problems)


def _field(error: jsonschema.ValidationError) -> str:
    path = ["input", *(str(p) for p in error.absolute_path)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [name for name in error.instance if name not in known]
        path.extend(extra[:1])
    elif error.validator == "required" and isinstance(error.instance, dict):
        # A missing property has no path of its own: name it from the schema's list.
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in error.instance]
        path.extend(missing[:1])
    return ".".join(path)
