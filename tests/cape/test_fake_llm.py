"""The scripted fake LLM, exercised through the real openai SDK."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from activities.checks import repair_request
from cape.kb import Passage, render_results
from cli.testing.fake_llm import (
    FakeLLMServer,
    Fault,
    Script,
    ScriptedToolCall,
    Turn,
    load_scripts,
)

WRITE_FILE_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
}


@pytest.fixture(scope="module")
def srv() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def client(srv: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c:
        yield c


def add(srv: FakeLLMServer, *turns: Turn) -> str:
    """Register a fresh script; returns the model name to use."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    srv.add_script(Script(name=name, turns=list(turns)))
    return f"script:{name}"


def user(text: str = "hello") -> Any:
    return {"role": "user", "content": text}


def assistant(text: str = "ok") -> Any:
    return {"role": "assistant", "content": text}


async def test_base_url_is_known_and_served(srv: FakeLLMServer) -> None:
    assert srv.base_url.startswith("http://127.0.0.1:")
    assert srv.base_url.endswith("/v1")
    assert not srv.base_url.endswith(":0/v1")


async def test_streamed_text_arrives_in_deltas_with_usage(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    content = "Hello there, this reply is streamed in several small pieces."
    model = add(srv, Turn(content=content))
    stream = await client.chat.completions.create(
        model=model,
        messages=[user("x" * 40)],
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas: list[str] = []
    finish_reasons: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
    assert "".join(deltas) == content
    assert len(deltas) >= len(content) // 8
    assert finish_reasons == ["stop"]
    assert usage is not None
    assert usage.prompt_tokens == 10
    assert usage.completion_tokens == len(content) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_without_include_usage_has_no_usage(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    model = add(srv, Turn(content="short"))
    stream = await client.chat.completions.create(model=model, messages=[user()], stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


async def test_streamed_tool_calls_parse_through_the_sdk(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    args = {"path": "notes/plan.md", "content": "# Plan\n\nA long enough body to need pieces."}
    model = add(
        srv,
        Turn(
            tool_calls=[
                ScriptedToolCall(name="write_file", arguments=args),
                ScriptedToolCall(name="list_files"),
            ]
        ),
    )
    async with client.chat.completions.stream(
        model=model, messages=[user()], tools=[WRITE_FILE_TOOL]
    ) as stream:
        argument_deltas = 0
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                argument_deltas += 1
        final = await stream.get_final_completion()
    assert argument_deltas > 2
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.id for c in calls] == ["call_0_0", "call_0_1"]
    assert [c.function.name for c in calls] == ["write_file", "list_files"]
    assert json.loads(calls[0].function.arguments) == args
    assert json.loads(calls[1].function.arguments) == {}


async def test_non_streaming_completion(srv: FakeLLMServer, client: openai.AsyncOpenAI) -> None:
    model = add(
        srv,
        Turn(content="Let me write it.", tool_calls=[ScriptedToolCall(name="write_file")]),
    )
    completion = await client.chat.completions.create(model=model, messages=[user("hi")])
    assert completion.object == "chat.completion"
    assert completion.model == model
    message = completion.choices[0].message
    assert message.content == "Let me write it."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "write_file"  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 1
    assert completion.usage.completion_tokens == (len("Let me write it.write_file{}")) // 4


async def test_turn_index_is_the_number_of_assistant_messages(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    model = add(srv, Turn(content="zero"), Turn(content="one"), Turn(content="two"))
    history: list[Any] = [{"role": "system", "content": "be brief"}, user()]
    for expected in ("zero", "one", "two"):
        completion = await client.chat.completions.create(model=model, messages=history)
        assert completion.choices[0].message.content == expected
        history += [assistant(expected), {"role": "tool", "tool_call_id": "c", "content": "r"}]
    # A retry of an earlier request gets the same answer: the turn comes from the request.
    again = await client.chat.completions.create(model=model, messages=history[:4])
    assert again.choices[0].message.content == "one"
    with pytest.raises(openai.BadRequestError, match="has no turn 3"):
        await client.chat.completions.create(model=model, messages=history)


async def test_rate_limit_fault_then_success(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    model = add(srv, Turn(content="finally", faults=[Fault(status=429, retry_after=2)]))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model=model, messages=[user()])
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.status_code == 429
    completion = await client.chat.completions.create(model=model, messages=[user()])
    assert completion.choices[0].message.content == "finally"
    assert srv.calls(model.removeprefix("script:")) == {0: 2}


async def test_faults_play_in_order_also_when_streaming(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    faults = [Fault(status=400, message="bad turn"), Fault(status=503)]
    model = add(srv, Turn(content="ok", faults=faults))
    with pytest.raises(openai.BadRequestError, match="bad turn") as bad:
        await client.chat.completions.create(model=model, messages=[user()], stream=True)
    assert "retry-after" not in bad.value.response.headers
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model=model, messages=[user()], stream=True)
    stream = await client.chat.completions.create(model=model, messages=[user()], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "ok"


async def test_unknown_script_is_not_found(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="script:nope", messages=[user()])
    assert info.value.code == "model_not_found"


async def test_calls_are_counted_per_turn(srv: FakeLLMServer, client: openai.AsyncOpenAI) -> None:
    model = add(srv, Turn(content="a"), Turn(content="b"))
    name = model.removeprefix("script:")
    assert srv.calls(name) == {}
    for messages in ([user()], [user()], [user(), assistant("a"), user()]):
        await client.chat.completions.create(model=model, messages=messages)
    assert srv.calls(name) == {0: 2, 1: 1}


async def test_admin_endpoints(srv: FakeLLMServer, client: openai.AsyncOpenAI) -> None:
    root = srv.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=root) as http:
        script = {"name": "admin", "turns": [{"content": "from http"}]}
        assert (await http.put("/_scripts/admin", json=script)).status_code == 200
        assert (await http.put("/_scripts/other", json=script)).status_code == 400
        assert (await http.put("/_scripts/bad", json={"turns": "x"})).status_code == 422
        models = await client.models.list()
        assert {"script:admin", "demo"} <= {m.id async for m in models}
        completion = await client.chat.completions.create(model="script:admin", messages=[user()])
        assert completion.choices[0].message.content == "from http"
        calls = (await http.get("/_scripts/admin/calls")).json()
        assert calls == {"total": 1, "by_turn": {"0": 1}}
        assert (await http.delete("/_scripts/admin")).status_code == 204
        assert (await http.delete("/_scripts/admin")).status_code == 404
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="script:admin", messages=[user()])


async def test_demo_mode_writes_answer_then_reports(client: openai.AsyncOpenAI) -> None:
    first = await client.chat.completions.create(
        model="demo", messages=[user("Plan my trip")], tools=[WRITE_FILE_TOOL]
    )
    calls = first.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "write_file"  # type: ignore[union-attr]
    arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert arguments == {"path": "answer.md", "content": "# Answer\n\nPlan my trip\n"}
    history: list[Any] = [
        user("Plan my trip"),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "written"},
    ]
    second = await client.chat.completions.create(
        model="gpt-4o-mini", messages=history, tools=[WRITE_FILE_TOOL]
    )
    assert second.choices[0].message.content == "Done. I wrote answer.md with your request."
    plain = await client.chat.completions.create(model="demo", messages=[user("hi there")])
    assert plain.choices[0].message.content == "You said: hi there"


async def test_delays_do_not_block_each_other(
    srv: FakeLLMServer, client: openai.AsyncOpenAI
) -> None:
    model = add(srv, Turn(content="slow", delay_seconds=0.5))
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.chat.completions.create(model=model, messages=[user()]) for _ in range(200))
    )
    elapsed = time.monotonic() - started
    assert all(r.choices[0].message.content == "slow" for r in results)
    assert elapsed < 10


def test_load_scripts_from_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(
        "greet:\n  - content: hi\n  - tool_calls: [{name: write_file, arguments: {path: a}}]\n"
    )
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps([{"name": "j", "turns": [{"faults": [{"status": 429}]}]}]))
    (greet,) = load_scripts(yaml_file)
    assert greet.name == "greet"
    assert greet.turns[1].tool_calls[0].arguments == {"path": "a"}
    (j,) = load_scripts(json_file)
    assert j.turns[0].faults[0].status == 429
    bad = tmp_path / "bad.yaml"
    bad.write_text("just a string")
    with pytest.raises(ValueError):
        load_scripts(bad)


