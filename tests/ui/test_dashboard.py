"""The dashboard in a real browser against the real stack (API, worker, Temporal, scripted LLM).

Log in, start a task from the form generated from the agent's input schema, watch the answer
stream in over SSE, approve a tool call, see the task succeed, download an artifact, cancel
another task, filter the list. Screenshots of the pages go to `.artifacts/screenshots/`.
"""

from __future__ import annotations

import uuid

from playwright.async_api import Browser, Dialog, expect
from temporalio.worker import Worker

from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.agent_support import publish, spec, start, wait_status
from tests.e2e.tooling import call, wait_task
from tests.ui.browser import context, log_in, needs_chromium, shot, unlabelled

pytestmark = needs_chromium

ANSWER = "The file out.txt now says hello. Done."


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


def _script(fake_llm: FakeLLMServer) -> str:
    name = f"ui-{uuid.uuid4().hex[:8]}"
    turns = [
        Turn(tool_calls=[call("write_file", path="out.txt", content="hello")]),
        Turn(content=ANSWER),
    ]
    fake_llm.add_script(Script(name=name, turns=turns))
    return f"script:{name}"


async def test_start_approve_stream_download_cancel_and_filter(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, browser: Browser
) -> None:
    agent = await publish(
        api,
        spec(
            tools=[{"name": "write_file", "approval": True}, "read_file"],
            input_schema={
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string", "description": "What to do"},
                    "tone": {"enum": ["plain", "formal"], "default": "plain"},
                    "retries": {"type": "integer", "default": 2},
                },
            },
        ),
    )
    ctx = await context(browser, api.url)
    page = await ctx.new_page()

    # No session: every page sends the browser to the login page, which returns it after.
    await page.goto("/ui/login")
    await shot(page, "login")
    await log_in(page, api.key, "/ui/tasks")
    await expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    await page.keyboard.press("Tab")  # keyboard users start at "Skip to content"
    await expect(page.locator(":focus")).to_have_text("Skip to content")

    # The start form has one labelled control per property of the input schema.
    await page.goto(f"/ui/tasks/new?agent={agent}")
    await expect(page.get_by_label("Prompt")).to_be_visible()
    await expect(page.get_by_label("Tone")).to_have_value('"plain"')  # the JSON of the value
    await expect(page.get_by_label("Tone").locator("option:checked")).to_have_text("plain")
    await expect(page.get_by_label("Retries")).to_have_value("2")
    await page.get_by_label("Prompt").fill("write hello to out.txt")
    await page.get_by_text("Options").click()
    await page.get_by_label("Model (default: the agent's)").fill(_script(fake_llm))
    await shot(page, "new-task")
    assert not await unlabelled(page)
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url("**/ui/tasks/task_*")
    task_id = page.url.rsplit("/", 1)[1]
    created = (await api.http.get(f"/v1/tasks/{task_id}")).json()
    assert created["input"] == {"prompt": "write hello to out.txt", "tone": "plain", "retries": 2}

    # The question arrives live (the page follows the event stream) with its arguments.
    question = page.locator("#question")
    await expect(question).to_contain_text("write_file", timeout=60_000)
    await expect(question.locator("pre.args")).to_contain_text('"path": "out.txt"')
    await shot(page, "task-approval")
    assert not await unlabelled(page)
    await question.get_by_role("button", name="Approve").click()

    # The answer streams in over SSE (only the page's script writes #stream), then it succeeds.
    await expect(page.locator("#stream")).to_contain_text(ANSWER, timeout=60_000)
    await expect(page.locator("#task-status")).to_have_text("succeeded", timeout=60_000)
    await expect(page.locator("#answer")).to_have_text(ANSWER)
    await expect(page.locator("#steps li[data-kind=tool]").first).to_contain_text("write_file")
    await expect(page.locator("#stream-state")).to_have_text("ended: succeeded")
    await shot(page, "task-succeeded")
    assert not await unlabelled(page)

    # An artifact (the workspace snapshot after the tool step) downloads with the session.
    link = page.locator("#artifacts a").first
    await expect(link).to_be_visible()
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert await download.path() is not None and download.suggested_filename

    # Fork from the last model call: the new task's page opens, linked to its parent.
    await page.get_by_role("button", name="Fork from step 4").click()
    await page.wait_for_url(lambda url: task_id not in url)
    fork_id = page.url.rsplit("/", 1)[1]
    forked = (await api.http.get(f"/v1/tasks/{fork_id}")).json()
    assert forked["parent_id"] == task_id and forked["relation"] == "fork"
    await expect(page.get_by_role("link", name=f"fork of {task_id[:13]}…")).to_be_visible()
    await wait_task(api, fork_id)

    # Another task, waiting for its approval, is canceled from its page.
    other = await start(api, agent, _script(fake_llm))
    await wait_status(api, other["id"], "input_required")
    await page.goto(f"/ui/tasks/{other['id']}")
    page.once("dialog", accept)
    await page.get_by_role("button", name="Cancel").click()
    assert (await wait_task(api, other["id"]))["status"] == "canceled"
    await expect(page.locator("#task-status")).to_have_text("canceled", timeout=60_000)

    # The list filters by status and agent.
    await page.goto("/ui/tasks")
    await expect(page.locator(f"tr[data-task-id='{task_id}']")).to_be_visible()
    await shot(page, "tasks")
    assert not await unlabelled(page)
    await page.get_by_label("Status").select_option("canceled")
    await page.get_by_label("Agent").fill(agent)
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**status=canceled**")
    rows = page.locator("#task-rows tr[data-task-id]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-task-id", other["id"])

    # The unfiltered list updates itself: a task started elsewhere shows up without a reload.
    await page.goto("/ui/tasks")
    third = await start(api, agent, _script(fake_llm))
    await expect(page.locator(f"tr[data-task-id='{third['id']}']")).to_be_visible()
    await expect(page.locator("#waiting-count")).not_to_have_text("0", timeout=30_000)
    await api.http.post(f"/v1/tasks/{third['id']}/cancel")

    # Phone width: the same list, one column of controls, no sideways page scroll.
    phone = await context(browser, api.url, width=390)
    small = await phone.new_page()
    await log_in(small, api.key, "/ui/tasks")
    for path, name in ((None, "tasks-phone"), (f"/ui/tasks/{task_id}", "task-phone")):
        if path:
            await small.goto(path)
            await expect(small.locator("#stream")).to_contain_text(ANSWER)
        await shot(small, name)
        width = await small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: the page scrolls sideways on a phone: {width} px"
    await phone.close()
    await ctx.close()
