"""How a task's input reads as text: the user's message to the model and the task's title."""

from __future__ import annotations

import json
from typing import Any

PROMPT_KEYS = ("prompt", "query", "question", "request")
# How the repair request of an answer that misses the output schema starts; the JSON Schema
# follows on the next line (the demo model reads it from there).
SCHEMA_REQUEST = "Your final answer must be a single JSON value matching this JSON Schema:"


def user_message(data: dict[str, Any]) -> str:
    """The input's prompt (or query, question, request); other input as JSON beside it.

    Agents whose input is more than a prompt (a domain, a context, a format) get every field:
    the system prompt template may use them too, but the model always sees what was asked.
    """
    text = next((str(data[k]) for k in PROMPT_KEYS if isinstance(data.get(k), str)), None)
    rest = {k: v for k, v in data.items() if k not in PROMPT_KEYS and k != "title"}
    if text is None:
        return json.dumps(data, ensure_ascii=False, indent=1)
    if not rest:
        return text
    return f"{text}\n\nInput: {json.dumps(rest, ensure_ascii=False)}"


def title_of(data: dict[str, Any], fallback: str) -> str:
    """The input's title, else the first line of its prompt, else `fallback`."""
    if isinstance(data.get("title"), str) and data["title"]:
        return str(data["title"])
    text = next((str(data[k]) for k in PROMPT_KEYS if isinstance(data.get(k), str)), "")
    return text.splitlines()[0][:80] if text.strip() else fallback
