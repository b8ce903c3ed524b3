"""The task page shows its delegation tree (a link to each task) and its messages."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.e2e.channel_support import message_tree
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium


async def test_task_page_shows_the_tree_and_messages(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, browser: Browser
) -> None:
    agent, root, child, grandchild = await message_tree(api, fake_llm, settings)
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, api.key, f"/ui/tasks/{child}")
        nodes = page.locator("#tree li")
        await expect(nodes).to_have_count(3)
        await expect(nodes.nth(0)).to_contain_text(f"{root} {agent} succeeded")
        await expect(nodes.nth(1)).to_contain_text(f"{child} (this task)")
        await expect(nodes.nth(2)).to_contain_text(grandchild)
        await expect(page.locator("#messages li")).to_have_count(1)
        await expect(page.locator("#messages li")).to_contain_text(f"from {root} ({agent})")
        await expect(page.locator("#messages pre")).to_have_text("hello child")
        assert not await unlabelled(page)
        await shot(page, "task-tree")

        await nodes.nth(2).get_by_role("link").click()
        await expect(page.locator("#tree li").nth(2)).to_contain_text(f"{grandchild} (this task)")
        await expect(page.locator("#messages")).to_have_count(0)  # it got none
        await page.locator("#tree li").nth(0).get_by_role("link").click()
        await expect(page.locator("#messages li")).to_contain_text(f"to {child}")
    finally:
        await ctx.close()
