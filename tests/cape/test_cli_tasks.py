"""`cape run` and `cape tasks ...` against the real API, worker and scripted LLM."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from temporalio.worker import Worker

from cli.render import Renderer
from cli.sse import parse_sse
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, Turn
from cli.testing.scripts import DEMO_DONE_TEXT
from tests.conftest import Api
from tests.harness import ROOT, free_port


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def cape(
    api_url: str, key: str | None, *args: str, env: dict[str, str] | None = None
) -> Result:
    """Run `python -m cli` as a real process.

    Not CliRunner: the API serves from this test's event loop and logs to sys.stdout, which
    CliRunner would swap for the whole process while the command runs.
    """
    options = ["--api-url", api_url] + (["--api-key", key] if key is not None else [])
    split = 2 if args[0] == "tasks" else 1
    argv = [*args[:split], *options, *args[split:]]
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CAPE_API_KEY", "CAPE_API_URL", "CAPE_DATA_DIR")
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv,
        cwd=ROOT, env=base | (env or {}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def create(api: Api, prompt: str = "hello from the cli", **extra: Any) -> str:
    body = {"agent": "assistant", "input": {"prompt": prompt}, **extra}
    response = await api.http.post("/v1/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def finished(api: Api, task_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/tasks/{task_id}/wait", params={"timeout": 120}, timeout=150)
    task: dict[str, Any] = response.json()
    assert task["status"] in {"succeeded", "failed", "canceled"}, task
    return task


def script(name: str, *turns: Turn) -> Script:
    return Script(name=f"{name}-{uuid.uuid4().hex[:8]}", turns=list(turns))


async def test_run_follows_the_task_to_its_answer(api: Api, worker: Worker) -> None:
    result = await cape(api.url, api.key, "run", "write me a haiku", "--model", "demo")
    assert result.exit_code == 0, result.output
    stdout = result.stdout
    lines = stdout.splitlines()
    assert lines[0].startswith("task task_") and "(assistant, model demo)" in lines[0]
    task_id = lines[0].split()[1]
    assert "[1] workspace ... done" in lines
    assert any(line.startswith("[2] llm: demo ... done (") and "tokens)" in line for line in lines)
    assert any(line.startswith("    -> write_file {") and "answer.md" in line for line in lines)
    assert any(line.startswith("    <- ok: ") for line in lines)
    assert "[3] tool: write_file ... done" in lines
    # The answer streams inline from token deltas, then comes again under the final status.
    assert lines.count(DEMO_DONE_TEXT) == 2, stdout
    assert any(line.startswith("succeeded (4 steps, ") for line in lines), stdout
    assert lines[-1] == DEMO_DONE_TEXT
    assert (await finished(api, task_id))["output"] == {"answer": DEMO_DONE_TEXT}


async def test_run_no_follow_prints_the_id_and_is_idempotent(api: Api, worker: Worker) -> None:
    key = f"cli-{uuid.uuid4().hex}"
    args = ("run", "same task twice", "--no-follow", "--idempotency-key", key)
    first = await cape(api.url, api.key, *args)
    second = await cape(api.url, api.key, *args, "--json")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    task_id = first.stdout.strip()
    assert task_id.startswith("task_")
    assert json.loads(second.stdout)["id"] == task_id
    await finished(api, task_id)


async def test_run_exits_1_when_the_task_fails_and_shows_retries(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    flaky = script("flaky", Turn(content="fine after all", faults=[Fault(status=503)]))
    broken = script("broken", Turn(content="never", faults=[Fault(status=400, message="bad")]))
    fake_llm.add_script(flaky)
    fake_llm.add_script(broken)

    ok = await cape(api.url, api.key, "run", "try", "--model", f"script:{flaky.name}")
    assert ok.exit_code == 0, ok.output
    assert f"[2] llm: script:{flaky.name} ... attempt 1 failed (LLMHttp503: " in ok.stdout
    assert "retrying" in ok.stdout and "(attempt 2)" in ok.stdout
    assert ok.stdout.splitlines()[-1] == "fine after all"

    bad = await cape(api.url, api.key, "run", "try", "--model", f"script:{broken.name}")
    assert bad.exit_code == 1, bad.output
    assert f"[2] llm: script:{broken.name} ... failed: LLMHttp400: " in bad.stdout
    assert "\nfailed (2 steps)\n" in bad.stdout
    assert "error: LLMHttp400: LLM request failed with HTTP 400" in bad.stdout


async def test_ls_lists_the_task_and_pages_with_all(api: Api, worker: Worker) -> None:
    agent_tasks = [await create(api, f"listed {n}") for n in range(3)]
    for task_id in agent_tasks:
        await finished(api, task_id)

    table = await cape(api.url, api.key, "tasks", "ls", "--status", "succeeded")
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "AGENT", "MODEL", "CREATED", "TOKENS", "PROMPT"]
    row = next(r for r in rows if r.startswith(agent_tasks[-1]))
    assert row.split()[1:4] == ["succeeded", "assistant", "demo"]
    assert row.endswith("listed 2")

    one = await cape(api.url, api.key, "tasks", "ls", "--limit", "1", "--json")
    page = json.loads(one.stdout)
    assert [t["id"] for t in page["items"]] == [agent_tasks[-1]] and page["next_cursor"]
    assert "more tasks" not in one.stderr

    every = await cape(api.url, api.key, "tasks", "ls", "--limit", "1", "--all", "--json")
    listed = [t["id"] for t in json.loads(every.stdout)["items"]]
    assert listed[:3] == agent_tasks[::-1]
    assert len(listed) == len(set(listed))

    none = await cape(api.url, api.key, "tasks", "ls", "--agent", "nobody")
    assert none.exit_code == 0 and none.stdout.strip() == "no tasks"


async def test_show_prints_the_task_and_its_steps(api: Api, worker: Worker) -> None:
    task_id = await create(api, "show me")
    await finished(api, task_id)

    shown = await cape(api.url, api.key, "tasks", "show", task_id)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"id:       {task_id}" in out and "status:   succeeded" in out
    assert f"answer:\n  {DEMO_DONE_TEXT}" in out
    steps = out.split("steps:\n", 1)[1].splitlines()
    assert steps[0].split() == ["#", "NAME", "KIND", "STATUS", "ATTEMPT", "TIME", "TOKENS"]
    assert [line.split()[:2] for line in steps[1:]] == [
        ["1", "workspace"],
        ["2", "llm:"],
        ["3", "tool:"],
        ["4", "llm:"],
    ]
    assert all(" succeeded " in line for line in steps[1:])

    as_json = json.loads((await cape(api.url, api.key, "tasks", "show", task_id, "--json")).stdout)
    assert as_json["task"]["id"] == task_id
    assert [s["name"] for s in as_json["steps"]] == [
        "workspace", "llm: demo", "tool: write_file", "llm: demo",
    ]  # fmt: skip


async def test_follow_json_emits_jsonl_ending_with_end(api: Api, worker: Worker) -> None:
    task_id = await create(api, "stream me")
    result = await cape(api.url, api.key, "tasks", "follow", task_id, "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    *data, end = events
    assert [e["seq"] for e in data] == list(range(1, len(data) + 1))
    assert {e["task_id"] for e in data} == {task_id}
    assert data[0]["type"] == "task-created" and data[-1]["type"] == "task-succeeded"
    assert end["type"] == "end"
    assert end["data"] == {"status": "succeeded", "last_seq": data[-1]["seq"]}

    # --since resumes after an event; the live view of an ended task still ends with its answer.
    resumed = await cape(api.url, api.key, "tasks", "follow", task_id, "--since", "3", "--json")
    assert json.loads(resumed.stdout.splitlines()[0])["seq"] == 4
    view = await cape(api.url, api.key, "tasks", "follow", task_id, "--since", str(len(data)))
    assert view.exit_code == 0, view.output
    assert view.stdout.splitlines()[-2:] == ["succeeded", DEMO_DONE_TEXT]


@asynccontextmanager
async def cutting_proxy(upstream: str, cut_after: int) -> AsyncIterator[str]:
    """A TCP proxy that drops the first event stream after `cut_after` response bytes."""
    host, port = upstream.removeprefix("http://").split(":")
    cut = asyncio.Event()

    async def pipe(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(host, int(port))
        is_stream = asyncio.Event()

        async def upward() -> None:
            while data := await client_r.read(65536):
                if b"/events" in data:
                    is_stream.set()
                up_w.write(data)
                await up_w.drain()

        async def downward() -> None:
            sent = 0
            while data := await up_r.read(65536):
                if is_stream.is_set() and not cut.is_set():
                    if sent + len(data) >= cut_after:
                        client_w.write(data[: cut_after - sent])
                        await client_w.drain()
                        cut.set()
                        client_w.transport.abort()
                        return
                    sent += len(data)
                client_w.write(data)
                await client_w.drain()

        try:
            await asyncio.wait(
                [asyncio.create_task(upward()), asyncio.create_task(downward())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for writer in (up_w, client_w):
                with suppress(Exception):
                    writer.close()

    server = await asyncio.start_server(pipe, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        assert cut.is_set(), "the proxy never cut a stream"
    finally:
        server.close()


async def test_follow_reconnects_with_last_event_id(api: Api, worker: Worker) -> None:
    task_id = await create(api, "a stream that breaks")
    await finished(api, task_id)
    async with cutting_proxy(api.url, cut_after=900) as url:
        result = await cape(url, api.key, "tasks", "follow", task_id, "--json")
    assert result.exit_code == 0, result.output
    assert "connection lost" in result.stderr and "reconnecting from event" in result.stderr
    *data, end = [json.loads(line) for line in result.stdout.splitlines()]
    # Every event exactly once, in order, across the two connections.
    assert [e["seq"] for e in data] == list(range(1, len(data) + 1))
    assert end["type"] == "end" and end["data"]["last_seq"] == len(data)


async def test_cancel_and_wait(api: Api, worker: Worker, fake_llm: FakeLLMServer) -> None:
    slow = script("slow", Turn(content="too late", delay_seconds=15))
    fake_llm.add_script(slow)
    created = await cape(
        api.url, api.key, "run", "wait for it", "--model", f"script:{slow.name}", "--no-follow"
    )
    task_id = created.stdout.strip()

    pending = await cape(api.url, api.key, "tasks", "wait", task_id, "--timeout", "0.5")
    assert pending.exit_code == 2, pending.output
    assert pending.stdout.startswith(f"{task_id}: ")

    canceled = await cape(api.url, api.key, "tasks", "cancel", task_id)
    assert canceled.exit_code == 0, canceled.output
    assert canceled.stdout.startswith(f"cancel requested for {task_id}")

    waited = await cape(api.url, api.key, "tasks", "wait", task_id, "--timeout", "60", "--json")
    assert waited.exit_code == 1, waited.output
    assert json.loads(waited.stdout)["status"] == "canceled"

    again = await cape(api.url, api.key, "tasks", "cancel", task_id)
    assert again.exit_code == 1
    assert again.stderr.startswith("error: conflict: ")


async def test_api_errors_are_one_clear_line(api: Api) -> None:
    bad_key = await cape(api.url, "cape_not-a-real-key", "tasks", "ls")
    assert bad_key.exit_code == 1
    assert bad_key.stderr.startswith("error: unauthorized: unknown API key\n")
    assert "hint: pass --api-key" in bad_key.stderr
    assert "Traceback" not in bad_key.output

    missing = await cape(api.url, api.key, "tasks", "show", "task_doesnotexist")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: not_found: task 'task_doesnotexist' not found")

    follow_missing = await cape(api.url, api.key, "tasks", "follow", "task_doesnotexist")
    assert follow_missing.exit_code == 1
    assert follow_missing.stderr.startswith("error: not_found: ")

    invalid = await cape(api.url, api.key, "run", "", "--no-follow")
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith("error: invalid_input: ")
    assert "  input.prompt: " in invalid.stderr


async def test_unreachable_api_is_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("tasks", "ls"), ("tasks", "follow", "task_x"), ("run", "hi")):
        result = await cape(url, "k", *args)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"error: cannot reach the CapeControl API at {url} — is `cape dev` running?\n"
        )
    wrong = await cape("localhost:8000", "k", "tasks", "ls")
    assert wrong.exit_code == 1 and "must start with http://" in wrong.stderr


async def test_key_defaults_to_the_dev_key_file(api: Api, tmp_path: Path) -> None:
    (tmp_path / "dev-api-key").write_text(api.key + "\n")
    result = await cape(api.url, None, "tasks", "ls", env={"CAPE_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    from_env = await cape(
        api.url, None, "tasks", "ls", env={"CAPE_DATA_DIR": str(tmp_path), "CAPE_API_KEY": "nope"}
    )
    assert from_env.exit_code == 1 and "unauthorized" in from_env.stderr


def test_parse_sse_keeps_only_complete_messages() -> None:
    lines = [
        "retry: 1000", "",
        ": ping", "",
        "id: 7", "event: messages", 'data: {"a":', "data: 1}", "",
        "id: 8", "event: messages", "data: {}",  # cut before its blank line
    ]  # fmt: skip
    messages = list(parse_sse(lines))
    assert [(m.event, m.comment, m.retry) for m in messages[:2]] == [
        ("", None, 1000),
        ("", "ping", None),
    ]
    assert (messages[2].id, messages[2].event, messages[2].data) == ("7", "messages", '{"a":\n1}')
    assert len(messages) == 3


def envelope(seq: int, type_: str, step: int | None, **data: Any) -> dict[str, Any]:
    step_id = None if step is None else str(step)
    return {"seq": seq, "task_id": "t", "step_id": step_id, "type": type_, "data": data}


def test_renderer_interleaves_parallel_steps_and_streams_text() -> None:
    events = [
        envelope(1, "step-started", 2, name="llm: m", attempt=1),
        envelope(2, "tool-call", 2, id="a", name="read_file", arguments='{"path": "x"}'),
        envelope(3, "usage", 2, total_tokens=12),
        envelope(4, "step-finished", 2, name="llm: m", status="succeeded"),
        envelope(5, "step-started", 3, name="tool: read_file", attempt=1),
        envelope(6, "step-started", 4, name="tool: read_file", attempt=1),
        envelope(7, "step-finished", 3, name="tool: read_file", status="succeeded"),
        envelope(8, "tool-result", 4, id="b", name="read_file", ok=False, content="error: x" * 50),
        envelope(9, "step-finished", 4, name="tool: read_file", status="failed"),
        envelope(10, "step-started", 5, name="llm: m", attempt=1),
        envelope(11, "token-delta", 5, text="Hel"),
        envelope(12, "token-delta", 5, text="lo"),
        envelope(13, "assistant-message", 5, content="Hello"),
        envelope(14, "step-finished", 5, name="llm: m", status="succeeded"),
        envelope(15, "task-succeeded", None, status="succeeded", output={"answer": "Hello"}),
    ]

    @click.command()
    def view() -> None:
        renderer = Renderer()
        for event in events:
            renderer.handle(event)

    out = CliRunner().invoke(view).stdout.splitlines()
    assert out[:2] == ["[2] llm: m ...", '    -> read_file {"path": "x"}']
    assert out[2:6] == [
        "[2] llm: m ... done (12 tokens)",
        "[3] tool: read_file ...",
        "[4] tool: read_file ...",
        "[3] tool: read_file ... done",
    ]
    assert out[6].startswith("    <- error: xerror: x") and out[6].endswith(
        "..."
    )  # not "error: error:"
    assert len(out[6]) == len("    <- error: ") + 200
    assert out[7:] == [
        "[4] tool: read_file ... failed",
        "[5] llm: m ...",
        "Hello",
        "[5] llm: m ... done",
        "",
        "succeeded (5 steps, 12 tokens)",
        "Hello",
    ]


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_renderer_final_status_with_error(status: str) -> None:
    @click.command()
    def view() -> None:
        Renderer().final(status, None, {"type": "Boom", "message": "it broke"})

    assert CliRunner().invoke(view).stdout == f"\n{status}\nerror: Boom: it broke\n"
