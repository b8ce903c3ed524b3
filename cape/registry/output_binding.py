"""Output schemas that refer to the task's input: the `x-cape-equals-input` keyword.

A property of an agent's output schema may say that its value must equal a field of the task's
input (`x-cape-equals-input: domain`): the domain specialist must answer for the domain it was
asked about. JSON Schema cannot refer to another document, so the schema is bound when the task
starts: each such keyword gets a `const` with the input's value, and the output check refuses an
answer that differs (the model is asked again, as for any other miss).
"""

from __future__ import annotations

import copy
import re
from typing import Any

KEYWORD = "x-cape-equals-input"
INPUT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_MISSING = object()


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def bind_output_schema(schema: dict[str, Any] | None, task_input: Any) -> dict[str, Any] | None:
    """`schema` with every `x-cape-equals-input` fixed to the input's value (a copy).

    A path the input does not have stays unbound: the input schema decides what is required.
    """
    if schema is None:
        return None

    def bind(node: Any) -> Any:
        if isinstance(node, list):
            return [bind(item) for item in node]
        if not isinstance(node, dict):
            return node
        bound = {key: bind(value) for key, value in node.items()}
        path = node.get(KEYWORD)
        if isinstance(path, str) and (value := _lookup(task_input, path)) is not _MISSING:
            bound["const"] = copy.deepcopy(value)
        return bound

    result = bind(schema)
    assert isinstance(result, dict)
    return result


def binding_problems(schema: Any, field: str) -> list[dict[str, str]]:
    """Every `x-cape-equals-input` under `schema` that is not a dotted input path."""
    problems: list[dict[str, str]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}.{index}")
        elif isinstance(node, dict):
            path = node.get(KEYWORD, "")
            if KEYWORD in node and not (isinstance(path, str) and INPUT_PATH.fullmatch(path)):
                message = "must name a field of the task input, e.g. 'domain' or 'target.env'"
                problems.append({"field": f"{where}.{KEYWORD}", "message": message})
            for key, value in node.items():
                if key != KEYWORD:
                    walk(value, f"{where}.{key}")

    walk(schema, field)
    return problems
