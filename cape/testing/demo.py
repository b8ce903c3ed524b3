"""The demo model: the fake LLM's deterministic agent for any model that is not a script.

It writes the request to answer.md when it may (write_file offered, first turn), then answers.
When JSON is asked for, it answers with a small instance of the schema (see
:mod:`cape.testing.schema_instance`): the schema comes from the request's ``response_format``,
or from the repair request CapeControl sends when an answer misses the agent's output schema.
So every built-in agent gets an answer its output check accepts, after one repair at most.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cape.task_text import SCHEMA_REQUEST
from cape.testing.schema_instance import instance_of
from cape.testing.scripts import DEMO_DONE_TEXT, ScriptedToolCall, Turn, message_text, turn_index

TEXT_LIMIT = 300  # characters of the request quoted in JSON answers


def demo_turn(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], response_format: Any = None
) -> Turn:
    """The demo agent's reply to a chat request.

    Args:
        messages: The request's messages.
        tools: The request's tool definitions.
        response_format: The request's ``response_format``, if any.

    Returns:
        JSON when a schema is asked for; else a ``write_file`` call on turn 0 when that tool is
        offered, then a short text.
    """
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    last_user = users[-1] if users else ""
    offered = {str(t.get("function", {}).get("name")) for t in tools if isinstance(t, Mapping)}
    repair = _repair_schema(last_user)
    if repair is None and "write_file" in offered and turn_index(messages) == 0:
        arguments = {"path": "answer.md", "content": f"# Answer\n\n{last_user}\n"}
        return Turn(tool_calls=[ScriptedToolCall(name="write_file", arguments=arguments)])
    schema = repair if repair is not None else _format_schema(response_format)
    if schema is not None:
        request = users[0] if users else ""
        text = f"Demo answer to: {' '.join(request.split())[:TEXT_LIMIT]}"
        # Enum values (an input's domain, say) are picked from what the task's input mentions.
        return Turn(content=json.dumps(instance_of(schema, text, hint=request)))
    if "write_file" not in offered:
        return Turn(content=f"You said: {last_user}")
    return Turn(content=DEMO_DONE_TEXT)


def _repair_schema(text: str) -> dict[str, Any] | None:
    """The JSON Schema of a repair request (its line after SCHEMA_REQUEST), if it is one."""
    head, _, rest = text.partition("\n")
    if head.strip() != SCHEMA_REQUEST:
        return None
    try:
        schema = json.loads(rest.partition("\n")[0])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def _format_schema(response_format: Any) -> dict[str, Any] | None:
    """The schema an OpenAI ``response_format`` asks for (any object for ``json_object``)."""
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    spec = response_format.get("json_schema")
    if kind == "json_schema" and isinstance(spec, Mapping):
        schema = spec.get("schema")
        return dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    return None
