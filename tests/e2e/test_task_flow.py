"""A task over HTTP: LLM -> tool -> LLM, with its steps, events and SSE stream."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.harness import read_sse, stored


def write_then_answer(name: str) -> Script:
    return Script(
        name=name,
        turns=[
            Turn(
                content="Let me write that down.",
                tool_calls=[
                    ScriptedToolCall(
                        name="write_file", arguments={"path": "notes/hello.txt", "content": "hi"}
                    )
                ],
            ),
            Turn(content="Saved the note in notes/hello.txt."),
        ],
    )


async def test_llm_tool_llm_task_succeeds_with_ordered_steps_and_events(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = f"flow-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(write_then_answer(name))

    created = await api.http.post(
        "/v1/tasks",
        json={"agent": "assistant", "input": {"prompt": "note hi"}, "model": f"script:{name}"},
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert created.headers["Location"] == f"/v1/tasks/{task['id']}"

    messages = await read_sse(api.http, f"/v1/tasks/{task['id']}/events")
    finished = (await api.http.get(f"/v1/tasks/{task['id']}/wait", params={"timeout": 30})).json()
    assert finished["status"] == "succeeded", finished
    assert finished["output"] == {"answer": "Saved the note in notes/hello.txt."}
    assert finished["usage"]["total_tokens"] > 0

    workspace = Path(settings.workspace_root) / task["id"]
    assert (workspace / "notes" / "hello.txt").read_text() == "hi"
    assert (workspace / "README.md").exists()

    steps, events = await stored(settings, task["id"])
    assert [(s.step_no, s.kind, s.status) for s in steps] == [
        (1, "workspace", "succeeded"),
        (2, "llm", "succeeded"),
        (3, "tool", "succeeded"),
        (4, "llm", "succeeded"),
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "task-created" and types[1] == "task-started"
    assert types[-1] == "task-succeeded"
    assert "token-delta" in types and "tool-call" in types and "tool-result" in types
    for step in steps:
        per_step = [e.type for e in events if e.step_no == step.step_no]
        assert per_step[0] == "step-started" and per_step[-1] == "step-finished", per_step
    deltas = "".join(e.data["text"] for e in events if e.type == "token-delta" and e.step_no == 4)
    assert deltas == "Saved the note in notes/hello.txt."

    # SSE: every stored event exactly once, in order, with id = seq, then `end`.
    data_messages = [m for m in messages if "id" in m]
    assert [int(m["id"]) for m in data_messages] == [e.seq for e in events]
    assert [m["data"]["type"] for m in data_messages] == types
    assert all(m["event"] == m["data"]["channel"] for m in data_messages)
    assert messages[-1]["event"] == "end"
    assert messages[-1]["data"]["data"]["status"] == "succeeded"

    listed = (await api.http.get(f"/v1/tasks/{task['id']}/steps")).json()
    assert [s["name"] for s in listed] == [
        "workspace",
        f"llm: script:{name}",
        "tool: write_file",
        f"llm: script:{name}",
    ]
