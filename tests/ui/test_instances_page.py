"""The instances page in the browser: state, inbox and counters now; pause, resume and stop.

Another team's session sees none of the first team's instances.
"""

from __future__ import annotations

import uuid

from playwright.async_api import Browser, Dialog, expect
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.events.support import publish, routed
from tests.harness import new_api_key
from tests.instances.support import agent, answering_model, instance, until
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_instances_page_shows_state_and_controls_the_instance(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, browser: Browser, settings: Settings
) -> None:
    made = await instance(api.http, await agent(api.http, answering_model(fake_llm)))
    assert (await api.http.post(f"/v1/instances/{made['id']}/pause")).status_code == 200
    await routed(api.http, (await publish(api.http, "deploy.ui", data={"n": 1}))["id"])
    await until(api.http, made["id"], lambda v: v["inbox_length"] == 1)
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, api.key, "/ui/instances")
        card = page.locator(f"[data-instance='{made['id']}']")
        await expect(card.locator("[data-state]")).to_have_text("paused")
        await expect(card.locator("[data-inbox]")).to_have_text("1")
        await shot(page, "instances")
        assert not await unlabelled(page)
        await card.get_by_role("button", name="Resume").click()
        await until(api.http, made["id"], lambda v: v["counters"]["succeeded"] == 1)
        await page.reload()
        await expect(card.locator("[data-counters]")).to_contain_text("1 succeeded")
        page.once("dialog", accept)
        await card.get_by_role("button", name="Stop").click()
        await expect(card.locator("[data-state]")).to_have_text("stopped")
        await expect(card.get_by_role("button")).to_have_count(0)
    finally:
        await ctx.close()

    other_key = await new_api_key(settings, owner=f"ui-other-{uuid.uuid4().hex[:6]}")
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, other_key, "/ui/instances")
        assert made["id"] not in await page.content()
        await expect(page.get_by_text("No instances")).to_be_visible()
    finally:
        await ctx.close()
