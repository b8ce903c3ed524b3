"""The agent spec: every problem listed by field, prompts, YAML round trips, the built-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cape.errors import InvalidInput
from cape.registry.builtin import BUILTIN_DIR, load_builtin_specs
from cape.registry.output_binding import bind_output_schema
from cape.registry.spec import AgentSpec, dump_yaml, load_yaml, parse_spec
from cape.registry.validate import input_problems

# The former hard-coded catalogue (cape/agents.py before the registry): the built-in YAML files
# must keep it exactly, or the recorded workflow histories would no longer replay.
FILE_TOOLS = ("write_file", "read_file", "list_files", "append_file", "delete_file", "patch_file")
PROMPT_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 200_000},
        "title": {"type": "string", "maxLength": 200},
    },
}
FORMER = {
    "assistant": {
        "description": "A general agent that works on files in its own workspace.",
        "system_prompt": (
            "You are CapeControl's assistant. You work inside a private workspace directory and "
            "can write, read and list files there with your tools. Do what the user asks, keep "
            "results in files when they are longer than a paragraph, and finish with a short "
            "answer."
        ),
        "tools": FILE_TOOLS,
        "sandbox_limits": {},
    },
    "engineer": {
        "description": (
            "An agent with every tool: files, sandboxed shell and Python, web search and fetch, "
            "GitHub, PDF reports and email."
        ),
        "system_prompt": (
            "You are CapeControl's engineer. You work in a private workspace mounted at "
            "/workspace (src/ for code, research/ for notes and sources, output/ for "
            "deliverables). Commands and Python run in a sandbox without network; install "
            "packages with pip_install (only those the operator allows). Cite the pages you "
            "fetched. Finish with a short answer that says where the results are."
        ),
        "tools": (
            *FILE_TOOLS,
            "shell",
            "python",
            "pip_install",
            "web_search",
            "web_fetch",
            "git_clone",
            "git_branch",
            "git_commit",
            "git_push",
            "github_issue",
            "github_pull_request",
            "create_pdf",
            "send_email",
        ),
        "sandbox_limits": {"wall_seconds": 300, "memory_bytes": 1024 * 1024 * 1024},
    },
}

FULL = """
name: cape-ai-guide
version: 1.0.0-rc.1+build.5
description: Answers questions about CapeControl from its docs.
category: guide
tags: [docs, help]
goals: ["Answer accurately with links to the docs"]
system_prompt: |
  You are {{ agent.name }} {{ agent.version }}, helping with {{ input.topic }}.
  {% for d in config.domains %}- {{ d }}
  {% endfor %}
model:
  provider: default
  name: ""
  fallbacks:
    - {provider: openrouter, name: anthropic/claude-3.5-haiku}
  temperature: 0.2
  max_tokens: 2048
tools:
  - read_file
  - {name: send_email, approval: true}
triggers:
  - {event: deployment.completed, filter: {environment: production}}
input_schema:
  type: object
  required: [prompt]
  properties: {prompt: {type: string}, topic: {type: string}}
