"""The tool contract: a spec (JSON-Schema'd input, risk class, where it runs) and a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

if TYPE_CHECKING:
    from activities.channels import Messenger
    from cape.artifacts import ArtifactStore
    from cape.contracts.channels import ChannelMessage
    from cape.sandbox.launcher import Sandbox
    from cape.settings import Settings


class ToolError(Exception):
    """A tool failure the model should see and can correct (bad path, blocked URL, timeout)."""


class Risk(StrEnum):
    """How much harm a call can do; approval policies (issue 3) key on it."""

    READ = "read"  # reads the workspace only
    WRITE = "write"  # changes the workspace
    EXECUTE = "execute"  # runs code in the sandbox
    NETWORK = "network"  # reads from the internet
    EXTERNAL = "external"  # acts on the world: sends mail, pushes code


class Placement(StrEnum):
    """Where a tool runs: on the host that holds the workspace, or on any worker."""

    WORKSPACE = "workspace"
    PLATFORM = "platform"


@dataclass
class ToolOutput:
    """A successful call: what the model sees, plus records kept on the task."""

    content: str
    # Extra events for the task's log, e.g. ("citation", {...}), ("web-search", {...}).
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Artifact ids this call stored (full output logs, rendered PDFs...).
    artifacts: list[str] = field(default_factory=list)
    # Sandbox isolation achieved, for sandboxed tools.
    isolation: dict[str, Any] | None = None


# (task id, dedupe key, type, data, priority) -> {"event_id", "depth", "created"}
EventPublisher = Callable[[str, str, str, dict[str, Any], str], Awaitable[dict[str, Any]]]


class ToolContext:
    """What a handler may use: the workspace, the sandbox, artifacts, settings, output events."""

    def __init__(
        self,
        *,
        task_id: str,
        step_no: int,
        workspace: Path,
        settings: Settings,
        sandbox: Sandbox,
        artifacts: ArtifactStore,
        emit_output: Callable[[str], Awaitable[None]],
        limits: dict[str, Any] | None = None,
        publish_event: EventPublisher | None = None,
        env: dict[str, str] | None = None,
        messenger: Messenger | None = None,
        messages: list[ChannelMessage] | None = None,
    ) -> None:
        self.task_id = task_id
        self.step_no = step_no
        self.workspace = workspace
        self.settings = settings
        self.sandbox = sandbox
        self.artifacts = artifacts
        self.emit_output = emit_output  # streams a `tool-output-delta` event
        self.limits = limits or {}  # the agent's sandbox limit overrides
        self.publish_event = publish_event  # given by the worker (worker/events.py)
        self.env = env or {}  # extra variables of sandboxed programs (`CAPE_LOCK_FENCES`)
        self.messenger = messenger  # send_message (activities/channels.py), given by the worker
        self.messages = messages  # read_messages: what the workflow's inbox handed this step


Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolOutput]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model and the operator see it."""

    name: str
    description: str
    parameters: dict[str, Any]
    risk: Risk
    placement: Placement
    handler: Handler
    # Runs code or programs on data the agent controls: refused where the sandbox cannot
    # isolate (no bubblewrap, see `cape.sandbox.degraded`) unless the operator opted out.
    needs_isolation: bool = False

    def openai_schema(self) -> dict[str, Any]:
        """The `tools=[...]` entry for the chat completions API."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def validate(self, args: Any) -> dict[str, Any]:
        """Check `args` against the JSON Schema; the error names every bad field."""
        if not isinstance(args, dict):
            raise ToolError("arguments must be a JSON object")
        validator = jsonschema.Draft202012Validator(self.parameters)
        problems = sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
        if problems:
            parts = []
            for error in problems:
                where = ".".join(str(p) for p in error.absolute_path) or "arguments"
                parts.append(f"{where}: {error.message}")
            raise ToolError("invalid arguments: " + "; ".join(parts))
        return args
