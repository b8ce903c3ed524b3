"""Operator settings of LLM providers, prices and human input (a mixin of `Settings`).

Provider credentials live here and in the worker only: a workflow names a provider, never a key.
Dict values are read from the environment as JSON
(`CAPE_LLM_PROVIDERS='{"local": {"base_url": "http://127.0.0.1:11434/v1"}}'`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings


class ProviderConfig(BaseModel):
    """An OpenAI-compatible endpoint: Ollama, vLLM, a llama.cpp server, a gateway."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1)
    api_key: SecretStr = SecretStr("")
    api_key_env: str = Field("", description="Read the key from this environment variable.")
    headers: dict[str, str] = Field(default_factory=dict)


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class LlmSettings(BaseSettings):
    """Providers beyond the default one, the price table and how long input is awaited."""

    openrouter_api_key: SecretStr = SecretStr("")
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_referer: str = Field("", description="HTTP-Referer OpenRouter shows (site URL).")
    openrouter_title: str = "CapeControl"
    llm_providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    llm_prices: dict[str, Price] = Field(default_factory=dict)
    llm_prices_file: Path | None = None
    # How long an approval or a budget question waits before the task ends as `timed_out`.
    input_timeout_seconds: float = Field(86400.0, gt=0)
    # Continue-as-new after this many history events even if the server has not suggested it
    # (0: only when the server suggests it). Tests lower it to exercise the carry-over.
    history_events_limit: int = Field(0, ge=0)
    # The Markdown docs the guide's knowledge base indexes (default: the project's docs/).
    docs_dir: Path | None = None
