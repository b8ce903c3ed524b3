"""Delegation through the real workflow: a manager hands sub-tasks to two agents and sums up.

The children run as child workflows with rows linked to the parent (`parent_id`, `relation`
`delegated`); one shares the parent's workspace, one runs without wait and is collected with
`await_task`; the parent's usage counts theirs, and its stream shows their progress.
"""

from __future__ import annotations

import asyncio
import uuid

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.delegation_support import agent, create, ids, row, rows, script, until_status
from tests.e2e.tooling import call, events_of, pretty, results, wait_task

MANAGER_TOOLS = ["delegate", "await_task", "write_file", "read_file"]


def total(usage: dict[str, float] | None) -> float:
    return float((usage or {}).get("total_tokens") or 0)


async def test_a_manager_delegates_two_sub_tasks_and_sums_up(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    notes = Turn(tool_calls=[call("write_file", path="notes.md", content="A's notes")])
    writer = await agent(
        api, script(fake_llm, [notes, Turn(content="A: notes written")]), ["write_file"]
    )
    reviewer = await agent(api, script(fake_llm, [Turn(content="B: looks good")]), [])
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (a_id, b_id) = ids(key, 3, 4)
    turns = [
        Turn(tool_calls=[
            call("delegate", agent=writer, input="write the notes", share_workspace=True,
                 max_tokens=3000),
            call("delegate", agent=reviewer, input={"prompt": "review"}, wait=False,
                 max_tokens=3000),
        ]),
        Turn(tool_calls=[call("await_task", task_id=b_id, timeout_seconds=60),
                         call("read_file", path=f"delegated/{a_id}/notes.md")]),
        Turn(tool_calls=[call("write_file", path="summary.md", content="A and B agree")]),
        Turn(content="summary written"),
    ]  # fmt: skip
    manager = await agent(api, script(fake_llm, turns), MANAGER_TOOLS)
    assert await create(api, manager, key, max_tokens=20000) == parent
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)
    assert done["output"]["answer"] == "summary written"

    # In call order (parallel calls end in any order).
    out = sorted(results(await events_of(settings, parent, "tool-result")), key=lambda r: r["id"])
    assert [r["name"] for r in out] == ["delegate", "delegate", "await_task", "read_file",
                                        "write_file"], pretty(out)  # fmt: skip
    assert all(r["ok"] for r in out), pretty(out)
    assert "succeeded" in out[0]["content"] and "A: notes written" in out[0]["content"]
    assert f"started delegated task {b_id}" in out[1]["content"]
    assert "B: looks good" in out[2]["content"]
    assert "A's notes" in out[3]["content"]  # the shared workspace: the parent reads A's file
    shared = settings.workspace_root / parent / "delegated" / a_id / "notes.md"
    assert shared.read_text() == "A's notes"

    # The tree: both children link to the parent, in its team, for its owner.
    parent_row = await row(settings, parent)
    children = await rows(settings, parent)
    assert {c.id for c in children} == {a_id, b_id}
    for child in children:
        assert child.relation == "delegated" and child.status == "succeeded"
        assert (child.team_id, child.owner) == (parent_row.team_id, parent_row.owner)
        assert child.limits and child.limits["max_tokens"] == 3000

    # The shared budget: the parent's usage is its own plus its children's.
    own = (parent_row.prompt_tokens or 0) + (parent_row.completion_tokens or 0)
    kids = sum(total(c.usage) for c in children)
    assert kids > 0 and total(parent_row.usage) == own + kids, pretty(parent_row.usage)
    assert total(done["usage"]) == own + kids

    # The parent's stream: each child's start, its steps (no tokens), its end with its usage.
    started = await events_of(settings, parent, "child-started")
    assert {e.data["child_id"] for e in started} == {a_id, b_id}
    assert {e.data["agent"] for e in started} == {writer, reviewer}
    progress = await events_of(settings, parent, "child-progress")
    kinds = [e.data["kind"] for e in progress if e.data["child_id"] == a_id]
    assert kinds[0] == "workspace" and "tool" in kinds and kinds.count("llm") == 2, kinds
    finished = await events_of(settings, parent, "child-finished")
    assert {(e.data["child_id"], e.data["status"]) for e in finished} == {
        (a_id, "succeeded"), (b_id, "succeeded")}  # fmt: skip
    assert all(e.data["usage"]["total_tokens"] > 0 for e in finished)
    assert not await events_of(settings, a_id, "child-started")


