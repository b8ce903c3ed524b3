"""The checks of an agent spec beyond its structure, on the raw data, each problem by field.

They run on the data as given (not the parsed model) so that a spec with a structural error
still gets its other problems reported in the same answer.
"""

from __future__ import annotations

from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from cape.registry.output_binding import binding_problems
from cape.registry.semver import try_parse
from cape.tool_names import TOOL_NAMES

# Autoescape off: the output is a prompt, not HTML. Undefined renders "" and chains.
TEMPLATES = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


class EmptyPart(ValueError):
    """A placeholder of a lock name rendered empty (`device:` for a missing device id)."""


def _non_empty(value: Any) -> Any:
    if value is None or str(value).strip() == "":
        raise EmptyPart("a placeholder renders empty for this input")
    return value


# Lock names: the prompt's templating, but every `{{ ... }}` must render something.
LOCK_TEMPLATES = SandboxedEnvironment(
    autoescape=False, undefined=ChainableUndefined, finalize=_non_empty
)

Problem = dict[str, str]
SEMVER = "not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])"
RESERVED_NAMES = frozenset({"import", "triggers"})  # /v1/agents/import, /v1/agents/triggers/...
# Plain words for the patterns a field must match (pydantic would print the regex).
PATTERN_HINTS = {
    "name": "3-64 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'",
    "category": "a slug: a-z, 0-9, '.', '_' and '-', at most 64 characters",
    "provider": "a provider name: a-z, 0-9, '_' and '-', starting with a letter",
    "capability": "a capability name: 1-64 characters of a-z, 0-9 and '-', starting with a "
    "letter, not ending with '-' (lowercase)",
    "capabilities": "a capability name: 1-64 characters of a-z, 0-9 and '-', starting with a "
    "letter, not ending with '-' (lowercase)",
    "event": "an event type like deployment.completed (letters, digits, '.', '_', ':', '/', '-')",
}


def _path(prefix: str, *parts: object) -> str:
    return ".".join([prefix, *(str(p) for p in parts)])


def validation_problems(exc: ValidationError, prefix: str) -> list[Problem]:
    """Pydantic's errors as `{"field", "message"}` with dotted paths under `prefix`."""
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (not a field of the agent spec)"
        elif error["type"] == "string_type" and tuple(error["loc"]) == ("version",):
            # YAML reads `version: 1.2` as a number: say what a version looks like instead.
            given = error.get("input")
            quote = f"; {given!r} is a number here: quote it" if _is_number(given) else ""
            message = f"{SEMVER}{quote}"
        elif error["type"] == "string_pattern_mismatch" and error["loc"]:
            hint = PATTERN_HINTS.get(str(error["loc"][-1])) or PATTERN_HINTS.get(
                str(error["loc"][0])
            )
            message = f"must be {hint}" if hint else message
        problems.append({"field": _path(prefix, *error["loc"]), "message": message})
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def template_problem(source: str) -> str | None:
    """Why a system prompt template does not compile, or None."""
    try:
        TEMPLATES.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"Jinja template error{f' on line {line}' if line else ''}: {exc}"
    return None


def schema_problem(schema: dict[str, Any]) -> tuple[str, str] | None:
    """Where and why `schema` is not a valid JSON Schema (draft 2020-12), or None."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return where, f"not a valid JSON Schema: {exc.message}"
    return None


def semantic_problems(data: dict[str, Any], prefix: str) -> list[Problem]:
    """Reserved names, semver, template, JSON Schemas, tool names and fallbacks of raw data."""
    problems: list[Problem] = []
    if data.get("name") in RESERVED_NAMES:
        message = f"{data['name']!r} is reserved (a path of the registry API)"
        problems.append({"field": _path(prefix, "name"), "message": message})
    version = data.get("version")
    if isinstance(version, str) and try_parse(version) is None:
        problems.append({"field": _path(prefix, "version"), "message": SEMVER})
    prompt = data.get("system_prompt")
    if isinstance(prompt, str) and (why := template_problem(prompt)) is not None:
        problems.append({"field": _path(prefix, "system_prompt"), "message": why})
    for key in ("input_schema", "output_schema"):
        schema = data.get(key)
        if isinstance(schema, dict) and (found := schema_problem(schema)) is not None:
            where, why = found
            field = _path(prefix, key, where) if where else _path(prefix, key)
            problems.append({"field": field, "message": why})
    problems.extend(binding_problems(data.get("output_schema"), _path(prefix, "output_schema")))
    problems.extend(_template_list_problems(data, prefix))
    problems.extend(_tool_problems(data.get("tools"), prefix))
    problems.extend(_fallback_problems(data.get("model"), prefix))
    problems.extend(_trigger_problems(data.get("triggers"), prefix))
    return problems


def _trigger_problems(triggers: Any, prefix: str) -> list[Problem]:
    """A trigger's `complexity` without its `capability` (the assigner's input, nothing else's)."""
    if not isinstance(triggers, list):
        return []
    return [
        {"field": _path(prefix, "triggers", index, "complexity"),
         "message": "`complexity` goes with `capability`: give the trigger a capability"}
        for index, trigger in enumerate(triggers)
        if isinstance(trigger, dict) and trigger.get("complexity") is not None
        and trigger.get("capability") is None
    ]  # fmt: skip


def _tool_problems(tools: Any, prefix: str) -> list[Problem]:
    if not isinstance(tools, list):
        return []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        if isinstance(tool, str):
            name, field = tool, _path(prefix, "tools", index)
        elif isinstance(tool, dict) and isinstance(tool.get("name"), str):
            name, field = tool["name"], _path(prefix, "tools", index, "name")
        else:
            continue
        if name not in TOOL_NAMES:
            known = ", ".join(sorted(TOOL_NAMES))
            problems.append({"field": field, "message": f"unknown tool {name!r}; known: {known}"})
        elif name in seen:
            problems.append({"field": field, "message": f"tool {name!r} is listed twice"})
        seen.add(name)
    return problems


def _fallback_problems(model: Any, prefix: str) -> list[Problem]:
    if not isinstance(model, dict) or not isinstance(model.get("fallbacks"), list):
        return []
    primary = (model.get("provider", "default"), model.get("name", ""))
    problems: list[Problem] = []
    seen = {primary}
    for index, fallback in enumerate(model["fallbacks"]):
        if not isinstance(fallback, dict):
            continue
        choice = (fallback.get("provider", "default"), fallback.get("name", ""))
        if choice == primary:
            why = "a fallback must differ from the primary model"
        elif choice in seen:
            why = "this fallback is listed twice"
        else:
            seen.add(choice)
            continue
        problems.append({"field": _path(prefix, "model", "fallbacks", index), "message": why})
    return problems


def _template_list_problems(data: dict[str, Any], prefix: str) -> list[Problem]:
    """Lock names and triggers' concurrency keys that are not valid Jinja templates."""
    found: list[tuple[str, Any]] = []
    if isinstance(data.get("locks"), list):
        found += [(_path(prefix, "locks", i), s) for i, s in enumerate(data["locks"])]
    if isinstance(data.get("triggers"), list):
        found += [
            (_path(prefix, "triggers", i, "concurrency_key"), t.get("concurrency_key"))
            for i, t in enumerate(data["triggers"])
            if isinstance(t, dict)
        ]
    return [
        {"field": field, "message": why}
        for field, source in found
        if isinstance(source, str) and (why := template_problem(source)) is not None
    ]
