"""Registry test helpers: specs with unique names and a second caller with its own key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cape.settings import Settings
from tests.conftest import Api
from tests.harness import new_api_key

PROMPT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string", "minLength": 1}},
}


def unique(prefix: str = "agent") -> str:
    """An agent name no other test uses (the database is shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def spec(name: str, version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    """A valid spec as JSON data."""
    return {
        "name": name,
        "version": version,
        "description": f"{name} for tests",
        "system_prompt": "You help with {{ input.prompt }}.",
        "tools": ["read_file"],
        "input_schema": PROMPT_SCHEMA,
        **extra,
    }


async def publish(http: httpx.AsyncClient, name: str, *versions: str, **extra: Any) -> None:
    """Create the agent (if new) with each version, published."""
    for version in versions:
        response = await http.post(
            "/v1/agents", json=spec(name, version, **extra), params={"publish": "true"}
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def other(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same API with another owner's key."""
    key = await new_api_key(settings, owner=unique("other"))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        yield http
