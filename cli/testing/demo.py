"""The demo model: the fake LLM's deterministic agent for any model that is not a script.

On its first turn it writes the request to answer.md when it may (write_file offered), else
searches the docs for it (docs_search offered); then it answers.
When JSON is asked for, it answers with a small instance of the schema (see
:mod:`cli.testing.schema_instance`): the schema comes from the request's ``response_format``,
or from the repair request CapeControl sends when an answer misses the agent's output schema.
So every built-in agent gets an answer its output check accepts, after one repair at most.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cape.kb.passages import RESULTS_INTRO, RESULTS_SEPARATOR
from cape.task_text import SCHEMA_REQUEST
from cli.testing.schema_instance import instance_of
from cli.testing.scripts import DEMO_DONE_TEXT, ScriptedToolCall, Turn, message_text, turn_index

TEXT_LIMIT = 300  # characters of the request quoted in JSON answers
FOUND_LIMIT = 1500  # characters of the best docs_search section quoted in JSON answers
DOCS_QUERY_LIMIT = 400  # docs_search's own limit


def demo_turn(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], response_format: Any = None
) -> Turn:
    """The demo agent's reply to a chat request.

    Args:
        messages: The request's messages.
        tools: The request's tool definitions.
        response_format: The request's ``response_format``, if any.

    Returns:
        On turn 0 a ``write_file`` or ``docs_search`` call when offered; then JSON when a
        schema is asked for (quoting the best section docs_search found), else a short text.
    """
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    last_user = users[-1] if users else ""
    offered = {str(t.get("function", {}).get("name")) for t in tools if isinstance(t, Mapping)}
    request = users[0] if users else ""
    repair = _repair_schema(last_user)
    if repair is None and turn_index(messages) == 0:
        first = _first_call(offered, last_user, request)
        if first is not None:
            return Turn(tool_calls=[first])
    schema = repair if repair is not None else _format_schema(response_format)
    if schema is not None:
        text = f"Demo answer to: {' '.join(request.split())[:TEXT_LIMIT]}"
        found = _found(messages)
        # Enum values (an input's domain, say) are picked from what the task's input mentions.
        value = instance_of(schema, f"{text}\n\n{found}" if found else text, hint=request)
        return Turn(content=json.dumps(value))
    if "write_file" not in offered:
        return Turn(content=f"You said: {last_user}")
    return Turn(content=DEMO_DONE_TEXT)


def _first_call(offered: set[str], last_user: str, request: str) -> ScriptedToolCall | None:
    """The first turn's tool call: write the request to answer.md, else search the docs."""
    if "write_file" in offered:
        arguments = {"path": "answer.md", "content": f"# Answer\n\n{last_user}\n"}
        return ScriptedToolCall(name="write_file", arguments=arguments)
    if "docs_search" in offered and request.strip():
        return ScriptedToolCall(name="docs_search", arguments={"query": request[:DOCS_QUERY_LIMIT]})
    return None


def _found(messages: list[dict[str, Any]]) -> str:
    """The best section of the latest docs_search result in the conversation ("" if none)."""
    for message in reversed(messages):
        text = message_text(message) if message.get("role") == "tool" else ""
        if text.startswith(RESULTS_INTRO):
            best = text.partition("[1] ")[2].partition(RESULTS_SEPARATOR)[0]
            return best[:FOUND_LIMIT].strip()
    return ""


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
