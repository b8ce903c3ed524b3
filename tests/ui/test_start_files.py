"""The start form's file field in a real browser: files reach the task's `input/`, refusals show.

The field is reached with the keyboard; a file the API refuses (its media type, or one file
too many) shows the API's message, naming the field and the file, inside the form, and so does
the 413 of a body over the total limit; two accepted files are read by the task's first tool
step, shown on its page.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Browser, FilePayload, expect
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec
from tests.e2e.tooling import call, pretty, wait_task
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium

MIB = 1024 * 1024
A_TXT = b"alpha from the browser\n"
B_TXT = b"beta from the browser\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """1 MB per file and together, so a body over the total limit stays small."""
    return settings.model_copy(update={"artifact_max_upload_mb": 1, "task_files_max_mb": 1})


def text_file(name: str, data: bytes, media: str = "text/plain") -> FilePayload:
    return {"name": name, "mimeType": media, "buffer": data}


async def test_start_form_sends_files_and_shows_the_refusal_in_the_form(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, browser: Browser
) -> None:
    agent = await publish(api, spec(tools=["shell"]))
    script = f"ui-files-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=script, turns=[
        Turn(tool_calls=[call("shell", command="cat input/a.txt input/b.txt")]),
        Turn(content="read both"),
    ]))  # fmt: skip
    ctx = await context(browser, api.url)
    page = await ctx.new_page()
    await log_in(page, api.key, f"/ui/tasks/new?agent={agent}")
    await page.get_by_label("Prompt").fill("read the files")
    await page.get_by_text("Options").click()
    await page.get_by_label("Model (default: the agent's)").fill(f"script:{script}")

    # Keyboard: Tab from the prompt reaches the file field (a native file input).
    files = page.get_by_label("Files (optional)", exact=True)
    await page.get_by_label("Prompt").focus()
    await page.keyboard.press("Tab")
    await expect(files).to_be_focused()
    await expect(files).to_have_attribute("multiple", "")
    help_text = "Up to 20 files, 1 MB each, 1 MB together."
    await expect(page.locator("#in-files-help")).to_contain_text(help_text)
    exe = text_file("tool.exe", b"MZ", "application/x-msdownload")
    await files.set_input_files([text_file("a.txt", A_TXT), exe])
    await expect(page.locator("#in-files-chosen")).to_contain_text("input/tool.exe")

    # A refused type: the API's 422 names the part's field; the form names the file.
    error = page.locator("#start-error")
    await page.get_by_role("button", name="Start").click()
    await expect(error).to_contain_text("tool.exe: invalid file: body.file.1: media type")
    await expect(error).to_contain_text("is not accepted")
    await expect(files).to_have_attribute("aria-invalid", "true")
    await expect(files).to_be_focused()
    await shot(page, "new-task-file-refused")
    assert "/ui/tasks/new" in page.url

    # One file over the count limit (20): refused before any part is kept.
    many = [text_file(f"f{n}.txt", b"x") for n in range(21)]
    await files.set_input_files(many)
    await expect(files).not_to_have_attribute("aria-invalid", "true")
    await expect(error).to_be_hidden()  # other files: the refusal of the first ones goes
    await page.get_by_role("button", name="Start").click()
    await expect(error).to_contain_text("body.file")
    await expect(error).to_contain_text("files: at most 20")
    # A body over the total limit (and the task's 1 MB more) is cut off with the API's 413.
    await files.set_input_files([text_file("big.txt", b"x" * 3 * MIB)])
    await page.get_by_role("button", name="Start").click()
    await expect(error).to_contain_text("the request exceeds the limit of")
    await expect(error).to_contain_text("CAPE_TASK_FILES_MAX_MB")
    listed = (await api.http.get("/v1/tasks", params={"agent": agent})).json()
    assert listed["items"] == [], listed

    # Two text files: the task starts with them in input/ and its first tool step reads both.
    await files.set_input_files([text_file("a.txt", A_TXT), text_file("b.txt", B_TXT)])
    chosen = page.locator("#in-files-chosen li")
    await expect(chosen).to_have_text(["input/a.txt (23 bytes)", "input/b.txt (22 bytes)"])
    await shot(page, "new-task-files")
    assert not await unlabelled(page)
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url("**/ui/tasks/task_*")
    task = await wait_task(api, page.url.rsplit("/", 1)[1])
    assert task["status"] == "succeeded", pretty(task)
    await expect(page.locator("#task-status")).to_have_text("succeeded", timeout=60_000)
    step = page.locator("#steps li[data-kind=tool]").first
    await expect(step).to_contain_text("cat input/a.txt input/b.txt")
    await expect(step).to_contain_text("alpha from the browser")
    await expect(step).to_contain_text("beta from the browser")
    artifacts = (await api.http.get(f"/v1/tasks/{task['id']}/artifacts")).json()
    inputs = sorted(a["name"] for a in artifacts if a["id"].startswith("in-"))
    assert inputs == ["a.txt", "b.txt"]
    await shot(page, "task-with-files")
    await ctx.close()
