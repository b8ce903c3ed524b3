"""Helpers of the locks tests: acquire, release and read a lock over the real API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from api.locks.workers import polled_at
from workflows.agent_task import AgentTaskWorkflow


async def acquire(
    http: httpx.AsyncClient, resource: str, holder: str, **body: Any
) -> httpx.Response:
    """POST .../acquire with `holder` and the other fields of `body`."""
    return await http.post(f"/v1/locks/{resource}/acquire", json={"holder": holder, **body})


async def release(http: httpx.AsyncClient, resource: str, token: str) -> httpx.Response:
    return await http.post(f"/v1/locks/{resource}/release", json={"token": token})


async def show(http: httpx.AsyncClient, resource: str) -> dict[str, Any]:
    response = await http.get(f"/v1/locks/{resource}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(check: Any, limit: float = 60.0) -> Any:
    """Poll the coroutine function `check` until it returns something truthy."""
    ends = time.monotonic() + limit
    while True:
        if found := await check():
            return found
        assert time.monotonic() < ends, "condition not reached"
        await asyncio.sleep(0.1)


async def wait_grant(
    http: httpx.AsyncClient, resource: str, holder: str, **body: Any
) -> dict[str, Any]:
    """Ask again (as a 202 caller does) until `holder` is granted; the grant."""

    async def granted() -> dict[str, Any] | None:
        response = await acquire(http, resource, holder, **body)
        assert response.status_code in (200, 202), response.text
        return response.json() if response.status_code == 200 else None

    result: dict[str, Any] = await until(granted)
    return result


async def wait_polling(client: Client, queue: str, limit: float = 90.0) -> None:
    """Wait until a worker polls `queue` (until then a lock request is a 503 `no_worker`)."""

    async def polling() -> bool:
        return await polled_at(client, queue) is not None

    await until(polling, limit)


async def replay_task_history(path: Path, *activities: str) -> None:
    """Replay the committed task history at `path`, which must schedule each of `activities`."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    types = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert set(activities) <= types, types
    await Replayer(workflows=[AgentTaskWorkflow]).replay_workflow(history)
