"""Helpers of the instances tests: scripted agents, instances, polling their state."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.e2e.agent_support import spec


def answering_model(fake_llm: FakeLLMServer, text: str = "done") -> str:
    """A scripted model that answers at once (every task's first turn)."""
    name = f"inst-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[Turn(content=text)]))
    return f"script:{name}"


async def agent(http: httpx.AsyncClient, model: str, version: str = "1.0.0", name: str = "") -> str:
    """Publish a version of an agent that runs on `model`; returns its name."""
    data = spec(version=version, model={"name": model}, tools=[])
    if name:
        data["name"] = name
        created = await http.post(f"/v1/agents/{name}/versions", params={"publish": "true"},
                                  json=data)  # fmt: skip
    else:
        created = await http.post("/v1/agents", params={"publish": "true"}, json=data)
    assert created.status_code == 201, created.text
    return str(data["name"])


async def instance(http: httpx.AsyncClient, agent_name: str, **body: Any) -> dict[str, Any]:
    """POST /v1/instances, expecting 201."""
    body.setdefault("name", f"i-{uuid.uuid4().hex[:8]}")
    body.setdefault(
        "subscriptions", [{"event": "deploy.*", "input": {"prompt": "n={{ event.data.n }}"}}]
    )
    created = await http.post("/v1/instances", json={"agent": agent_name, **body})
    assert created.status_code == 201, created.text
    return dict(created.json())


async def show(http: httpx.AsyncClient, instance_id: str) -> dict[str, Any]:
    got = await http.get(f"/v1/instances/{instance_id}")
    assert got.status_code == 200, got.text
    return dict(got.json())


async def until(
    http: httpx.AsyncClient,
    instance_id: str,
    check: Callable[[dict[str, Any]], bool],
    limit: float = 60.0,
) -> dict[str, Any]:
    """GET the instance until `check` holds; the last view."""  # fmt: skip
    ends = time.monotonic() + limit
    while True:
        view = await show(http, instance_id)
        if check(view):
            return view
        assert time.monotonic() < ends, f"condition not reached: {view}"
        await asyncio.sleep(0.1)


async def history(http: httpx.AsyncClient, instance_id: str) -> list[dict[str, Any]]:
    """The whole history, oldest first, read page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await http.get(f"/v1/instances/{instance_id}/history", params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return list(reversed(items))
