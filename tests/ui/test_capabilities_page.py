"""The capabilities page in the browser: agents in the assigner's order with availability and
records; another team sees none of the team's capabilities."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import Browser, expect

from cape.settings import Settings
from tests.assign.support import capability, capable_agent
from tests.conftest import Api
from tests.harness import new_api_key
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium


async def test_capabilities_page_lists_agents_in_order_and_hides_them_from_another_team(
    api: Api, browser: Browser, settings: Settings
) -> None:
    cap = capability()
    late = await capable_agent(api, "zz-late", [cap], max_concurrent=3)
    early = await capable_agent(api, "aa-early", [cap], complexity={"min": 2, "max": 5})
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, api.key, "/ui/capabilities")
        rows = page.locator(f"#capabilities tr[data-capability='{cap}']")
        await expect(rows).to_have_count(2)
        # No record for either: the name decides.
        await expect(rows.nth(0)).to_contain_text(early)
        await expect(rows.nth(0).locator("td").nth(0)).to_have_text(cap)
        await expect(rows.nth(0).locator("td").nth(3)).to_have_text("2-5")
        await expect(rows.nth(1).locator("td").nth(4)).to_have_text("available (0/3)")
        await expect(rows.nth(1).locator("td").nth(5)).to_have_text("-")
        await expect(rows.nth(1)).to_contain_text(late)
        await expect(
            page.locator("#capabilities tr[data-capability='test-execution']")
        ).to_have_count(1)
        await expect(page.get_by_role("link", name="Capabilities", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        await shot(page, "capabilities")
        assert not await unlabelled(page)
    finally:
        await ctx.close()

    other_key = await new_api_key(settings, owner=f"ui-cap-{uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as other:
        login = await other.post("/ui/login", data={"api_key": other_key, "next": "/ui/tasks"})
        assert login.status_code == 303, login.text
        seen = await other.get("/ui/capabilities")
        assert seen.status_code == 200 and "test-execution" in seen.text
        assert cap not in seen.text and early not in seen.text
