"""The demo model serves every built-in agent: each one's task succeeds (issue 12 part 1).

Agents with an output schema get a JSON answer that passes their output check; the domain
specialist answers for the domain its input asked for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import yaml
from temporalio.worker import Worker

from cape.registry.builtin import BUILTIN_DIR
from cli.testing.scripts import DEMO_MODEL
from tests.agents.builtin_examples import QA_INPUTS, SPECIALIST, specialist_input
from tests.conftest import Api
from tests.e2e.tooling import pretty, wait_task

INPUTS: dict[str, dict[str, Any]] = {
    "assistant": {"prompt": "Write a haiku about durable execution"},
    "engineer": {"prompt": "Write a Python script that counts primes below 10000, run it"},
    "cape-ai-guide": {"query": "How do I approve a tool call?"},
    SPECIALIST: specialist_input("security_audit"),
    **QA_INPUTS,
}


async def _run(api: Api, agent: str) -> dict[str, Any]:
    body = {"agent": agent, "input": INPUTS[agent], "model": DEMO_MODEL}
    created = await api.http.post("/v1/tasks", json=body)
    assert created.status_code == 201, created.text
    return await wait_task(api, created.json()["id"], timeout=120)


async def test_every_builtin_agent_succeeds_with_the_demo_model(api: Api, worker: Worker) -> None:
    specs = {p.stem: yaml.safe_load(p.read_text()) for p in BUILTIN_DIR.glob("*.yaml")}
    assert set(specs) == set(INPUTS)  # a new built-in needs an input here
    done = await asyncio.gather(*(_run(api, agent) for agent in INPUTS))
    for agent, task in zip(INPUTS, done, strict=True):
        assert task["status"] == "succeeded", (agent, pretty(task))
        schema = specs[agent].get("output_schema")
        if schema is not None:
            jsonschema.validate(task["output"], schema)
    assert done[list(INPUTS).index(SPECIALIST)]["output"]["domain"] == "security_audit"
