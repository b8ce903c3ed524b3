"""Usage by the model each step used (issue 12 B3); schedules' max_steps default (B5)."""

from __future__ import annotations

import contextlib
import uuid

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start
from tests.e2e.tooling import pretty, wait_task


async def test_usage_by_model_charges_the_fallback_that_answered(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    good = f"usage-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=good, turns=[Turn(content="from the fallback")]))
    missing = f"script:gone-{uuid.uuid4().hex[:8]}"  # the fake LLM answers 404
    agent = await publish(
        api, spec(model={"name": missing, "fallbacks": [{"name": f"script:{good}"}]})
    )
    done = await wait_task(api, (await start(api, agent, None))["id"])
    assert done["status"] == "succeeded" and done["model"] == missing, pretty(done)

    report = (await api.http.get("/v1/usage", params={"group_by": "model"})).json()
    rows = {row["key"]: row for row in report["rows"]}
    assert missing not in rows, report
    row = rows[f"script:{good}"]
    assert row["tasks"] == 1 and row["total_tokens"] == done["usage"]["total_tokens"] > 0, row
    assert row["prompt_tokens"] == done["usage"]["prompt_tokens"]


async def test_a_schedule_gets_the_same_max_steps_default_as_a_task(
    api: Api, settings: Settings, client: Client
) -> None:
    body = {"agent": "assistant", "input": {"prompt": "daily"}, "cron": "0 9 * * *", "paused": True}
    created = await api.http.post("/v1/schedules", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    try:
        task = await api.http.post(
            "/v1/tasks", json={"agent": "assistant", "input": {"prompt": "now"}}
        )
        assert task.status_code == 201, task.text
        # CAPE_MAX_STEPS (20) below the assistant's ceiling (200): both get it.
        assert schedule["max_steps"] == task.json()["max_steps"] == settings.max_steps == 20
    finally:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule["id"]).delete()
