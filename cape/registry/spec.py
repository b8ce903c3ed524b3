"""The agent spec (issue 3 contract): the pydantic model, its parser and its YAML form.

The model checks structure (types, unknown keys, bounds); `parse_spec` adds what can only be
checked against the world at publish time (semver, the Jinja template, JSON Schemas, known tool
names, fallbacks) and reports every problem at once by dotted field. Stored specs are loaded
with `AgentSpec.model_validate` so a tool retired later does not make old versions unreadable.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cape.contracts.locks import valid_resource
from cape.errors import InvalidInput
from cape.registry.checks import (
    LOCK_TEMPLATES,
    TEMPLATES,
    semantic_problems,
    validation_problems,
)
from cape.safe_text import check_text

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
EVENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
TRIGGER_PATTERN = r"^[A-Za-z0-9*][A-Za-z0-9._:/*-]{0,127}$"  # an event type, `*` a wildcard
PROVIDER_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
CAPABILITY_PATTERN = r"^[a-z](?:[a-z0-9-]{0,62}[a-z0-9])?$"
MAX_CAPABILITIES = 32
COMPLEXITY_MIN, COMPLEXITY_MAX = 1, 10

Tag = Annotated[str, Field(min_length=1, max_length=64)]
Goal = Annotated[str, Field(min_length=1, max_length=1000)]
LockName = Annotated[str, Field(min_length=1, max_length=500)]
Capability = Annotated[str, Field(pattern=CAPABILITY_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelChoice(_Strict):
    """A provider and model name; name "" means the operator's default model."""

    provider: str = Field("default", pattern=PROVIDER_PATTERN)
    name: str = Field("", max_length=256)


class ModelSpec(ModelChoice):
    """The model an agent runs on, the ones to fall back to, and call options."""

    fallbacks: list[ModelChoice] = Field(default_factory=list, max_length=8)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)


class ToolRef(_Strict):
    """A tool the agent may call; `approval` makes every call wait for a person."""

    name: str = Field(min_length=1, max_length=64)
    approval: bool = False

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Trigger(_Strict):
    """An event type that starts the agent (docs/events.md).

    `event` may end in or contain `*` (`alert.*`); `filter` maps dotted paths of the event's
    data to the value wanted (a list: any of them); `input` maps the event to the agent's
    input (strings are Jinja templates over `event`); `priority` overrides the event's.
    `capability` (and `complexity`, 1-10, only with it) starts the task on the team's agent
    the assigner chooses for it instead of on the trigger's own agent
    (docs/events.md#triggers-by-capability).
    """

    event: str = Field(pattern=TRIGGER_PATTERN)
    filter: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    priority: Literal["critical", "high", "normal", "low"] | None = None
    debounce_seconds: int | None = Field(None, ge=1, le=86_400)
    # Tasks of this trigger with the same rendered key run one at a time (a Jinja template
    # over `event`; the lock `concurrency:<agent>:<event>:<key>`).
    concurrency_key: str | None = Field(None, min_length=1, max_length=500)
    capability: Capability | None = None
    complexity: int | None = Field(None, ge=COMPLEXITY_MIN, le=COMPLEXITY_MAX)


class Limits(_Strict):
    """Ceilings of one task of the agent: a task may ask for less, never more."""

    max_steps: int = Field(20, ge=1, le=10_000)
    max_tokens: int | None = Field(None, ge=1)
    max_cost: float | None = Field(None, gt=0)
    timeout_seconds: int | None = Field(None, ge=1)


class SandboxLimits(_Strict):
    """The agent's sandbox limits for tool runs (the operator's ceilings still apply)."""

    wall_seconds: float | None = Field(None, gt=0)
    idle_seconds: float | None = Field(None, gt=0)
    cpu_seconds: int | None = Field(None, ge=1)
    memory_bytes: int | None = Field(None, ge=1)
    pids: int | None = Field(None, ge=1)
    file_size_bytes: int | None = Field(None, ge=1)
    open_files: int | None = Field(None, ge=1)
    # Hosts `web_fetch` and `research` may reach (`*.example.com` for subdomains); None: any
    # public host. Installed marketplace agents get their package's declared destinations.
    network_allow: list[Annotated[str, Field(min_length=1, max_length=253)]] | None = Field(
        None, max_length=64
    )
    # Packages `pip_install` may install, within the operator's CAPE_PIP_ALLOW; None: any of
    # those. Installed marketplace agents get their package's declared `pip` packages.
    pip_allow: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=64
    )
    # The operator's secrets (`GITHUB_TOKEN`) its tools may use; None: every one configured.
    # Installed marketplace agents get their package's declared `secrets`.
    secrets_allow: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=32
    )


class ComplexityRange(_Strict):
    """The task complexities (1-10) the agent takes when assigned by capability."""

    min: int = Field(COMPLEXITY_MIN, ge=COMPLEXITY_MIN, le=COMPLEXITY_MAX)
    max: int = Field(COMPLEXITY_MAX, ge=COMPLEXITY_MIN, le=COMPLEXITY_MAX)

    @model_validator(mode="after")
    def _ordered(self) -> ComplexityRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self

    def contains(self, complexity: int | None) -> bool:
        """Whether a task of `complexity` fits (no complexity fits every range)."""
        return complexity is None or self.min <= complexity <= self.max


class KnowledgeSpec(_Strict):
    """Retrieval over the project's docs for the agent."""

    source: Literal["docs"] = "docs"
    top_k: int = Field(5, ge=1, le=50)


