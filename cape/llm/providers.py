"""Providers: how to get an OpenAI-compatible client (kept apart from how to call a model)."""

from __future__ import annotations

import httpx2  # the HTTP client the openai SDK is built on
import openai
from openai import AsyncOpenAI

from cape.settings import Settings


class OpenAIProvider:
    """One shared AsyncOpenAI client for any OpenAI-compatible base URL.

    `max_retries=0`: Temporal owns retries, so a failed call surfaces at once and the activity
    retry policy (with the server's `retry-after`) decides what happens next.
    """

    def __init__(self, settings: Settings) -> None:
        self._client = AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value() or "not-set",
            base_url=settings.openai_base_url,
            max_retries=0,
            timeout=settings.llm_timeout_seconds,
            # Many concurrent slow streams: the SDK's default pool (1000) would queue them.
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(max_connections=4000, max_keepalive_connections=500),
            ),
        )

    @property
    def client(self) -> AsyncOpenAI:
        """The shared client."""
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.close()
