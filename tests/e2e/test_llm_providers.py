"""Providers, fallbacks, prices and output schemas through the real workflow and API."""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from cape.llm_settings import Price, ProviderConfig
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Fault, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, stack, start
from tests.e2e.tooling import call, events_of, pretty, wait_task
from tests.harness import stored


def _script(fake_llm: FakeLLMServer, turns: list[Turn]) -> str:
    name = f"llm-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    return name


async def test_an_unknown_model_falls_back_to_the_next_and_records_why(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    good = _script(fake_llm, [Turn(content="from the fallback")])
    model = {"name": "script:no-such-model", "fallbacks": [{"name": f"script:{good}"}]}
    agent = await publish(api, spec(model=model))
    task = await start(api, agent, None)
    assert task["model"] == "script:no-such-model"
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert done["output"] == {"answer": "from the fallback"}
    [fallback] = await events_of(settings, task["id"], "model-fallback")
    assert fallback.data["from"] == "default/script:no-such-model"
    assert fallback.data["to"] == f"default/script:{good}"
    assert fallback.data["reason"]["type"] == "ModelNotFound"
    steps, _ = await stored(settings, task["id"])
    llm = [(s.name, s.status) for s in steps if s.kind == "llm"]
    assert llm == [("llm: script:no-such-model", "failed"), (f"llm: script:{good}", "succeeded")]


async def test_a_model_that_keeps_failing_falls_back_after_its_retries(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    flaky = _script(fake_llm, [Turn(content="never", faults=[Fault(status=503)] * 10)])
    good = _script(fake_llm, [Turn(content="steady")])
    model = {"name": f"script:{flaky}", "fallbacks": [{"name": f"script:{good}"}]}
    agent = await publish(api, spec(model=model))
    done = await wait_task(api, (await start(api, agent, None))["id"])
    assert done["status"] == "succeeded" and done["output"] == {"answer": "steady"}, pretty(done)
    assert fake_llm.calls(flaky) == {0: settings.retry_max_attempts}
    [fallback] = await events_of(settings, done["id"], "model-fallback")
    assert fallback.data["reason"]["type"] == "LLMHttp503"


async def test_without_fallbacks_a_failing_model_fails_the_task(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    agent = await publish(api, spec(model={"name": "script:no-such-model"}))
    done = await wait_task(api, (await start(api, agent, None))["id"])
    assert done["status"] == "failed" and done["error"]["type"] == "ModelNotFound", pretty(done)


async def test_custom_and_openrouter_providers_get_their_urls_keys_and_headers(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    local = _script(fake_llm, [Turn(content="local answer")])
    routed = _script(fake_llm, [Turn(content="routed answer")])
    async with stack(
        client,
        settings,
        llm_providers={"local": ProviderConfig(base_url=fake_llm.base_url, api_key="local-key")},
        openrouter_base_url=fake_llm.base_url,
        openrouter_api_key="or-key",
        openrouter_referer="https://cape.example",
    ) as api:
        agent = await publish(api, spec(model={"provider": "local", "name": f"script:{local}"}))
        done = await wait_task(api, (await start(api, agent, None))["id"])
        assert done["output"] == {"answer": "local answer"}, pretty(done)
        assert fake_llm.headers(local)["authorization"] == "Bearer local-key"

        model = {"provider": "openrouter", "name": f"script:{routed}"}
        agent = await publish(api, spec(model=model))
        done = await wait_task(api, (await start(api, agent, None))["id"])
        assert done["output"] == {"answer": "routed answer"}, pretty(done)
        headers = fake_llm.headers(routed)
        assert headers["authorization"] == "Bearer or-key"
        assert headers["http-referer"] == "https://cape.example"
        assert headers["x-title"] == "CapeControl"

        unknown = await publish(api, spec(model={"provider": "nowhere", "name": "m"}))
        refused = await api.http.post(
            "/v1/tasks", json={"agent": unknown, "input": {"prompt": "x"}}
        )
        assert refused.status_code == 422 and "nowhere" in refused.text, refused.text
    # The key never reaches workflow history: it is the worker's setting, not task input.
    assert "or-key" not in str(done)


async def test_cost_comes_from_the_price_table_per_step_task_agent_and_owner(
    client: Client, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    name = _script(
        fake_llm,
        [Turn(tool_calls=[call("write_file", path="a.txt", content="a")]), Turn(content="ok")],
    )
    prices = {f"script:{name}": Price(input=1000.0, output=4000.0)}  # dollars per 1M tokens
    async with stack(client, settings, llm_prices=prices) as api:
        agent = await publish(api, spec())
        done = await wait_task(api, (await start(api, agent, f"script:{name}"))["id"])
        assert done["status"] == "succeeded", pretty(done)
        usage = done["usage"]
        expected = (usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 4000) / 1e6
        assert usage["cost_usd"] > 0 and abs(usage["cost_usd"] - expected) < 1e-6, usage
        events = await events_of(settings, done["id"], "usage")
        assert [e.data["priced"] for e in events] == [True, True]
        assert abs(sum(e.data["cost_usd"] for e in events) - usage["cost_usd"]) < 1e-6

        by_agent = (await api.http.get("/v1/usage", params={"group_by": "agent"})).json()
        [row] = [r for r in by_agent["rows"] if r["key"] == agent]
        assert row["tasks"] == 1 and row["total_tokens"] == usage["total_tokens"]
        assert abs(row["cost_usd"] - usage["cost_usd"]) < 1e-6
        by_model = (await api.http.get("/v1/usage", params={"group_by": "model"})).json()
        assert any(r["key"] == f"script:{name}" for r in by_model["rows"]), by_model
        by_day = (await api.http.get("/v1/usage", params={"group_by": "day"})).json()
        assert by_day["total"]["cost_usd"] >= usage["cost_usd"] - 1e-6
        bad = await api.http.get("/v1/usage", params={"group_by": "week"})
        assert bad.status_code == 422 and "query.group_by" in bad.text


async def test_an_answer_must_match_the_output_schema_and_may_be_repaired(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    schema = {
        "type": "object",
        "required": ["answer", "confidence"],
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    }
    agent = await publish(api, spec(output_schema=schema))
    turns = [
        Turn(content="plain words"),
        Turn(content='```json\n{"answer": "42", "confidence": 0.9}\n```'),
    ]
    task = await start(api, agent, f"script:{_script(fake_llm, turns)}")
    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded", pretty(done)
    assert done["output"] == {"answer": "42", "confidence": 0.9}
    steps, _ = await stored(settings, done["id"])
    assert [s.kind for s in steps] == ["workspace", "llm", "check", "llm", "check"]
    assert "not JSON" in steps[2].output["problems"][0]

    never = [Turn(content='{"answer": 1}')] * 3
    task = await start(api, agent, f"script:{_script(fake_llm, never)}")
    failed = await wait_task(api, task["id"])
    assert failed["status"] == "failed" and failed["error"]["type"] == "OutputInvalid"
    assert "confidence" in failed["error"]["message"], pretty(failed)
