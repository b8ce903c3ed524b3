"""Playwright against Debian's Chromium (never a downloaded browser), and where screenshots go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.harness import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium"
)


async def launched() -> AsyncIterator[Browser]:
    """A headless Chromium for the session (the tests make one context each)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def context(browser: Browser, base_url: str, width: int = 1280) -> BrowserContext:
    """A fresh browser profile (no cookies) sized like a laptop, or a phone with `width`."""
    height = 900 if width >= 1000 else 800
    made = await browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}, accept_downloads=True
    )
    made.set_default_timeout(30_000)
    return made


async def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under `.artifacts/screenshots/` (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in(page: Page, key: str, start: str = "/ui/tasks") -> None:
    """Open `start`, get sent to the login page, log in with `key`, land back on `start`."""
    await page.goto(start)
    assert "/ui/login?next=" in page.url, f"{page.url}: {(await page.content())[:2000]}"
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"**{start}")


UNLABELLED = """[...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !e.textContent.trim())
  .map((e) => e.outerHTML)"""


async def unlabelled(page: Page) -> list[str]:
    """The page's controls and links that have no label, name or text (keyboard users')."""
    found: list[str] = await page.evaluate(UNLABELLED)
    return found
