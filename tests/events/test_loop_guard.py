"""Tasks publish events (`publish_event`); the causation chain and the loop guard."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn
from tests.conftest import Api
from tests.e2e.agent_support import stack
from tests.events.support import own_team, publish, routed, triggered_agent


def publishing_model(fake_llm: FakeLLMServer, event_type: str) -> str:
    """A scripted model that publishes one `event_type` event, then answers."""
    name = f"pub-{uuid.uuid4().hex[:8]}"
    call = ScriptedToolCall(name="publish_event", arguments={"type": event_type, "data": {"n": 1}})
    fake_llm.add_script(Script(name=name, turns=[Turn(tool_calls=[call]), Turn(content="done")]))
    return f"script:{name}"


async def published_by_task(http: httpx.AsyncClient, event_type: str) -> dict[str, Any]:
    """The routed event of `event_type` a task published."""
    async with asyncio.timeout(90):
        while True:
            items = (await http.get("/v1/events", params={"type": event_type})).json()["items"]
            if items and items[0]["status"] != "pending":
                return await routed(http, items[0]["id"])
            await asyncio.sleep(0.2)


async def test_a_task_publishes_an_event_that_starts_another_agent_and_loops_are_stopped(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    async with own_team(api, settings) as http:
        model = {"name": publishing_model(fake_llm, "chain.next")}
        first = await triggered_agent(
            http, {"event": "chain.start"}, tools=["publish_event"], model=model
        )
        second = await triggered_agent(
            http, {"event": "chain.next", "input": {"prompt": "next {{ event.data.n }}"}}
        )
        start = await routed(http, (await publish(http, "chain.start"))["id"])
        assert start["routes"][0]["agent"] == first
        following = await published_by_task(http, "chain.next")
        assert following["causation_id"] == start["id"] and following["depth"] == 1
        assert following["source"] == f"task:{start['routes'][0]['task_id']}"
        [route] = following["routes"]
        assert route["agent"] == second and route["status"] == "started"
        assert route["input"] == {"prompt": "next 1"}

        looping = {"name": publishing_model(fake_llm, "loop.again")}
        again = await triggered_agent(
            http, {"event": "loop.again"}, tools=["publish_event"], model=looping
        )
        origin = await routed(http, (await publish(http, "loop.again"))["id"])
        assert origin["status"] == "routed"
        async with asyncio.timeout(90):
            while True:
                items = (await http.get("/v1/events", params={"type": "loop.again"})).json()
                if len(items["items"]) == 2 and items["items"][0]["status"] != "pending":
                    break
                await asyncio.sleep(0.2)
        echo = await routed(http, items["items"][0]["id"])
        assert echo["status"] == "failed" and echo["causation_id"] == origin["id"]
        [route] = echo["routes"]
        assert route["agent"] == again and route["task_id"] is None
        assert "loop" in route["reason"]


async def test_a_chain_deeper_than_the_limit_is_stopped_with_the_reason(
    client: Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    async with stack(client, settings, event_max_depth=0) as api, own_team(api, settings) as http:
        model = {"name": publishing_model(fake_llm, "deep.next")}
        await triggered_agent(http, {"event": "deep.start"}, tools=["publish_event"], model=model)
        await triggered_agent(http, {"event": "deep.next"})
        await routed(http, (await publish(http, "deep.start"))["id"])
        deep = await published_by_task(http, "deep.next")
        assert deep["status"] == "failed" and deep["routes"] == []
        assert "depth 1 exceeds the limit of 0" in deep["reason"]