def test_cli_serves_loaded_scripts_until_interrupted(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts.yaml"
    scripts.write_text("cli:\n  - content: from the cli\n")
    code = "from cli.fake_llm import fake_llm; fake_llm()"
    args = ["--port", "0", "--script", str(scripts)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.split(" at ", 1)[1].split()[0]
        body = {"model": "script:cli", "messages": [user()]}
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.post(f"{base_url}/chat/completions", json=body)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert reply.json()["choices"][0]["message"]["content"] == "from the cli"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_a_bad_script_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.fake_llm import COMMANDS, fake_llm

    assert [fake_llm] == COMMANDS
    assert fake_llm.name == "fake-llm"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(fake_llm, ["--port", "0", "--script", str(bad)])
    assert result.exit_code == 1
    assert "cannot load scripts" in result.output


async def test_demo_mode_answers_json_for_a_schema(client: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "required": ["answer", "domain", "confidence"],
        "properties": {
            "answer": {"type": "string"},
            "domain": {"enum": ["data", "security"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    asked = await client.chat.completions.create(
        model="demo", messages=[user("Audit it\n\nInput: {\"domain\": \"security\"}")],
        response_format=response_format,
    )  # fmt: skip
    answer = json.loads(asked.choices[0].message.content or "")
    assert answer == {"answer": answer["answer"], "domain": "security", "confidence": 0}
    assert answer["answer"].startswith("Demo answer to: Audit it")

    # CapeControl's repair request carries the schema: the demo answers it, also after a tool.
    history: list[Any] = [
        user("Plan my trip"),
        assistant("not JSON"),
        user(repair_request([], schema)),
    ]
    repaired = await client.chat.completions.create(
        model="demo", messages=history, tools=[WRITE_FILE_TOOL], stream=False
    )
    assert json.loads(repaired.choices[0].message.content or "")["domain"] == "data"
    plain = await client.chat.completions.create(
        model="demo", messages=[user("hi")], response_format={"type": "json_object"}
    )
    assert plain.choices[0].message.content == "{}"


async def test_demo_mode_searches_the_docs_and_quotes_the_best_section(
    client: openai.AsyncOpenAI,
) -> None:
    docs_tool: Any = {**WRITE_FILE_TOOL, "function": {**WRITE_FILE_TOOL["function"]}}
    docs_tool["function"]["name"] = "docs_search"
    first = await client.chat.completions.create(
        model="demo", messages=[user("approve a call")], tools=[docs_tool]
    )
    [call_] = first.choices[0].message.tool_calls or []
    assert call_.function.name == "docs_search"  # type: ignore[union-attr]
    assert json.loads(call_.function.arguments) == {"query": "approve a call"}  # type: ignore[union-attr]
    passage = Passage("concepts.md", "Concepts - Approvals", "approvals", "Approve it.", 2)
    found = render_results("approve a call", [passage, passage])
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {}}}
    history: list[Any] = [
        user("approve a call"),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call_.id, "content": found},
        assistant("plain text"),
        user(repair_request(["not JSON"], schema)),
    ]
    answered = await client.chat.completions.create(
        model="demo", messages=history, tools=[docs_tool]
    )
    answer = json.loads(answered.choices[0].message.content or "")["answer"]
    assert answer == (
        "Demo answer to: approve a call\n\n"
        f"Concepts - Approvals\npath: {passage.path}\n\nApprove it."
    )