output_schema: {type: object, required: [answer]}
limits: {max_steps: 20, max_tokens: 200000, max_cost: 2.0, timeout_seconds: 3600}
sandbox_limits: {wall_seconds: 300, memory_bytes: 1073741824}
knowledge: {source: docs, top_k: 5}
config: {domains: [tasks, agents]}
locks: ["repo:{{ input.repo }}"]
max_concurrent: 3
capabilities: [code-review, release-notes]
complexity: {min: 2, max: 7}
"""


def problems(data: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as raised:
        parse_spec(data)
    details: list[dict[str, str]] = raised.value.details
    assert all(d["field"] in raised.value.message for d in details)
    return details


def test_the_contract_example_parses_with_its_helpers() -> None:
    spec = parse_spec(load_yaml(FULL))
    assert spec.tool_names == ["read_file", "send_email"]
    assert spec.approval_tools == ["send_email"]
    assert spec.model.fallbacks[0].name == "anthropic/claude-3.5-haiku"
    assert spec.triggers[0].filter == {"environment": "production"}
    assert spec.limits.max_cost == 2.0 and spec.knowledge is not None
    assert spec.tool_limits == {"wall_seconds": 300, "memory_bytes": 1073741824}
    prompt = spec.render_prompt({"topic": "budgets"})
    assert prompt.startswith("You are cape-ai-guide 1.0.0-rc.1+build.5, helping with budgets.")
    assert "- tasks\n- agents" in prompt


def test_defaults_of_a_minimal_spec() -> None:
    spec = parse_spec({"name": "tiny", "version": "0.0.1", "system_prompt": "Hi"})
    assert (spec.category, spec.tools, spec.input_schema) == ("general", [], {"type": "object"})
    assert (spec.model.provider, spec.model.name, spec.limits.max_steps) == ("default", "", 20)
    assert spec.output_schema is None and spec.tool_limits is None


def test_five_problems_are_all_listed_by_path() -> None:
    data = load_yaml(FULL)
    data["version"] = "1.0"  # semver
    data["system_prompt"] = "Hello {{ input.name "  # Jinja does not compile
    data["tools"] = ["read_file", "teleport"]  # unknown tool
    data["model"]["fallbacks"].append({"provider": "default", "name": ""})  # = the primary
    data["limits"]["max_steps"] = 0  # not positive
    data["colour"] = "red"  # unknown key
    fields = [p["field"] for p in problems(data)]
    assert sorted(fields) == sorted(
        [
            "spec.version",
            "spec.system_prompt",
            "spec.tools.1",
            "spec.model.fallbacks.1",
            "spec.limits.max_steps",
            "spec.colour",
        ]
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Bad_Name"}, "spec.name"),
        ({"name": "import"}, "spec.name"),
        ({"category": "Not A Slug"}, "spec.category"),
        ({"tools": [{"name": "shell", "approval": "sometimes"}]}, "spec.tools.0.approval"),
        ({"tools": [5]}, "spec.tools.0"),
        ({"tools": ["shell", {"name": "shell"}]}, "spec.tools.1.name"),
        ({"model": {"fallbacks": [{"name": "x", "colour": 1}]}}, "spec.model.fallbacks.0.colour"),
        ({"model": {"temperature": 3}}, "spec.model.temperature"),
        ({"model": {"fallbacks": [{"name": "a"}, {"name": "a"}]}}, "spec.model.fallbacks.1"),
        ({"triggers": [{"event": "a b"}]}, "spec.triggers.0.event"),
        ({"input_schema": {"type": "object", "properties": {"x": {"type": 5}}}},
         "spec.input_schema.properties.x.type"),
        ({"output_schema": {"required": "answer"}}, "spec.output_schema.required"),
        ({"output_schema": {"properties": {"d": {"x-cape-equals-input": "a b"}}}},
         "spec.output_schema.properties.d.x-cape-equals-input"),
        ({"limits": {"max_cost": 0}}, "spec.limits.max_cost"),
        ({"limits": {"max_steps": 10001}}, "spec.limits.max_steps"),
        ({"sandbox_limits": {"output_chars": 1}}, "spec.sandbox_limits.output_chars"),
        ({"knowledge": {"source": "web"}}, "spec.knowledge.source"),
        ({"system_prompt": "{% if %}"}, "spec.system_prompt"),
        ({"system_prompt": ""}, "spec.system_prompt"),
    ],
)  # fmt: skip
def test_each_problem_names_its_field(change: dict[str, Any], field: str) -> None:
    data = {"name": "some-agent", "version": "1.0.0", "system_prompt": "Hi", **change}
    assert [p["field"] for p in problems(data)] == [field]


def test_output_schemas_bind_fields_to_the_task_input() -> None:
    schema = {
        "type": "object",
        "properties": {
            "domain": {"type": "string", "x-cape-equals-input": "domain"},
            "env": {"x-cape-equals-input": "target.env"},
            "other": {"x-cape-equals-input": "absent"},
        },
    }
    bound = bind_output_schema(schema, {"domain": "security_audit", "target": {"env": "prod"}})
    assert bound is not None and bound["properties"]["domain"]["const"] == "security_audit"
    assert bound["properties"]["env"]["const"] == "prod"
    assert "const" not in bound["properties"]["other"]  # the input schema decides what is required
    assert "const" not in schema["properties"]["domain"]  # the spec's own schema is unchanged
    assert bind_output_schema(None, {}) is None


def test_missing_fields_and_non_mappings() -> None:
    assert sorted(p["field"] for p in problems({})) == [
        "spec.name", "spec.system_prompt", "spec.version",
    ]  # fmt: skip
    assert [p["field"] for p in problems(["a"])] == ["spec"]


def test_render_errors_name_the_system_prompt() -> None:
    # The sandbox refuses huge ranges and calls of unsafe attributes.
    for source in ("{{ range(10**9) | list }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}"):
        spec = parse_spec({"name": "sneaky", "version": "1.0.0", "system_prompt": source})
        with pytest.raises(InvalidInput) as raised:
            spec.render_prompt({})
        assert raised.value.details[0]["field"] == "spec.system_prompt"
    # Undefined values render empty, chained or not.
    lenient = parse_spec({"name": "kind", "version": "1.0.0", "system_prompt": "[{{ a.b.c }}]"})
    assert lenient.render_prompt({}) == "[]"


def test_yaml_errors_give_line_and_column() -> None:
    with pytest.raises(InvalidInput) as raised:
        load_yaml("name: x\nversion: [1.0\n")
    assert "line 3, column 1" in raised.value.message
    for text in ("", "- a list", "just text"):
        with pytest.raises(InvalidInput, match="expected a YAML mapping"):
            load_yaml(text)


def test_dump_round_trips_in_contract_order() -> None:
    spec = parse_spec(load_yaml(FULL))
    text = dump_yaml(spec)
    assert parse_spec(load_yaml(text)) == spec
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys == list(AgentSpec.model_fields)
    assert "system_prompt: |" in text  # multi-line text stays a readable block
    assert "- read_file\n" in text and "approval: true" in text


def test_builtins_keep_the_former_catalogue(tmp_path: Path) -> None:
    by_name = {spec.name: spec for spec in load_builtin_specs()}
    assert {"assistant", "engineer"} <= set(by_name)
    for name, old in FORMER.items():
        spec = by_name[name]
        assert (spec.version, spec.category) == ("0.1.0", "general")
        assert spec.system_prompt == old["system_prompt"]
        assert spec.description == old["description"]
        assert tuple(spec.tool_names) == old["tools"]
        assert spec.input_schema == PROMPT_INPUT
        assert (spec.tool_limits or {}) == old["sandbox_limits"]
    # Every YAML file of the folder is picked up, and a broken one names itself.
    for path in BUILTIN_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "zz-extra.yaml").write_text("name: zz-extra\nversion: 1.0.0\nsystem_prompt: hi\n")
    assert [s.name for s in load_builtin_specs(tmp_path)][-1] == "zz-extra"
    (tmp_path / "zz-extra.yaml").write_text("name: zz-extra\nversion: one\nsystem_prompt: hi\n")
    with pytest.raises(InvalidInput, match=r"zz-extra\.yaml"):
        load_builtin_specs(tmp_path)


def test_input_problems_name_each_field() -> None:
    schema = PROMPT_INPUT
    found = input_problems(schema, {"prompt": "", "title": 5, "colour": "red"})
    assert [p["field"] for p in found] == ["input.colour", "input.prompt", "input.title"]
    assert [p["field"] for p in input_problems(schema, {})] == ["input.prompt"]
