"""OpenAI Chat Completions wire format for the fake LLM: bodies, chunks and errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from cli.testing.scripts import Turn, message_text

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body for an HTTP status."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _tokens(chars: int) -> int:
    return max(1, chars // 4)


def usage(messages: list[dict[str, Any]], turn: Turn) -> dict[str, int]:
    """Estimated usage: a token per 4 characters of the messages and of the reply (min 1)."""
    prompt_chars = 0
    for message in messages:
        prompt_chars += len(message_text(message))
        for call in message.get("tool_calls") or []:
            function = call.get("function", {}) if isinstance(call, dict) else {}
            prompt_chars += len(str(function.get("name", "")))
            prompt_chars += len(str(function.get("arguments", "")))
    completion_chars = len(turn.content or "") + sum(
        len(call.name) + len(_arguments(call.arguments)) for call in turn.tool_calls
    )
    prompt, completion = _tokens(prompt_chars), _tokens(completion_chars)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _arguments(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False)


def _call_id(turn_index: int, i: int) -> str:
    return f"call_{turn_index}_{i}"


def _finish_reason(turn: Turn) -> str:
    return "tool_calls" if turn.tool_calls else "stop"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion_body(
    model: str, turn: Turn, turn_index: int, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ``chat.completion`` object answering with ``turn``."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.content, "refusal": None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(turn_index, i),
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call.arguments)},
            }
            for i, call in enumerate(turn.tool_calls)
        ]
    elif turn.content is None:
        message["content"] = ""
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(turn),
            }
        ],
        "usage": usage(messages, turn),
    }


def stream_chunks(
    model: str,
    turn: Turn,
    turn_index: int,
    messages: list[dict[str, Any]],
    *,
    chunk_size: int,
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, in order.

    Text arrives in ``chunk_size`` pieces. Each tool call opens with a delta carrying its
    index, id, type and name, then its arguments follow in pieces. With ``include_usage``
    every chunk has ``usage: null`` and a last chunk with no choices carries the usage.
    """
    base: dict[str, Any] = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        extra = {"usage": None} if include_usage else {}
        return {**base, "choices": [choice], **extra}

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _pieces(turn.content or "", chunk_size):
        yield chunk({"content": piece})
    for i, call in enumerate(turn.tool_calls):
        opening = {
            "index": i,
            "id": _call_id(turn_index, i),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [opening]})
        for piece in _pieces(_arguments(call.arguments), chunk_size):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(turn))
    if include_usage:
        yield {**base, "choices": [], "usage": usage(messages, turn)}
