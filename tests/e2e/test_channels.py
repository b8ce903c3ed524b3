"""Channels through the real workflow: tasks of a delegation tree message each other.

A parent and two children (linked as `delegate` links them, see channel_support.py) exchange
messages parent→child, child→parent and child→sibling; each reads them in a later step,
`read_messages` with a wait wakes when one arrives, refusals are tool errors the model reads,
every message is a `message` event on both tasks' logs and their streams, and a send run twice
with the same step delivers and logs it once.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.worker import Worker

from activities.channels import Messenger
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, stack, wait_status
from tests.e2e.channel_support import channel_agent, future_id, link, relate, start_scripted
from tests.e2e.tooling import call, events_of, pretty, results, tool_steps, wait_task
from tests.harness import read_sse, wait_until

READ_LONG = call("read_messages", wait_seconds=600)  # ends only because a message came


async def answered(api: Api, fake_llm: FakeLLMServer, agent: str, *answers: str) -> list[str]:
    """Tasks of `agent` that answered at once, one per answer, all ended."""
    tasks = [await start_scripted(api, fake_llm, agent, [Turn(content=a)]) for a in answers]
    for task in tasks:
        assert (await wait_task(api, task))["status"] == "succeeded"
    return tasks


def inbound(events: list[object]) -> list[dict[str, object]]:
    return [dict(e.data) for e in events if e.data["direction"] == "in"]  # type: ignore[attr-defined]


async def test_parent_children_and_siblings_exchange_messages(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await channel_agent(api)
    first = await start_scripted(
        api,
        fake_llm,
        agent,
        [
            Turn(tool_calls=[READ_LONG]),
            Turn(tool_calls=[call("send_message", to="parent", text="child one: on it")]),
            Turn(tool_calls=[call("send_message", to="siblings", text="hello sibling")]),
            Turn(content="child one done"),
        ],
    )
    second = await start_scripted(
        api, fake_llm, agent, [Turn(tool_calls=[READ_LONG]), Turn(content="child two done")]
    )

    async def waiting() -> bool:  # the live state says what the task waits for
        live = (await api.http.get(f"/v1/tasks/{second}", params={"live": "true"})).json()
        return str((live.get("live") or {}).get("current_step")).startswith(
            "read_messages: waiting up to 600 s"
        )

    await wait_until(waiting, "the second child waiting for a message")
    key = f"parent-{uuid.uuid4().hex}"
    parent_id = await future_id(settings, first, key)
    await link(settings, parent_id, first, second)
    parent = await start_scripted(
        api,
        fake_llm,
        agent,
        [
            Turn(tool_calls=[call("send_message", to=first, text="please start")]),
            Turn(tool_calls=[READ_LONG]),
            Turn(content="all done"),
        ],
        key=key,
    )
    assert parent == parent_id
    done = {t: await wait_task(api, t) for t in (parent, first, second)}
    assert all(d["status"] == "succeeded" for d in done.values()), pretty(done)

    # Each read the message sent to it, in a later step than the send.
    read_by_first = results(await events_of(settings, first, "tool-result"))[0]
    assert read_by_first["ok"] and f"from {parent}" in read_by_first["content"], read_by_first
    assert "please start" in read_by_first["content"]
    read_by_parent = results(await events_of(settings, parent, "tool-result"))[1]
    assert f"from {first} ({agent})" in read_by_parent["content"], read_by_parent
    assert "child one: on it" in read_by_parent["content"]
    read_by_second = results(await events_of(settings, second, "tool-result"))[0]
    assert "hello sibling" in read_by_second["content"] and first in read_by_second["content"]
    assert "please start" not in read_by_second["content"]

    # Both logs hold each message, on channel `messages`, with the same id.
    parent_log = await events_of(settings, parent, "message")
    first_log = await events_of(settings, first, "message")
    second_log = await events_of(settings, second, "message")
    assert {e.channel for e in parent_log + first_log + second_log} == {"messages"}
    assert [(m["from"], m["text"]) for m in inbound(parent_log)] == [(first, "child one: on it")]
    assert [(m["from"], m["text"]) for m in inbound(second_log)] == [(first, "hello sibling")]
    sent = [dict(e.data) for e in first_log if e.data["direction"] == "out"]
    assert [(m["to"], m["recipients"]) for m in sent] == [
        ("parent", [parent]),
        ("siblings", [second]),
    ]
    assert {m["id"] for m in sent} == {m["id"] for m in inbound(parent_log) + inbound(second_log)}

    # The stream carries them too.
    stream = await read_sse(api.http, f"/v1/tasks/{first}/events")
    streamed = [m for m in stream if isinstance(m.get("data"), dict)]
    carried = [m["data"] for m in streamed if m["data"].get("type") == "message"]
    assert [(m["channel"], m["data"]["text"]) for m in carried] == [
        ("messages", "please start"),
        ("messages", "child one: on it"),
        ("messages", "hello sibling"),
    ], pretty(stream)

    # The messages route lists them.
    listed = await api.http.get(f"/v1/tasks/{first}/messages")
    assert listed.status_code == 200, listed.text
    assert [m["text"] for m in listed.json()["items"]] == [
        "please start",
        "child one: on it",
        "hello sibling",
    ]
    first_page = (await api.http.get(f"/v1/tasks/{first}/messages", params={"limit": 2})).json()
    assert [m["direction"] for m in first_page["items"]] == ["in", "out"]
    rest = await api.http.get(
        f"/v1/tasks/{first}/messages", params={"cursor": first_page["next_cursor"]}
    )
    assert [m["text"] for m in rest.json()["items"]] == ["hello sibling"]
    assert rest.json()["next_cursor"] is None


async def test_messages_outside_the_tree_are_refused(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await channel_agent(api)
    ended, stranger = await answered(api, fake_llm, agent, "finished", "not related")
    key = f"lonely-{uuid.uuid4().hex}"
    sender = await future_id(settings, ended, key)
    await link(settings, sender, ended)
    calls = [
        call("send_message", to=ended, text="are you there?"),
        call("send_message", to=stranger, text="hello stranger"),
        call("send_message", to=ended, text="x" * 2001),
        call("send_message", to="parent", text="hi"),
        call("send_message", to="siblings", text="hi"),
    ]
    turns = [Turn(tool_calls=[c]) for c in calls]  # one by one: results in this order
    turns += [Turn(tool_calls=[call("read_messages")]), Turn(content="ok")]
    assert await start_scripted(api, fake_llm, agent, turns, key=key) == sender
    assert (await wait_task(api, sender))["status"] == "succeeded"

    out = results(await events_of(settings, sender, "tool-result"))
    errors = [r["content"] for r in out[:5]]
    assert not any(r["ok"] for r in out[:5]), pretty(out)
    assert f"task {ended}" in errors[0] and "has ended (succeeded)" in errors[0]
    assert "not your parent, one of your children or a sibling" in errors[1]
    assert "text: 2001 characters, above the limit of 2000" in errors[2]
    assert "has no parent" in errors[3]
    assert "has no siblings" in errors[4]
    assert out[5]["ok"] and out[5]["content"] == "no new messages"
    assert await events_of(settings, sender, "message") == []
    assert await events_of(settings, stranger, "message") == []


async def test_a_send_run_again_delivers_once(
    api: Api, worker: Worker, client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await channel_agent(api)
    sender = await start_scripted(api, fake_llm, agent, [Turn(content="sent later")])
    turns = [
        Turn(tool_calls=[READ_LONG]),
        Turn(tool_calls=[call("read_messages", wait_seconds=1)]),
        Turn(content="read"),
    ]
    reader = await start_scripted(api, fake_llm, agent, turns)
    await link(settings, sender, reader)
    # What a send step retried after a crash does: the same sender and step, sent again.
    engine = create_engine(settings)
    try:
        messenger = Messenger(session_factory(engine), client)
        ids = {(await messenger.send(sender, 7, reader, "only once")).id for _ in range(2)}
    finally:
        await engine.dispose()
    assert ids == {f"msg-{sender}-7"}
    assert (await wait_task(api, reader))["status"] == "succeeded"
    reads = results(await events_of(settings, reader, "tool-result"))
    assert reads[0]["content"].count("only once") == 1, reads
    assert reads[1]["content"] == "no new messages", reads
    assert len(await events_of(settings, reader, "message")) == 1
    assert len(await events_of(settings, sender, "message")) == 1


async def test_the_tree_and_children_views(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent = await channel_agent(api)
    root, child, grandchild, rerun = await answered(
        api, fake_llm, agent, "root", "child", "grandchild", "a rerun, not a child"
    )
    await link(settings, root, child)
    await link(settings, child, grandchild)
    await link(settings, root, rerun)
    await relate(settings, rerun, "rerun")  # parent_id set, but not delegated

    view = (await api.http.get(f"/v1/tasks/{root}")).json()
    assert view["children"] == [{"id": child, "agent": agent, "status": "succeeded"}]
    middle = (await api.http.get(f"/v1/tasks/{child}")).json()
    assert (middle["parent_id"], middle["relation"]) == (root, "delegated")
    assert [c["id"] for c in middle["children"]] == [grandchild]

    tree = (await api.http.get(f"/v1/tasks/{grandchild}/tree")).json()
    assert (tree["root_id"], tree["task_id"], tree["truncated"]) == (root, grandchild, False)
    nodes = [(n["id"], n["parent_id"], n["depth"], n["status"]) for n in tree["nodes"]]
    assert nodes == [
        (root, None, 0, "succeeded"),
        (child, root, 1, "succeeded"),
        (grandchild, child, 2, "succeeded"),
    ]
    assert all(n["usage"]["total_tokens"] > 0 for n in tree["nodes"]), tree
    summed = sum(n["usage"]["total_tokens"] for n in tree["nodes"])
    assert tree["usage"]["total_tokens"] == summed

    alone = (await api.http.get(f"/v1/tasks/{rerun}/tree")).json()
    assert [n["id"] for n in alone["nodes"]] == [rerun]
    empty = (await api.http.get(f"/v1/tasks/{root}/messages")).json()
    assert empty == {"items": [], "next_cursor": None}
    bad = await api.http.get(f"/v1/tasks/{root}/messages", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text


async def test_unread_messages_survive_continue_as_new(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    # A small history limit: the workflow continues as new at its next step boundary, here
    # while two messages wait unread in its inbox.
    async with stack(client, settings, history_events_limit=20) as api:
        agent = await publish(
            api,
            spec(tools=[{"name": "write_file", "approval": True}, "read_messages"]),
        )
        (sender,) = await answered(api, fake_llm, agent, "the parent")
        turns = [
            Turn(tool_calls=[call("write_file", path="a.txt", content="a")]),
            Turn(tool_calls=[call("read_messages")]),
            Turn(content="read both"),
        ]
        reader = await start_scripted(api, fake_llm, agent, turns)
        await link(settings, sender, reader)
        waiting = await wait_status(api, reader, "input_required")
        engine = create_engine(settings)
        try:
            messenger = Messenger(session_factory(engine), client)
            for step, text in ((3, "first"), (4, "second")):
                await messenger.send(sender, step, reader, text)
        finally:
            await engine.dispose()
        answer = {"request_id": waiting["pending_input"]["id"], "action": "approve"}
        assert (await api.http.post(f"/v1/tasks/{reader}/input", json=answer)).status_code == 200
        assert (await wait_task(api, reader))["status"] == "succeeded"
    runs = [e.run_id async for e in client.list_workflows(f'WorkflowId = "{reader}"')]
    assert len(runs) >= 2, runs
    read = results(await events_of(settings, reader, "tool-result"))[1]["content"]
    assert read.startswith("2 new message(s):") and "first" in read and "second" in read, read


async def test_a_send_step_retried_after_a_timeout_delivers_once(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    """A real retry: the send step's first attempt signals, then waits on a row lock the test
    holds on the recipient's task until Temporal times the attempt out and runs it again."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("holds a row lock: PostgreSQL only (SQLite would lock every writer)")
    # The attempt times out after tool_timeout_seconds; the workspace setup shares that timeout,
    # so it leaves room for a setup slowed by a loaded machine.
    async with stack(client, settings, tool_timeout_seconds=10.0) as api:
        agent = await channel_agent(api)
        turns = [
            Turn(tool_calls=[READ_LONG]),
            Turn(tool_calls=[call("read_messages", wait_seconds=1)]),
            Turn(content="read"),
        ]
        reader = await start_scripted(api, fake_llm, agent, turns)
        key = f"retried-{uuid.uuid4().hex}"
        sender = await future_id(settings, reader, key)
        await link(settings, sender, reader)

        async def reader_waits() -> bool:
            live = (await api.http.get(f"/v1/tasks/{reader}", params={"live": "true"})).json()
            return str((live.get("live") or {}).get("current_step")).startswith("read_messages")

        await wait_until(reader_waits, "the reader waiting for a message")
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as held:
                # The recipient's event log is locked: the send's log write waits on it.
                await held.execute(select(Task.id).where(Task.id == reader).with_for_update())
                send = call("send_message", to=reader, text="only once")
                scripted = [Turn(tool_calls=[send]), Turn(content="sent")]
                assert await start_scripted(api, fake_llm, agent, scripted, key=key) == sender

                async def second_attempt() -> bool:
                    started = await events_of(settings, sender, "step-started")
                    sends = [e for e in started if e.data["name"] == "tool: send_message"]
                    return any(e.data["attempt"] >= 2 for e in sends)

                await wait_until(second_attempt, "the send step's second attempt")
                await held.rollback()
        finally:
            await engine.dispose()
        for task in (sender, reader):
            assert (await wait_task(api, task))["status"] == "succeeded"
    (send_step,) = await tool_steps(settings, sender)
    assert send_step.attempt >= 2 and send_step.status == "succeeded"
    (result,) = results(await events_of(settings, sender, "tool-result"))
    assert result["ok"] and f"sent msg-{sender}-3 to {reader}" in result["content"], result
    reads = results(await events_of(settings, reader, "tool-result"))
    assert reads[0]["content"].count("only once") == 1, reads
    assert reads[1]["content"] == "no new messages", reads
    assert [e.data["direction"] for e in await events_of(settings, reader, "message")] == ["in"]
    assert [e.data["direction"] for e in await events_of(settings, sender, "message")] == ["out"]
