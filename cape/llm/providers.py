"""Providers: how to get an OpenAI-compatible client (kept apart from how to call a model).

`default` is OPENAI_BASE_URL with OPENAI_API_KEY; `openai` is api.openai.com with the same key;
`openrouter` adds the headers OpenRouter asks for; any other name comes from
`CAPE_LLM_PROVIDERS`. Clients are made on first use and shared by every call of the worker.
"""

from __future__ import annotations

import os

import httpx2  # the HTTP client the openai SDK is built on
import openai
from openai import AsyncOpenAI

from cape.errors import InvalidInput
from cape.llm_settings import ProviderConfig
from cape.settings import Settings

OPENAI_URL = "https://api.openai.com/v1"


class UnknownProvider(InvalidInput):
    """An agent names a provider the operator has not configured."""


class ProviderNotConfigured(UnknownProvider):
    """A known provider lacks the setting it needs (its key): no call could succeed."""


def provider_configs(settings: Settings) -> dict[str, ProviderConfig]:
    """Every provider this deployment knows, by name."""
    key = settings.openai_api_key
    openrouter_headers = {"X-Title": settings.openrouter_title}
    if settings.openrouter_referer or settings.public_url:
        openrouter_headers["HTTP-Referer"] = settings.openrouter_referer or settings.public_url
    configs = {
        "default": ProviderConfig(base_url=settings.openai_base_url, api_key=key),
        "openai": ProviderConfig(base_url=OPENAI_URL, api_key=key),
        "openrouter": ProviderConfig(
            base_url=settings.openrouter_base_url,
            api_key=settings.openrouter_api_key,
            headers=openrouter_headers,
        ),
    }
    configs.update(settings.llm_providers)
    return configs


def api_key(config: ProviderConfig) -> str:
    """The provider's key: the configured one, else the named environment variable."""
    key = config.api_key.get_secret_value()
    if not key and config.api_key_env:
        key = os.environ.get(config.api_key_env, "")
    return key


def missing_setting(settings: Settings, name: str) -> str | None:
    """The setting provider `name` lacks to answer (its key), or None when it has what it needs.

    A key-less endpoint other than OpenAI's own (Ollama, vLLM, llama.cpp) needs no key, unless
    its configuration names the variable its key comes from. An unknown provider lacks nothing
    here: `check_provider` reports it.
    """
    config = provider_configs(settings).get(name)
    if config is None or api_key(config):
        return None
    if config.api_key_env:
        return config.api_key_env
    if name == "openrouter" and name not in settings.llm_providers:
        return "CAPE_OPENROUTER_API_KEY"
    if not config.base_url.startswith(OPENAI_URL):
        return None
    if name == "default":
        return "OPENAI_API_KEY (or OPENAI_BASE_URL for another OpenAI-compatible endpoint)"
    return "OPENAI_API_KEY"


def is_configured(settings: Settings, name: str) -> bool:
    """Whether `name` is known here and has what it needs to answer."""
    return name in provider_configs(settings) and missing_setting(settings, name) is None


def any_configured(settings: Settings) -> bool:
    """Whether at least one provider can answer (`cape dev` serves its demo model otherwise)."""
    return any(is_configured(settings, name) for name in provider_configs(settings))


def not_configured_message(name: str, missing: str) -> str:
    """What a task or a caller is told about a provider that lacks `missing`."""
    return f"LLM provider {name!r} is not configured: set {missing}"


def check_provider(settings: Settings, name: str, field: str) -> None:
    """Raise UnknownProvider (a 422 naming `field`) when `name` is not configured here."""
    known = provider_configs(settings)
    if name not in known:
        raise UnknownProvider(
            f"LLM provider {name!r} is not configured",
            details=[{"field": field, "message": f"known providers: {', '.join(sorted(known))}"}],
        )


class Providers:
    """The worker's OpenAI-compatible clients, one per provider.

    `max_retries=0`: Temporal owns retries, so a failed call surfaces at once and the activity
    retry policy (with the server's `retry-after`) decides what happens next.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, AsyncOpenAI] = {}

    def client(self, name: str = "default") -> AsyncOpenAI:
        """The shared client of provider `name`.

        Raises:
            UnknownProvider: `name` is not a provider of this deployment.
            ProviderNotConfigured: it lacks its key (the message names the setting).
        """
        if name not in self._clients:
            check_provider(self._settings, name, "model.provider")
            if (missing := missing_setting(self._settings, name)) is not None:
                raise ProviderNotConfigured(
                    not_configured_message(name, missing),
                    details=[{"field": "model.provider", "message": f"set {missing}"}],
                )
            config = provider_configs(self._settings)[name]
            self._clients[name] = AsyncOpenAI(
                api_key=api_key(config) or "not-set",
                base_url=config.base_url,
                default_headers=config.headers or None,
                max_retries=0,
                timeout=self._settings.llm_timeout_seconds,
                # Many concurrent slow streams: the SDK's default pool (1000) would queue them.
                http_client=openai.DefaultAsyncHttpxClient(
                    limits=httpx2.Limits(max_connections=4000, max_keepalive_connections=500),
                ),
            )
        return self._clients[name]

    async def aclose(self) -> None:
        """Close every connection pool."""
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
