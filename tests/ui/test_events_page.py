"""The events page in the browser: publish from the form, follow the event to its task and back.

An event that an agent's trigger matches shows as routed with its task linked; the task page
links back to the event; an event nobody listens to shows as unhandled; a refused publish is
shown under the form; filters and the per-type stats read the same queries as `/v1/events`.
"""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import Browser, expect
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.events.support import triggered_agent
from tests.harness import new_api_key
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium
ROUTING = 90_000  # ms: the event is routed by the worker, then the list polls every 3 s


async def test_publish_from_the_form_follow_the_task_and_back(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, browser: Browser, settings: Settings
) -> None:
    key = await new_api_key(settings, owner=f"uiev-{uuid.uuid4().hex[:8]}")
    script = f"uiev-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=script, turns=[Turn(content="deployed")]))
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        trigger = {"event": "ui.deploy", "input": {"prompt": "Deploy {{ event.data.service }}"}}
        agent = await triggered_agent(http, trigger, model={"name": f"script:{script}"})
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, key, "/ui/events")
        form = page.locator("#publish-form")
        # A refusal of the API is shown under the form, naming the field.
        await form.get_by_label("Type").fill("not a type!")
        await form.get_by_role("button", name="Publish").click()
        await expect(page.locator("#publish-error")).to_contain_text("body.type")
        await form.get_by_label("Type").fill("ui.deploy")
        await form.get_by_label("Data (a JSON object)").fill("{oops")
        await form.get_by_role("button", name="Publish").click()
        await expect(page.locator("#publish-error")).to_have_text("data: not valid JSON")

        # Published: listed live, routed, with one task.
        await form.get_by_label("Data (a JSON object)").fill('{"service": "web"}')
        await form.get_by_label("Priority").select_option("high")
        await form.get_by_role("button", name="Publish").click()
        done = page.locator("#publish-done a")
        await expect(page.locator("#publish-done")).to_contain_text("Published evt_")
        assert await page.locator("#publish-error").is_hidden()
        event_id = await done.inner_text()
        row = page.locator(f"#event-rows tr[data-event-id='{event_id}']")
        await expect(row).to_have_attribute("data-status", "routed", timeout=ROUTING)
        await expect(row.locator("td[data-label=tasks]")).to_have_text("1")
        await expect(row).to_contain_text("high")

        # An event nobody listens to: unhandled.
        await form.get_by_label("Type").fill("ui.nobody")
        await form.get_by_label("Data (a JSON object)").fill("{}")
        await form.get_by_role("button", name="Publish").click()
        await expect(page.locator("#publish-done")).to_contain_text("Published evt_")
        lonely = await done.inner_text()
        lonely_row = page.locator(f"#event-rows tr[data-event-id='{lonely}']")
        await expect(lonely_row).to_have_attribute("data-status", "unhandled", timeout=ROUTING)
        await expect(lonely_row.locator("td[data-label=tasks]")).to_have_text("0")

        # Filters and stats: the same queries as the JSON API.
        await page.goto("/ui/events?status=unhandled")
        await expect(page.locator(f"tr[data-event-id='{lonely}']")).to_be_visible()
        await expect(page.locator(f"tr[data-event-id='{event_id}']")).to_have_count(0)
        await page.goto("/ui/events?type=ui.deploy&priority=high&since=1h")
        await expect(page.locator("#event-rows tr")).to_have_count(1)
        stats = page.locator("#event-stats tr[data-type='ui.deploy'] td")
        await expect(stats.nth(1)).to_have_text("1")  # published
        await expect(stats.nth(2)).to_have_text("1")  # routed
        await page.goto("/ui/events")
        await expect(page.locator("#event-stats tr[data-type='ui.nobody'] td").nth(3)).to_have_text(
            "1"
        )  # unhandled
        await shot(page, "events")
        assert not await unlabelled(page)

        # The event page: its data, its route to the agent with the task, then the task and back.
        await page.locator(f"tr[data-event-id='{event_id}'] a").click()
        await page.wait_for_url(f"**/ui/events/{event_id}")
        await expect(page.locator("#event-status")).to_have_text("routed")
        await expect(page.locator("#event-data")).to_contain_text('"service": "web"')
        route = page.locator(f"#event-routes tr[data-agent='{agent}']")
        await expect(route).to_have_attribute("data-status", "started")
        await expect(route.locator(".route-input")).to_contain_text("Deploy web")
        await shot(page, "event")
        assert not await unlabelled(page)
        await route.locator("a.route-task").click()
        await page.wait_for_url("**/ui/tasks/task_e*")
        await expect(page.locator("#task-status")).to_have_text("succeeded", timeout=ROUTING)
        await page.locator("#task-event").click()
        await page.wait_for_url(f"**/ui/events/{event_id}")

        # Phone width: no sideways page scroll (wide tables scroll inside their frame).
        await page.set_viewport_size({"width": 390, "height": 800})
        for path, name in (
            (f"/ui/events/{event_id}", "event-phone"),
            ("/ui/events", "events-phone"),
        ):
            await page.goto(path)
            await shot(page, name)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{name}: the page scrolls sideways on a phone: {width} px"
    finally:
        await ctx.close()
