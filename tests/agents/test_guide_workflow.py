"""cape-ai-guide through the real workflow: with a scripted model, and with no model at all."""

from __future__ import annotations

import json
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import stack
from tests.e2e.tooling import call, events_of, pretty, wait_task
from tests.harness import stored

GUIDE = "cape-ai-guide"


async def test_the_guide_searches_the_docs_and_answers_in_its_schema(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    answer = {
        "answer": "Answer the pending question with POST /v1/tasks/{id}/input.",
        "suggestions": ["How do budgets work?"],
        "confidence": 0.8,
        "resources": [{"title": "Approvals", "path": "docs/concepts.md#approvals"}],
    }
    name = f"guide-{uuid.uuid4().hex[:8]}"
    turns = [
        Turn(tool_calls=[call("docs_search", query="approve a tool call")]),
        Turn(content=json.dumps(answer)),
    ]
    fake_llm.add_script(Script(name=name, turns=turns))
    created = await api.http.post(
        "/v1/tasks",
        json={
            "agent": GUIDE,
            "input": {"query": "How do I approve a tool call?", "format": "steps"},
            "model": f"script:{name}",
        },
    )
    assert created.status_code == 201, created.text
    done = await wait_task(api, created.json()["id"])
    assert done["status"] == "succeeded" and done["output"] == answer, pretty(done)
    [search] = await events_of(settings, done["id"], "docs-search")
    titles = [r["title"] for r in search.data["results"]]
    assert any("Approv" in t for t in titles[:3]), titles
    steps, _ = await stored(settings, done["id"])
    assert [s.kind for s in steps] == ["workspace", "llm", "tool", "llm", "check"]


async def test_with_no_model_configured_the_guide_answers_from_retrieval_and_says_so(
    client: Client, settings: Settings
) -> None:
    unconfigured = {"openai_base_url": "https://api.openai.com/v1", "openai_api_key": ""}
    async with stack(client, settings, **unconfigured) as api:
        created = await api.http.post(
            "/v1/tasks",
            json={
                "agent": GUIDE,
                "input": {"query": "how do I approve a tool call", "format": "checklist"},
            },
        )
        assert created.status_code == 201, created.text
        done = await wait_task(api, created.json()["id"])
    assert done["status"] == "succeeded", pretty(done)
    output = done["output"]
    assert output["mode"] == "retrieval" and "no language model" in output["note"].lower()
    assert "- [ ]" in output["answer"] and 0 < output["confidence"] <= 1
    # The docs and the README beside them are the index: resources point into them only.
    paths = [r["path"] for r in output["resources"]]
    assert paths and all(p.startswith(("docs/", "README.md#")) for p in paths), paths
    steps, _ = await stored(settings, done["id"])
    assert [s.kind for s in steps] == ["workspace", "retrieval"]  # no LLM step at all
