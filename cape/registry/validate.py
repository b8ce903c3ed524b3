"""Task input against an agent version's JSON Schema, every problem named by field."""

from __future__ import annotations

from typing import Any

import jsonschema

from cape.errors import InvalidInput


def input_problems(
    schema: dict[str, Any], data: Any, prefix: str = "input"
) -> list[dict[str, str]]:
    """Every way `data` breaks `schema` (draft 2020-12), as `{"field", "message"}` in path order."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [{"field": _field(error, prefix), "message": error.message} for error in errors]


def validate_input(agent: str, schema: dict[str, Any], data: Any) -> None:
    """Raise InvalidInput naming each bad field of the task input of `agent`."""
    problems = input_problems(schema, data)
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidInput(f"invalid input for agent {agent!r}: {fields}", details=problems)


def _field(error: jsonschema.ValidationError, prefix: str) -> str:
    path = [prefix, *(str(p) for p in error.absolute_path)]
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
