"""Helpers of the event tests: a team of its own per test, agents with triggers, polling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.agent_support import spec
from tests.harness import new_api_key


@asynccontextmanager
async def own_team(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the key of a fresh owner: a team no other test publishes in."""
    key = await new_api_key(settings, owner=f"ev-{uuid.uuid4().hex[:10]}")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as http:
        yield http


async def triggered_agent(http: httpx.AsyncClient, *triggers: dict[str, Any], **fields: Any) -> str:
    """Publish an agent version with `triggers` (and other spec `fields`); returns its name."""
    data = spec(triggers=list(triggers), **fields)
    created = await http.post("/v1/agents", params={"publish": "true"}, json=data)
    assert created.status_code == 201, created.text
    return str(data["name"])


async def routed(http: httpx.AsyncClient, event_id: str, timeout: float = 60) -> dict[str, Any]:
    """GET /v1/events/{id} once its routing has run (status no longer `pending`)."""
    async with asyncio.timeout(timeout):
        while True:
            got = await http.get(f"/v1/events/{event_id}")
            assert got.status_code == 200, got.text
            if got.json()["status"] != "pending":
                return dict(got.json())
            await asyncio.sleep(0.1)


async def publish(http: httpx.AsyncClient, type_: str, **body: Any) -> dict[str, Any]:
    """POST /v1/events, expecting 202; returns the event."""
    sent = await http.post("/v1/events", json={"type": type_, **body})
    assert sent.status_code == 202, sent.text
    return dict(sent.json())