class AgentSpec(_Strict):
    """One version of an agent, as written in YAML or JSON (field order = YAML key order)."""

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(max_length=64)
    description: str = Field("", max_length=2000)
    category: str = Field("general", pattern=SLUG_PATTERN)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    goals: list[Goal] = Field(default_factory=list, max_length=32)
    system_prompt: str = Field(min_length=1, max_length=200_000)
    model: ModelSpec = Field(default_factory=ModelSpec)
    tools: list[ToolRef] = Field(default_factory=list, max_length=64)
    triggers: list[Trigger] = Field(default_factory=list, max_length=32)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    limits: Limits = Field(default_factory=Limits)
    sandbox_limits: SandboxLimits | None = None
    knowledge: KnowledgeSpec | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    # Resources each task holds while it runs, templates over `input` (docs/locks.md).
    locks: list[LockName] = Field(default_factory=list, max_length=16)
    max_concurrent: int | None = Field(None, ge=1, le=10_000)  # running tasks of the agent
    # What tasks may be assigned to it by (docs/multi-agent.md#assignment-by-capability).
    capabilities: list[Capability] = Field(default_factory=list, max_length=MAX_CAPABILITIES)
    complexity: ComplexityRange = Field(default_factory=ComplexityRange)

    @field_validator("capabilities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # a repeated capability says nothing more

    @property
    def tool_names(self) -> list[str]:
        """The names of the agent's tools, in spec order."""
        return [tool.name for tool in self.tools]

    @property
    def approval_tools(self) -> list[str]:
        """The tools whose calls wait for approval."""
        return [tool.name for tool in self.tools if tool.approval]

    @property
    def tool_limits(self) -> dict[str, Any] | None:
        """The sandbox limits that are set, as the worker's overrides (None when there are none)."""
        if self.sandbox_limits is None:
            return None
        return self.sandbox_limits.model_dump(exclude_none=True) or None

    def render_prompt(self, input: dict[str, Any]) -> str:
        """The system prompt rendered with `input`, `agent` (name, version) and `config`.

        Undefined names render as "" so optional input fields need no guards; a template that
        fails (sandbox violation, bad filter use) is an InvalidInput naming `spec.system_prompt`.
        """
        try:
            template = TEMPLATES.from_string(self.system_prompt)
            return template.render(
                input=input,
                agent={"name": self.name, "version": self.version},
                config=self.config,
            )
        except Exception as exc:  # the sandbox raises SecurityError; filters raise anything
            message = f"the system prompt failed to render: {type(exc).__name__}: {exc}"
            raise InvalidInput(
                message, details=[{"field": "spec.system_prompt", "message": message}]
            ) from None

    def render_locks(self, input: dict[str, Any]) -> list[str]:
        """The resource names of `locks:` rendered like the system prompt, with `input`.

        A template that fails, renders empty or to an invalid resource name is an InvalidInput
        naming `spec.locks.<i>`.
        """
        names, problems = [], []
        for index, source in enumerate(self.locks):
            field = f"spec.locks.{index}"
            try:
                name = LOCK_TEMPLATES.from_string(source).render(
                    input=input, agent={"name": self.name, "version": self.version},
                    config=self.config,
                ).strip()  # fmt: skip
            except Exception as exc:  # the sandbox raises SecurityError; filters raise anything
                message = f"the lock {source!r} failed to render: {exc}"
                problems.append({"field": field, "message": message})
                continue
            if not valid_resource(name):
                why = "renders empty" if not name else f"renders {name[:250]!r}, not"
                message = (
                    f"the lock {source!r} {why} a resource name (1-200 letters, digits and "
                    "._:@+=-, starting with a letter or digit) for this input"
                )
                problems.append({"field": field, "message": message})
                continue
            names.append(name)
        if problems:
            fields = ", ".join(p["field"] for p in problems)
            raise InvalidInput(f"the agent's locks do not render: {fields}", details=problems)
        return names

    def to_data(self) -> dict[str, Any]:
        """The spec as JSON data in YAML key order, unset optional parts left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("locks"):
            data.pop("locks", None)  # specs from before `locks:` keep their exact form
        if not data.get("capabilities"):
            data.pop("capabilities", None)  # so do specs without capabilities
        if data.get("complexity") == ComplexityRange().model_dump():
            data.pop("complexity", None)
        data["tools"] = [
            tool if tool.get("approval") else tool["name"] for tool in data.get("tools", [])
        ]
        return data


def parse_spec(data: Any, prefix: str = "spec") -> AgentSpec:
    """Validate spec data; InvalidInput lists every problem by dotted field (`spec.model.name`)."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "an agent spec must be a mapping",
            details=[{"field": prefix, "message": "expected a mapping of spec fields"}],
        )
    spec: AgentSpec | None = None
    problems: list[dict[str, str]] = []
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, prefix))
    problems.extend(semantic_problems(data, prefix))
    if problems or spec is None:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise InvalidInput(f"invalid agent spec: {fields}", details=problems)
    return spec


def load_yaml(text: str, field: str = "body") -> dict[str, Any]:
    """Parse YAML text into a mapping; InvalidInput gives the line and column of a syntax error."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        message = f"invalid YAML{where}: {problem}"
        raise InvalidInput(message, details=[{"field": field, "message": message}]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        message = f"expected a YAML mapping of spec fields, got {kind}"
        raise InvalidInput(message, details=[{"field": field, "message": message}])
    check_text(data, field, "invalid YAML")  # YAML escapes can spell "\0" and "\ud800"
    return data


class _BlockDumper(yaml.SafeDumper):
    """Block style, with multi-line strings as literal `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_yaml(spec: AgentSpec) -> str:
    """The spec as YAML in the contract's key order, block style."""
    return yaml.dump(
        spec.to_data(),
        Dumper=_BlockDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
