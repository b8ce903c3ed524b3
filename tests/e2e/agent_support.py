"""Helpers of the tests that run custom agent versions: publish a spec, poll a task's status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.client import Client

from cape.db.engine import create_engine
from cape.llm.providers import Providers
from cape.settings import Settings
from tests.conftest import Api
from tests.harness import new_api_key, running_api
from worker.main import build_worker

PROMPT_INPUT = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}},
}


def spec(**fields: Any) -> dict[str, Any]:
    """A valid spec with a fresh name; `fields` override or add to it."""
    base: dict[str, Any] = {
        "name": f"t-{uuid.uuid4().hex[:10]}",
        "version": "1.0.0",
        "description": "an agent of a test",
        "system_prompt": "You are a test agent.",
        "tools": ["write_file", "read_file"],
        "input_schema": PROMPT_INPUT,
    }
    base.update(fields)
    return base


async def publish(api: Api, data: dict[str, Any]) -> str:
    """Create and publish the agent version `data`; returns the agent's name."""
    created = await api.http.post("/v1/agents", params={"publish": "true"}, json=data)
    assert created.status_code == 201, created.text
    return str(data["name"])


async def start(
    api: Api, agent: str, model: str | None, prompt: str = "go", **body: Any
) -> dict[str, Any]:
    """POST /v1/tasks for `agent` (with the scripted `model`, else the agent's own model)."""
    if model is not None:
        body["model"] = model
    created = await api.http.post(
        "/v1/tasks", json={"agent": agent, "input": {"prompt": prompt}, **body}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def wait_status(api: Api, task_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /v1/tasks/{id} until the task has `status`; returns that view."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await api.http.get(f"/v1/tasks/{task_id}")
        assert got.status_code == 200, got.text
        task = dict(got.json())
        if task["status"] == status:
            return task
        assert task["status"] not in {"succeeded", "failed", "canceled", "timed_out"}, task
        assert asyncio.get_running_loop().time() < deadline, f"still {task['status']}: {task}"
        await asyncio.sleep(0.1)


@asynccontextmanager
async def stack(client: Client, settings: Settings, **changes: Any) -> AsyncIterator[Api]:
    """A worker and an API of their own, with `changes` to the test's settings."""
    custom = settings.model_copy(update=changes)
    engine = create_engine(custom)
    providers = Providers(custom)
    key = await new_api_key(custom)
    try:
        async with build_worker(client, custom, engine, providers), running_api(custom) as url:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
                yield Api(url, key, http)
    finally:
        await providers.aclose()
        await engine.dispose()
