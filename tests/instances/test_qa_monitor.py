"""The built-in `qa-manager` as a continuous monitor: an instance subscribed to deployments.

The example of docs/instances.md, end to end with the scripted model: every production
`deployment.completed` event runs one QA task on the deployed URL; each writes its report and
answers a verdict.
"""

from __future__ import annotations

import json
import uuid

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.agents.builtin_examples import QA_ANSWERS
from tests.conftest import Api
from tests.e2e.tooling import call
from tests.events.support import own_team, publish, routed
from tests.instances.support import history, until

MONITOR = {
    "name": "prod-qa",
    "agent": "qa-manager",
    "agent_version": "^1",
    "subscriptions": [
        {
            "event": "deployment.completed",
            "filter": {"environment": "production"},
            "input": {
                "target_url": "{{ event.data.url }}",
                "environment": "{{ event.data.environment }}",
            },
        }
    ],
    "input": {"suite": "smoke", "checks": [{"path": "/login", "expect": "Sign in"}]},
}


async def test_qa_manager_monitors_each_production_deployment(
    api: Api, settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    script = f"qa-{uuid.uuid4().hex[:8]}"
    report = "# QA production: degraded\n\n- /login: 'Sign in' missing\n"
    turns = [
        Turn(tool_calls=[call("write_file", path="output/qa-report.md", content=report)]),
        Turn(content=json.dumps(QA_ANSWERS["qa-manager"])),
    ]
    fake_llm.add_script(Script(name=script, turns=turns))
    async with own_team(api, settings) as http:
        created = await http.post("/v1/instances", json={**MONITOR, "model": f"script:{script}"})
        assert created.status_code == 201, created.text
        monitor = created.json()
        deploys = [
            await publish(http, "deployment.completed",
                          data={"environment": "production", "url": f"https://v{n}.example.com"})
            for n in (1, 2)
        ]  # fmt: skip
        first = await routed(http, deploys[0]["id"])
        assert first["status"] == "routed"
        routes = {r["agent"]: r["status"] for r in first["routes"]}
        assert routes == {"instance:prod-qa": "delivered"}

        done = await until(http, monitor["id"], lambda v: v["counters"]["succeeded"] == 2)
        # The built-in qa-manager's version (1.1.0 declares its capabilities).
        assert done["state"] == "idle" and done["current_version"] == "1.1.0"
        handled = await history(http, monitor["id"])
        assert [h["event_id"] for h in handled] == [d["id"] for d in deploys]
        for n, entry in enumerate(handled, start=1):
            task = (await http.get(f"/v1/tasks/{entry['task_id']}")).json()
            assert task["status"] == "succeeded" and task["output"] == QA_ANSWERS["qa-manager"]
            assert task["input"]["target_url"] == f"https://v{n}.example.com"
            assert task["input"]["suite"] == "smoke"  # from the instance's input defaults
            written = settings.workspace_root / task["id"] / "output" / "qa-report.md"
            assert written.read_text() == report
