"""Operating tasks: pause and resume, rerun, retry from the failed step (Temporal reset)."""

from __future__ import annotations

import uuid

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task, start_task, wait_task
from tests.harness import stored, wait_until


async def _status(api: Api, task_id: str) -> str:
    return str((await api.http.get(f"/v1/tasks/{task_id}")).json()["status"])


async def test_pause_stops_at_the_next_step_boundary_and_resume_carries_on(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(delay_seconds=1.0, tool_calls=[call("write_file", path="a.txt", content="a")]),
        Turn(content="done"),
    ]
    task_id = await start_task(api, fake_llm, turns, agent="assistant")
    await wait_until(lambda: _llm_started(settings, task_id), "the first LLM step")
    paused = await api.http.post(f"/v1/tasks/{task_id}/pause", json={"note": "lunch"})
    assert paused.status_code == 202, paused.text

    async def is_paused() -> bool:
        return await _status(api, task_id) == "paused"

    await wait_until(is_paused, "the task to pause")
    detail = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    assert detail["live"]["paused"] is True
    steps, _ = await stored(settings, task_id)
    assert [s.kind for s in steps] == ["workspace", "llm", "tool"]  # nothing after the boundary
    assert all(s.status == "succeeded" for s in steps)

    resumed = await api.http.post(f"/v1/tasks/{task_id}/resume")
    assert resumed.status_code == 202, resumed.text
    task = await wait_task(api, task_id)
    assert task["status"] == "succeeded", pretty(task)
    _, events = await stored(settings, task_id)
    kinds = [e.type for e in events if e.channel == "lifecycle" and e.type.startswith("task-")]
    assert kinds == [
        "task-created",
        "task-started",
        "task-paused",
        "task-resumed",
        "task-succeeded",
    ]
    assert [e.data.get("note") for e in events if e.type == "task-paused"] == ["lunch"]

    again = await api.http.post(f"/v1/tasks/{task_id}/pause")
    assert again.status_code == 409 and "succeeded" in again.json()["error"]["message"]


async def test_rerun_starts_a_linked_task_with_the_same_input(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    first = await run_task(api, fake_llm, [Turn(content="one")], agent="assistant", prompt="hi")
    rerun = await api.http.post(f"/v1/tasks/{first['id']}/rerun", json={"max_steps": 3})
    assert rerun.status_code == 201, rerun.text
    second = rerun.json()
    assert second["parent_id"] == first["id"] and second["relation"] == "rerun"
    assert second["input"] == first["input"] and second["max_steps"] == 3
    assert rerun.headers["Location"] == f"/v1/tasks/{second['id']}"
    done = await wait_task(api, second["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert done["links"]["temporal_ui"].endswith(f"/workflows/{second['id']}")


async def test_retry_resumes_from_the_failed_step_without_paying_for_earlier_ones(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("write_file", path="notes.txt", content="one\n")]),
        Turn(delay_seconds=1.5, tool_calls=[call("shell", command="echo two >> notes.txt")]),
        Turn(content="done"),
    ]
    name = f"retry-{uuid.uuid4().hex[:8]}"
    task_id = await start_task(api, fake_llm, turns, name=name)
    # Fault: once the first tool step is stored, the task's artifact folder (where every step's
    # snapshot goes) is replaced by a file, so the second tool step cannot be saved.
    await wait_until(lambda: _tool_results(settings, task_id, 1), "the first tool step")
    folder = settings.artifact_root / task_id
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    folder.write_text("in the way")
    failed = await wait_task(api, task_id)
    assert failed["status"] == "failed", pretty(failed)
    assert failed["error"]["step"] == "tool: shell", failed["error"]

    # Fault removed; retry.
    folder.unlink()
    aside.rename(folder)
    retried = await api.http.post(f"/v1/tasks/{task_id}/retry")
    assert retried.status_code == 202, retried.text
    task = await wait_task(api, task_id)
    assert task["status"] == "succeeded", pretty(task)

    workspace = settings.workspace_root / task_id
    assert (workspace / "notes.txt").read_text() == "one\ntwo\n"  # rewound, then run once
    calls = fake_llm.calls(name)
    assert calls[0] == 1 and calls[1] == 1, calls  # finished LLM steps were not paid for again
    _, events = await stored(settings, task_id)
    types = [e.type for e in events]
    assert types.count("task-failed") == 1 and types.count("task-retried") == 1
    assert types[-1] == "task-succeeded"
    assert types.index("task-failed") < types.index("task-retried")
    shell = [r for r in results(events) if r["name"] == "shell"]
    assert shell[-1]["ok"], shell
    restored = [e.data for e in events if e.type == "workspace-restored"]
    assert restored and restored[-1]["reason"] == "step run again", restored

    again = await api.http.post(f"/v1/tasks/{task_id}/retry")
    assert again.status_code == 409 and "only a failed task" in again.json()["error"]["message"]


async def _llm_started(settings: Settings, task_id: str) -> bool:
    steps, _ = await stored(settings, task_id)
    return any(s.kind == "llm" for s in steps)


async def _tool_results(settings: Settings, task_id: str, count: int) -> bool:
    return len(await events_of(settings, task_id, "tool-result")) >= count


async def test_fork_reuses_the_steps_before_the_fork_point_and_the_workspace(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    parent_turns = [
        Turn(tool_calls=[call("write_file", path="plan.md", content="plan v1")]),
        Turn(tool_calls=[call("write_file", path="result.md", content="result A")]),
        Turn(content="A"),
    ]
    parent = await run_task(api, fake_llm, parent_turns, agent="assistant", prompt="do A")
    assert parent["status"] == "succeeded", pretty(parent)
    # Parent steps: 1 workspace, 2 llm, 3 write plan, 4 llm, 5 write result, 6 llm.
    name = f"fork-{uuid.uuid4().hex[:8]}"
    fork_turns = [
        *parent_turns[:1],  # turn 0 is reused from the parent, never asked here
        Turn(tool_calls=[call("write_file", path="result.md", content="result B")]),
        Turn(content="B"),
    ]
    from cli.testing.fake_llm import Script

    fake_llm.add_script(Script(name=name, turns=fork_turns))
    forked = await api.http.post(
        f"/v1/tasks/{parent['id']}/fork",
        json={"step": 4, "input_patch": {"prompt": "do B"}, "model": f"script:{name}"},
    )
    assert forked.status_code == 201, forked.text
    child = forked.json()
    assert child["parent_id"] == parent["id"] and child["relation"] == "fork"
    assert child["input"]["prompt"] == "do B"
    done = await wait_task(api, child["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert done["output"] == {"answer": "B"}

    calls = fake_llm.calls(name)
    assert calls.get(0, 0) == 0 and calls[1] == 1, calls  # the reused turn was not asked again
    steps, _ = await stored(settings, child["id"])
    assert [(s.step_no, s.kind) for s in steps] == [
        (1, "workspace"), (2, "llm"), (3, "tool"), (4, "llm"), (5, "tool"), (6, "llm"),
    ]  # fmt: skip
    workspace = settings.workspace_root / child["id"]
    assert (workspace / "plan.md").read_text() == "plan v1"  # from the parent's snapshot
    assert (workspace / "result.md").read_text() == "result B"

    bad = await api.http.post(f"/v1/tasks/{parent['id']}/fork", json={"step": 3})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "body.step"
