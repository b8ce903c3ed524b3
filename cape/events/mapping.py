"""An event mapped to an agent's input by a trigger's `input` (sandboxed Jinja templates)."""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_WHOLE = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)  # "{{ expr }}" alone keeps the value's type


class MappingError(ValueError):
    """A mapping that does not render on this event (the route fails with this reason)."""


def event_context(event: dict[str, Any]) -> dict[str, Any]:
    """What templates see: `event` (id, type, data, source, priority, occurred_at)."""
    return {"event": event}


def default_input(event: dict[str, Any]) -> dict[str, Any]:
    """The input of a trigger without mapping: a prompt naming the event and its data."""
    data = json.dumps(event.get("data", {}), sort_keys=True, default=str)
    return {"prompt": f"Event {event['type']}: {data}"}


def map_input(mapping: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any]:
    """The agent input `mapping` makes of `event` (the default input without a mapping).

    Strings are templates; a string that is one `{{ expression }}` keeps the expression's type
    (a number stays a number). An undefined name or a sandbox violation is a MappingError.
    """
    if mapping is None:
        return default_input(event)
    context = event_context(event)
    result = _render(mapping, context, "input")
    assert isinstance(result, dict)
    return result


def _render(value: Any, context: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, context, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context, f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    try:
        whole = _WHOLE.match(value.strip())
        if whole is not None and "{{" not in whole.group(1):
            expression = _ENV.compile_expression(whole.group(1).strip(), undefined_to_none=False)
            result = expression(**context)
            if isinstance(result, Undefined):
                raise MappingError(f"trigger mapping {where}: {result._undefined_message}")
            return result
        return _ENV.from_string(value).render(**context)
    except TemplateError as exc:
        raise MappingError(f"trigger mapping {where}: {exc}") from None
