"""The research tool in a real task: the scripted model researches, then answers with citations."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.tools.research_site import research_site

ANSWER = (
    "Durable execution keeps the work an agent has finished when its worker crashes [1], and a "
    "retried model call never pays twice for a finished tool call [2]. Sources: [1] and [2] in "
    "bibliography.md (CSL-JSON: bibliography.json)."
)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with research_site() as base:
        yield base


@pytest.fixture
def settings(settings: Settings, site: str) -> Settings:
    return settings.model_copy(
        update={
            "fetch_allow_networks": ["127.0.0.1/32"],  # the test's pages are on loopback
            "search_backend": "searxng",
            "searxng_url": f"{site}/ok",
            "search_cache_seconds": 0.0,
        }
    )


async def test_a_task_researches_and_cites_its_bibliography(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, site: str
) -> None:
    agent = await publish(api, spec(tools=["research"]))
    turns = [
        Turn(tool_calls=[call("research", query="durable execution for AI agents")]),
        Turn(content=ANSWER),
    ]
    task = await run_task(api, fake_llm, turns, agent=agent)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == {"answer": ANSWER}

    (result,) = results(await events_of(settings, task["id"], "tool-result"))
    assert result["ok"], pretty(result)
    notes = result["content"]
    assert f"[1] Durable execution explained\n    {site}/durable" in notes
    assert f"[2] Agents on workflows\n    {site}/agents" in notes
    assert "survives process crashes" in notes and "never pays twice" in notes

    citations = [e.data for e in await events_of(settings, task["id"], "citation")]
    assert [(c["number"], c["url"]) for c in citations] == [
        (1, f"{site}/durable"),
        (2, f"{site}/agents"),
    ]
    (summary,) = await events_of(settings, task["id"], "research")
    ids = summary.data["bibliography"]
    created = await events_of(settings, task["id"], "artifact-created")
    assert {(e.data["id"], e.data["name"]) for e in created} >= {
        (ids["markdown"], "bibliography.md"),
        (ids["csl_json"], "bibliography.json"),
    }

    # The bibliography the answer cites is downloadable from the API.
    listed = await api.http.get(f"/v1/tasks/{task['id']}/artifacts")
    assert listed.status_code == 200, listed.text
    names = {a["name"]: a["id"] for a in listed.json()}
    md = await api.http.get(f"/v1/tasks/{task['id']}/artifacts/{names['bibliography.md']}")
    assert md.status_code == 200
    assert "[1] Ada Lovelace. “Durable execution explained”" in md.text
    assert f"<{site}/agents>" in md.text
    csl = await api.http.get(f"/v1/tasks/{task['id']}/artifacts/{names['bibliography.json']}")
    items = json.loads(csl.content)
    assert [(i["id"], i["URL"]) for i in items] == [
        ("ref1", f"{site}/durable"),
        ("ref2", f"{site}/agents"),
    ]
