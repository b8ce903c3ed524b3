"""A worker and an API with no LLM provider configured (issue 12 part 1).

A task whose model has no configured provider fails at its first LLM step, non-retryable, with
an error naming the missing setting; `POST /v1/tasks` warns about it in `warnings`.
"""

from __future__ import annotations

from pydantic import SecretStr
from temporalio.client import Client

from cape.llm.providers import OPENAI_URL
from cape.llm_settings import ProviderConfig
from cape.settings import Settings
from tests.cape.test_cli_tasks import cape
from tests.e2e.agent_support import publish, spec, stack
from tests.e2e.tooling import pretty, wait_task
from tests.harness import stored

NO_PROVIDER = {"openai_api_key": SecretStr(""), "openai_base_url": OPENAI_URL}


async def test_a_model_without_a_configured_provider_fails_at_once_naming_the_setting(
    client: Client, settings: Settings
) -> None:
    async with stack(client, settings, **NO_PROVIDER) as api:
        created = await api.http.post(
            "/v1/tasks", json={"agent": "assistant", "input": {"prompt": "hello"}}
        )
        assert created.status_code == 201, created.text
        [warning] = created.json()["warnings"]
        assert "'default' is not configured: set OPENAI_API_KEY" in warning, warning
        assert "OPENAI_BASE_URL" in warning
        done = await wait_task(api, created.json()["id"])
        ran = await cape(api.url, api.key, "run", "--no-follow", "hello")
        assert ran.exit_code == 0, ran.output
        assert "warning: LLM provider 'default' is not configured" in ran.stderr, ran.output
    assert done["status"] == "failed", pretty(done)
    assert done["error"]["type"] == "ProviderNotConfigured", done["error"]
    assert "OPENAI_API_KEY" in done["error"]["message"]
    steps, events = await stored(settings, done["id"])
    [llm] = [s for s in steps if s.kind == "llm"]
    assert llm.attempt == 1 and llm.status == "failed", (llm.attempt, llm.status)
    assert not [e for e in events if e.type == "step-retrying"]


async def test_a_custom_provider_names_its_key_variable_and_the_guide_needs_no_model(
    client: Client, settings: Settings
) -> None:
    providers = {
        "vault": ProviderConfig(base_url="http://127.0.0.1:9/v1", api_key_env="CAPE_TEST_NO_KEY")
    }
    async with stack(client, settings, **NO_PROVIDER, llm_providers=providers) as api:
        agent = await publish(api, spec(model={"provider": "vault", "name": "m"}))
        created = await api.http.post("/v1/tasks", json={"agent": agent, "input": {"prompt": "x"}})
        assert created.status_code == 201, created.text
        assert any("set CAPE_TEST_NO_KEY" in w for w in created.json()["warnings"]), created.text
        done = await wait_task(api, created.json()["id"])
        assert done["error"]["type"] == "ProviderNotConfigured", pretty(done)
        assert "CAPE_TEST_NO_KEY" in done["error"]["message"]

        # The guide answers from the docs alone when no model is configured: no warning.
        query = {"query": "How do I approve a tool call?"}
        guide = await api.http.post("/v1/tasks", json={"agent": "cape-ai-guide", "input": query})
        assert guide.status_code == 201 and guide.json()["warnings"] == [], guide.text
        answered = await wait_task(api, guide.json()["id"])
    assert answered["status"] == "succeeded", pretty(answered)
