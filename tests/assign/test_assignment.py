"""Assignment by capability on the real stack: available agents first, then the better record.

Two agents declare one capability, each with `max_concurrent: 1`. A finished task each gives
them a record (one succeeded, one failed). Tasks by capability then go to the better record,
to the other agent while the first holds its slot (waiting for an approval), and, with both
busy, to the better record again, where the task waits `queued` until the slot frees.
"""

from __future__ import annotations

from typing import Any

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from cli.testing.scripts import Fault
from tests.assign.support import DONE, by_capability, capability, capable_agent, scripted
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.tooling import pretty, wait_task
from tests.locks.agent_support import approve, event
from worker.group import WorkerGroup


async def test_available_agents_come_first_then_the_better_record_and_all_busy_waits_queued(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    cap = capability()
    good = await capable_agent(api, "good", [cap], max_concurrent=1)
    weak = await capable_agent(api, "weak", [cap, "other-skill"], max_concurrent=1)
    for agent, turns in ((good, DONE), (weak, [Turn(faults=[Fault(status=400)])])):
        body = {"agent": agent, "input": {"prompt": "record"}, "model": scripted(fake_llm, turns)}
        made = await api.http.post("/v1/tasks", json=body)
        assert made.status_code == 201, made.text
        await wait_task(api, made.json()["id"])

    first = await by_capability(api, fake_llm, cap)
    assert first["agent"] == good, pretty(first)
    decided = await event(settings, first["id"], "task-assigned")
    assert decided["capability"] == cap and decided["complexity"] is None
    assert (decided["agent"], decided["agent_version"]) == (good, "1.0.0")
    assert "best record of 2 available candidates" in decided["reason"], decided
    ranked = {c["agent"]: c for c in decided["candidates"]}
    assert [c["agent"] for c in decided["candidates"]] == [good, weak]
    assert _weighed(ranked[good]) == (1, True, 0, 1, 1, 1.0), ranked
    assert _weighed(ranked[weak]) == (2, True, 0, 1, 1, 0.0), ranked
    assert ranked[good]["mean_cost_usd"] is not None and "100% succeeded" in ranked[good]["why"]
    await wait_status(api, first["id"], "input_required")  # holds good's only slot

    second = await by_capability(api, fake_llm, cap)
    assert second["agent"] == weak, pretty(second)
    decided = await event(settings, second["id"], "task-assigned")
    assert "only available candidate" in decided["reason"], decided
    assert [(c["agent"], c["available"], c["running"]) for c in decided["candidates"]] == [
        (weak, True, 0), (good, False, 1),
    ]  # fmt: skip
    await wait_status(api, second["id"], "input_required")

    third = await by_capability(api, fake_llm, cap, complexity=7)
    assert third["agent"] == good and third["status"] == "queued", pretty(third)
    decided = await event(settings, third["id"], "task-assigned")
    assert decided["complexity"] == 7 and "is busy" in decided["reason"], decided
    assert "waits queued" in decided["reason"]
    waiting = await event(settings, third["id"], "lock-waiting")
    assert waiting["resource"] == f"agent:{good}" and waiting["why"] == "max_concurrent"
    view = (await api.http.get(f"/v1/tasks/{third['id']}")).json()
    assert view["status"] == "queued" and view["waiting_for"]["why"] == "max_concurrent", view

    listed = (await api.http.get(f"/v1/capabilities/{cap}")).json()
    assert listed["name"] == cap and listed["available"] is False, listed
    assert [(a["agent"], a["running"], a["runs"], a["rank"]) for a in listed["agents"]] == [
        (good, 2, 1, 1), (weak, 1, 1, 2),
    ], listed  # fmt: skip
    everything = (await api.http.get("/v1/capabilities")).json()["items"]
    names = [c["name"] for c in everything]
    assert cap in names and "other-skill" in names and names == sorted(names)

    await approve(api, first["id"])  # frees good's slot: the queued task gets it
    assert (await wait_task(api, first["id"]))["status"] == "succeeded"
    await approve(api, third["id"])
    await approve(api, second["id"])
    for task in (third, second):
        assert (await wait_task(api, task["id"]))["status"] == "succeeded"
    after = (await api.http.get(f"/v1/capabilities/{cap}")).json()
    assert after["available"] is True
    assert [(a["agent"], a["runs"], a["success_rate"]) for a in after["agents"]] == [
        (good, 3, 1.0), (weak, 2, 0.5),
    ], after  # fmt: skip


def _weighed(candidate: dict[str, Any]) -> tuple[Any, ...]:
    return (
        candidate["rank"], candidate["available"], candidate["running"],
        candidate["max_concurrent"], candidate["runs"], candidate["success_rate"],
    )  # fmt: skip
