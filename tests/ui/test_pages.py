"""The approvals inbox, agents, schedules and usage pages in the browser; another team's view.

A second team's session (same dashboard, its own key) sees none of the first team's tasks,
agents or schedules on any page, and the first team's task page is a 404 for it.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from playwright.async_api import Browser, expect
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.tooling import call, wait_task
from tests.harness import new_api_key
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium


def _approval_script(fake_llm: FakeLLMServer) -> str:
    name = f"inbox-{uuid.uuid4().hex[:8]}"
    turns = [Turn(tool_calls=[call("write_file", path="a.txt", content="x")]), Turn(content="ok")]
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


async def _listed_schedule(api: Api) -> str:
    body = {"agent": "assistant", "input": {"prompt": "nightly"}, "interval_seconds": 3600}
    made = await api.http.post("/v1/schedules", json=body)
    assert made.status_code == 201, made.text
    schedule_id = str(made.json()["id"])
    for _ in range(300):  # Temporal's schedule listing is eventually consistent
        listed = await api.http.get("/v1/schedules")
        if schedule_id in {s["id"] for s in listed.json()["items"]}:
            return schedule_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"schedule {schedule_id} never listed")


async def test_inbox_agents_schedules_usage_and_another_team(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, browser: Browser, settings: Settings
) -> None:
    agent = await publish(api, spec(tools=[{"name": "write_file", "approval": True}]))
    waiting = await start(api, agent, _approval_script(fake_llm))
    await wait_status(api, waiting["id"], "input_required")
    schedule_id = await _listed_schedule(api)
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, api.key, "/ui/approvals")
        # The inbox lists the waiting task; its count is in the nav; it is answered in place.
        item = page.locator(f"[data-inbox-item][data-task-id='{waiting['id']}']")
        await expect(item).to_contain_text("write_file")
        count = int(await page.locator("#waiting-count").inner_text())
        assert count >= 1
        await shot(page, "approvals")
        assert not await unlabelled(page)
        await item.get_by_role("button", name="Approve").click()
        await expect(item.get_by_role("status")).to_have_text("Answered.")
        assert (await wait_task(api, waiting["id"]))["status"] == "succeeded"

        # Agents: the team's agent with its version, YAML spec and record; deprecate from here.
        await page.goto("/ui/agents")
        card = page.locator(f"#agent-{agent}")
        await expect(card.locator("[data-version='1.0.0']")).to_contain_text("published")
        await expect(card.locator("pre")).to_contain_text(f"name: {agent}", use_inner_text=False)
        await expect(page.locator("tr", has_text=agent)).to_contain_text("100%")
        await card.get_by_label("Reason").fill("superseded")
        await card.get_by_role("button", name="Deprecate").click()
        await expect(card.locator("[data-version='1.0.0']")).to_contain_text("deprecated")
        await shot(page, "agents")
        assert not await unlabelled(page)

        # Schedules: next runs, and pause from the page.
        await page.goto("/ui/schedules")
        section = page.locator(f"[data-schedule='{schedule_id}']")
        await expect(section).to_contain_text("every 3600 s")
        await section.get_by_role("button", name="Pause").click()
        await expect(section.get_by_role("button", name="Resume")).to_be_visible()
        await shot(page, "schedules")
        assert not await unlabelled(page)

        # Usage: charts drawn on the server as SVG, with the agent's bar.
        await page.goto("/ui/usage")
        await expect(page.get_by_role("img", name="Tokens by agent")).to_contain_text(agent)
        await shot(page, "usage")
        assert not await unlabelled(page)
    finally:
        await ctx.close()
        await api.http.delete(f"/v1/schedules/{schedule_id}")

    # Another team's session: no trace of team 1 on any page, 404 on its task.
    other_key = await new_api_key(settings, owner=f"ui-other-{uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as other:
        login = await other.post("/ui/login", data={"api_key": other_key, "next": "/ui/tasks"})
        assert login.status_code == 303 and "cape_session" in other.cookies, login.text
        for path in ("/ui/tasks", "/ui/tasks/rows", "/ui/approvals", "/ui/agents", "/ui/usage",
                     f"/ui/tasks?agent={agent}", "/ui/tasks/new", "/ui/schedules"):  # fmt: skip
            seen = await other.get(path)
            assert seen.status_code == 200, f"{path}: {seen.status_code}"
            if path.startswith("/ui/tasks?"):
                assert "No tasks match." in seen.text
            # The filter echoes what it was sent (its field and its polling URL).
            shown = seen.text.replace(f'value="{agent}"', "").replace(f"agent={agent}", "")
            for secret in (waiting["id"], agent, schedule_id):
                assert secret not in shown, f"team 2 sees {secret} on {path}"
        for path in (f"/ui/tasks/{waiting['id']}", f"/ui/tasks/{waiting['id']}/panel"):
            hidden = await other.get(path)
            assert hidden.status_code == 404, f"{path}: {hidden.status_code}"
            assert "not found" in hidden.text and agent not in hidden.text, hidden.text
        # Without a session a page is a redirect to the login page, never data.
        anonymous = await httpx.AsyncClient(base_url=api.url).get("/ui/tasks")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/ui/login?next=/ui/tasks"
