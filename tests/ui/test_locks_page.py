"""The locks pages in the browser: the list, one lock with its queue in order, an admin's
Release (the next waiter is granted, the old token is stale); another team sees none of it."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import Browser, Dialog, expect

from cape.settings import Settings
from tests.conftest import Api
from tests.harness import new_api_key
from tests.locks.support import acquire, release, show, until
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled
from worker.group import WorkerGroup

pytestmark = needs_chromium


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_locks_pages_show_the_queue_and_an_admin_releases(
    api: Api, worker: WorkerGroup, browser: Browser, settings: Settings
) -> None:
    resource = f"printer-{uuid.uuid4().hex[:6]}"
    held = await acquire(api.http, resource, "job-a", ttl_seconds=600)
    assert held.status_code == 200, held.text
    for holder, priority in (("job-b", "normal"), ("job-c", "high")):
        queued = await acquire(api.http, resource, holder, priority=priority, wait_seconds=600)
        assert queued.status_code == 202, queued.text

    async def saved() -> bool:  # the list reads the database copy (saved within a second)
        listed = {lock["resource"]: lock for lock in (await api.http.get("/v1/locks")).json()}
        return len(listed.get(resource, {}).get("waiters", [])) == 2

    await until(saved, 30)
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    try:
        await log_in(page, api.key, "/ui/locks")
        row = page.locator(f"#locks tr[data-resource='{resource}']")
        await expect(row).to_contain_text("job-a")
        await expect(row.locator("td").nth(5)).to_have_text("2")
        await expect(page.get_by_role("link", name="Locks", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        await shot(page, "locks")
        assert not await unlabelled(page)

        await row.get_by_role("link", name=resource).click()
        await expect(page.locator("#lock-holder")).to_have_text("job-a")
        await expect(page.locator("#lock-fence")).to_have_text("1")
        queue = page.locator("#lock-queue tbody tr")
        await expect(queue).to_have_count(2)
        await expect(queue.nth(0)).to_contain_text("job-c")  # high before normal
        await expect(queue.nth(1)).to_contain_text("job-b")
        assert not await unlabelled(page)
        page.once("dialog", accept)
        await page.get_by_role("button", name="Release").click()
        await expect(page.locator("#lock-holder")).to_have_text("job-c")
        await expect(page.locator("#lock-fence")).to_have_text("2")
        await expect(queue).to_have_count(1)
        await shot(page, "lock")
    finally:
        await ctx.close()
    assert (await show(api.http, resource))["holder"] == "job-c"
    stale = await release(api.http, resource, held.json()["token"])
    assert stale.status_code == 409, stale.text

    # Another team: the lock is not in its list and its page is a 404.
    other_key = await new_api_key(settings, owner=f"ui-locks-{uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as other:
        login = await other.post("/ui/login", data={"api_key": other_key, "next": "/ui/locks"})
        assert login.status_code == 303, login.text
        listed = await other.get("/ui/locks")
        assert listed.status_code == 200 and resource not in listed.text
        hidden = await other.get(f"/ui/locks/{resource}")
        assert hidden.status_code == 404 and "job-c" not in hidden.text
