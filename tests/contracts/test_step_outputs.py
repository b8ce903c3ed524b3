"""Step outputs (`task_steps.output`): what each activity writes reads back typed and unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from activities.llm import _from_output, _to_output
from activities.types import LlmResult, ToolCall, Usage
from cape.contracts.steps import read_check, read_llm, read_tool, read_workspace

STORED: list[tuple[Any, dict[str, Any]]] = [
    (read_llm, {
        "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "shell", "arguments": "{\"command\": \"ls\"}"}}]},
        "finish_reason": "tool_calls",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "cost_usd": 0.0001},
    }),
    (read_llm, {
        "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop",
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost_usd": 0.0},
    }),
    (read_tool, {"tool_call_id": "c1", "ok": True, "content": "a.txt", "isolation": None,
                 "artifacts": ["art_1"], "records": [["citation", {"url": "https://x"}]],
                 "snapshot": "snap_3"}),
    (read_tool, {"tool_call_id": "c2", "ok": False, "content": "error: no such file",
                 "restored_from": "snap_2", "error": {"type": "ToolError",
                                                      "message": "no such file"}}),
    (read_check, {"ok": True, "output": {"answer": 42}}),
    (read_check, {"ok": False, "problems": ["answer: required"],
                  "message": {"role": "user", "content": "Answer again"}}),
    (read_workspace, {"path": "/workspace", "host": "host-a", "snapshot": None}),
    (read_workspace, {"path": "/workspace", "host": "host-b", "lost_host": "host-a",
                      "snapshot": "snap_1"}),
]  # fmt: skip


@pytest.mark.parametrize(("read", "stored"), STORED)
def test_a_stored_output_reads_back_as_it_was_written(read: Any, stored: dict[str, Any]) -> None:
    assert json.dumps(read(stored), sort_keys=True) == json.dumps(stored, sort_keys=True)


def test_an_llm_turn_survives_its_stored_output() -> None:
    result = LlmResult(
        None, [ToolCall("c1", "shell", "{}"), ToolCall("c2", "web_fetch", '{"url": "x"}')],
        "tool_calls", Usage(10, 5, 15, 0.002),
    )  # fmt: skip
    stored = json.loads(json.dumps(_to_output(result)))  # as the JSON column keeps it
    assert _from_output(read_llm(stored)) == result


def test_an_output_that_misses_a_field_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="finish_reason"):
        read_llm({"message": {"role": "assistant", "content": "x"}, "usage": {}})
    with pytest.raises(ValidationError, match="tool_call_id"):
        read_tool({"ok": True, "content": ""})