async def test_a_child_gets_only_the_budget_left_and_a_delegate_beyond_it_is_refused(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    approval = [{"name": "write_file", "approval": True}]
    write = Turn(tool_calls=[call("write_file", path="c.txt", content="c")])
    asker = await agent(api, script(fake_llm, [write, Turn(content="C done")]), approval)
    other = await agent(api, script(fake_llm, [Turn(content="D")]), [])
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (c_id,) = ids(key, 3)
    turns = [
        Turn(tool_calls=[call("delegate", agent=asker, input="c", wait=False,
                              max_tokens=10_000_000)]),
        Turn(tool_calls=[call("delegate", agent=other, input="d")]),
        Turn(tool_calls=[call("await_task", task_id=c_id, timeout_seconds=120)]),
        Turn(content="done"),
    ]  # fmt: skip
    manager = await agent(api, script(fake_llm, turns), MANAGER_TOOLS)
    await create(api, manager, key, max_tokens=5000)

    waiting = await until_status(api, c_id, "input_required")
    # The parent's stream says it waits on a child's approval.
    for _ in range(100):
        if told := await events_of(settings, parent, "child-waiting"):
            break
        await asyncio.sleep(0.1)
    assert told[0].data["child_id"] == c_id, pretty([e.data for e in told])
    assert told[0].data["pending"]["kind"] == "approval"
    view = (await api.http.get(f"/v1/tasks/{parent}")).json()  # and so does its view
    assert view["waiting_for"]["child_id"] == c_id, pretty(view)
    assert "waits for approval of write_file" in view["waiting_for"]["reason"]
    answer = {"request_id": waiting["pending_input"]["id"], "action": "approve"}
    assert (await api.http.post(f"/v1/tasks/{c_id}/input", json=answer)).status_code == 200
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)

    out = results(await events_of(settings, parent, "tool-result"))
    assert [r["ok"] for r in out] == [True, False, True], pretty(out)
    assert "no max_tokens budget left" in out[1]["content"], out[1]["content"]
    assert "C done" in out[2]["content"]
    (child,) = await rows(settings, parent)  # the refused call made no task
    assert child.id == c_id and child.limits is not None
    assert 0 < child.limits["max_tokens"] < 5000  # what was left, not the 10M asked for
    parent_row = await row(settings, parent)
    own = (parent_row.prompt_tokens or 0) + (parent_row.completion_tokens or 0)
    assert total(parent_row.usage) == own + total(child.usage) > own


async def test_a_failed_child_is_a_tool_error_and_canceling_the_parent_cancels_its_children(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    failing = await agent(api, f"script:missing-{uuid.uuid4().hex[:8]}", [])
    approval = [{"name": "write_file", "approval": True}]
    write = Turn(tool_calls=[call("write_file", path="w.txt", content="w")])
    asker = await agent(api, script(fake_llm, [write, Turn(content="never")]), approval)
    key = f"dlg-{uuid.uuid4().hex}"
    parent, (f_id, w1, w2) = ids(key, 3, 5, 6)
    turns = [
        Turn(tool_calls=[call("delegate", agent=failing, input="f")]),
        Turn(tool_calls=[call("delegate", agent=asker, input="w1", wait=False),
                         call("delegate", agent=asker, input="w2")]),
        Turn(content="never reached"),
    ]  # fmt: skip
    manager = await agent(api, script(fake_llm, turns), MANAGER_TOOLS)
    await create(api, manager, key)
    await until_status(api, w1, "input_required")
    await until_status(api, w2, "input_required")
    first = results(await events_of(settings, parent, "tool-result"))[0]
    assert not first["ok"] and f"delegated task {f_id}" in first["content"], pretty(first)
    assert "failed" in first["content"]
    assert (await row(settings, f_id)).status == "failed"

    canceled = await api.http.post(f"/v1/tasks/{parent}/cancel")
    assert canceled.status_code in (200, 202), canceled.text
    done = await wait_task(api, parent)
    assert done["status"] == "canceled", pretty(done)
    for child in (w1, w2):  # the waited one and the detached one
        ended = await wait_task(api, child)
        assert ended["status"] == "canceled", pretty(ended)


async def test_delegate_with_approval_waits_for_a_person_and_a_refusal_starts_nothing(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    helper = await agent(api, script(fake_llm, [Turn(content="never")]), [])
    turns = [Turn(tool_calls=[call("delegate", agent=helper, input="h")]), Turn(content="ok")]
    tools = [{"name": "delegate", "approval": True}]
    manager = await agent(api, script(fake_llm, turns), tools)
    key = f"dlg-{uuid.uuid4().hex}"
    parent, _ = ids(key)
    await create(api, manager, key)
    waiting = await until_status(api, parent, "input_required")
    assert waiting["pending_input"]["tool"] == "delegate", pretty(waiting)
    answer = {"request_id": waiting["pending_input"]["id"], "action": "reject", "reason": "no"}
    assert (await api.http.post(f"/v1/tasks/{parent}/input", json=answer)).status_code == 200
    done = await wait_task(api, parent)
    assert done["status"] == "succeeded", pretty(done)
    (out,) = results(await events_of(settings, parent, "tool-result"))
    assert not out["ok"] and "rejected" in out["content"], pretty(out)
    assert not await rows(settings, parent)
