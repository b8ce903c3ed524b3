"""The built-in specialist and QA agents through the real API, workflow and tools.

Each task's model is a script (`script:<name>`): one turn calls a tool the agent has, the last
one answers JSON matching the agent's output schema, which the workflow checks.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.types import LlmInput
from cape.db.models import TaskStep
from cape.registry.spec import AgentSpec
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.agents.builtin_examples import (
    DOMAINS,
    QA_ANSWERS,
    QA_INPUTS,
    SPECIALIST,
    VERSIONS,
    specialist_answer,
    specialist_input,
)
from tests.conftest import Api
from tests.e2e.agent_support import wait_status
from tests.e2e.tooling import call, events_of, pretty, results, tool_steps, wait_task
from tests.harness import stored


async def _start(
    api: Api, fake_llm: FakeLLMServer, agent: str, data: dict[str, Any], turns: list[Turn]
) -> dict[str, Any]:
    """POST /v1/tasks for the built-in `agent` with `data` as input; the model plays `turns`."""
    name = f"builtin-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=turns))
    created = await api.http.post(
        "/v1/tasks", json={"agent": agent, "input": data, "model": f"script:{name}"}
    )
    assert created.status_code == 201, created.text
    task = dict(created.json())
    assert task["agent_version"] == VERSIONS[agent], pretty(task)
    return task


async def _run(
    api: Api, fake_llm: FakeLLMServer, agent: str, data: dict[str, Any], turns: list[Turn]
) -> dict[str, Any]:
    task = await _start(api, fake_llm, agent, data, turns)
    return await wait_task(api, task["id"])


def _out(step: TaskStep) -> dict[str, Any]:
    """A finished step's output (every step these tests read has finished)."""
    assert step.output is not None, (step.name, step.status)
    return dict(step.output)


def _answer(value: dict[str, Any]) -> Turn:
    return Turn(content=json.dumps(value))


async def _prompts(client: Client, task_id: str) -> list[str]:
    """The system prompts the workflow sent to the model, from its history (one per LLM turn)."""
    history = await client.get_workflow_handle(task_id).fetch_history()
    prompts = []
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and (
            scheduled.activity_type.name == "call_llm"
        ):
            [inp] = await client.data_converter.decode(scheduled.input.payloads, [LlmInput])
            prompts.append(inp.system_prompt)
    return prompts


async def _version(api: Api, name: str) -> dict[str, Any]:
    got = await api.http.get(f"/v1/agents/{name}/versions/{VERSIONS[name]}")
    assert got.status_code == 200, got.text
    return dict(got.json())


@pytest.mark.parametrize("domain", DOMAINS)
async def test_the_specialist_searches_the_docs_and_answers_for_its_domain(
    domain: str,
    api: Api,
    worker: Worker,
    fake_llm: FakeLLMServer,
    settings: Settings,
    client: Client,
) -> None:
    answer = specialist_answer(domain)
    turns = [Turn(tool_calls=[call("docs_search", query="approve a tool call")]), _answer(answer)]
    task = await _run(api, fake_llm, SPECIALIST, specialist_input(domain), turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == answer

    [step] = await tool_steps(settings, task["id"])
    assert step.name == "tool: docs_search" and step.status == "succeeded", step.status
    out = _out(step)
    assert out["ok"] is True and "docs/concepts.md#approvals" in out["content"], pretty(out)
    [search] = await events_of(settings, task["id"], "docs-search")
    assert search.data["query"] == "approve a tool call" and search.data["results"]

    # The model got the chosen domain's playbook, and no other domain's.
    spec = AgentSpec.model_validate((await _version(api, SPECIALIST))["spec"])
    domains = spec.config["domains"]
    prompts = await _prompts(client, task["id"])
    assert prompts == [spec.render_prompt(specialist_input(domain))] * 2
    for step_text in domains[domain]["playbook"]:
        assert step_text in prompts[0]
    for other in set(DOMAINS) - {domain}:
        assert domains[other]["playbook"][0] not in prompts[0], other


async def test_a_specialist_answer_for_another_domain_is_refused_and_repaired(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    asked, answered = "security_audit", "data_analytics"
    turns = [_answer(specialist_answer(answered)), _answer(specialist_answer(asked))]
    task = await _run(api, fake_llm, SPECIALIST, specialist_input(asked), turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"]["domain"] == asked

    steps, _ = await stored(settings, task["id"])
    outputs = [_out(s) for s in steps if s.kind == "check"]
    assert [o["ok"] for o in outputs] == [False, True], pretty(outputs)
    assert outputs[0]["problems"] == ["domain: 'security_audit' was expected"], outputs[0]
    assert "'security_audit' was expected" in outputs[0]["message"]["content"]

    # An answer that keeps the wrong domain fails the task, as any answer missing the schema.
    wrong = [_answer(specialist_answer(answered))] * 3
    failed = await _run(api, fake_llm, SPECIALIST, specialist_input(asked), wrong)
    assert failed["status"] == "failed", pretty(failed)
    assert failed["error"]["type"] == "OutputInvalid" and "domain" in failed["error"]["message"]


async def test_a_specialist_answer_missing_the_schema_is_repaired(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    answer = specialist_answer("security_audit")
    incomplete = {k: v for k, v in answer.items() if k != "playbook_steps"}
    turns = [_answer(incomplete), Turn(content="Here is my answer: none"), _answer(answer)]
    task = await _run(api, fake_llm, SPECIALIST, specialist_input("security_audit"), turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == answer

    steps, _ = await stored(settings, task["id"])
    checks = [s for s in steps if s.kind == "check"]
    outputs = [_out(s) for s in checks]
    assert [o["ok"] for o in outputs] == [False, False, True], pretty(outputs)
    first, second = outputs[0], outputs[1]
    assert any("playbook_steps" in problem for problem in first["problems"]), first
    assert "not JSON" in second["problems"][0], second
    # Each miss told the model what to fix, in the conversation of its next turn.
    assert "playbook_steps" in first["message"]["content"]
    assert [s.kind for s in steps if s.kind in ("llm", "check")] == ["llm", "check"] * 3


async def test_a_specialist_that_never_matches_the_schema_fails(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    wrong = {**specialist_answer("data_analytics"), "confidence": 3}
    turns = [_answer(wrong)] * 3
    task = await _run(api, fake_llm, SPECIALIST, specialist_input("data_analytics"), turns)
    assert task["status"] == "failed", pretty(task)
    assert task["error"]["type"] == "OutputInvalid" and "confidence" in task["error"]["message"]


async def test_qa_manager_writes_its_report_and_answers_a_verdict(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    report = "# QA staging: degraded\n\n- /login: 'Sign in' missing\n"
    turns = [
        Turn(tool_calls=[call("write_file", path="output/qa-report.md", content=report)]),
        _answer(QA_ANSWERS["qa-manager"]),
    ]
    task = await _run(api, fake_llm, "qa-manager", QA_INPUTS["qa-manager"], turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == QA_ANSWERS["qa-manager"]
    [step] = await tool_steps(settings, task["id"])
    assert step.name == "tool: write_file" and _out(step)["ok"] is True, pretty(step.output)
    written = settings.workspace_root / task["id"] / "output" / "qa-report.md"
    assert written.read_text() == report


async def test_qa_manager_email_waits_for_approval_and_a_rejection_is_not_sent(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    email = call("send_email", to=["qa@example.com"], subject="[QA staging] DEGRADED", body="x")
    turns = [Turn(tool_calls=[email]), _answer(QA_ANSWERS["qa-manager"])]
    task = await _start(api, fake_llm, "qa-manager", QA_INPUTS["qa-manager"], turns)
    pending = (await wait_status(api, task["id"], "input_required"))["pending_input"]
    assert pending["kind"] == "approval" and pending["tool"] == "send_email", pretty(pending)
    answer = {"request_id": pending["id"], "action": "reject", "reason": "not during the demo"}
    rejected = await api.http.post(f"/v1/tasks/{task['id']}/input", json=answer)
    assert rejected.status_code == 200, rejected.text

    done = await wait_task(api, task["id"])
    assert done["status"] == "succeeded" and done["output"] == QA_ANSWERS["qa-manager"]
    [result] = results(await events_of(settings, task["id"], "tool-result"))
    assert result["ok"] is False and "rejected by tester: not during the demo" in result["content"]
    assert await events_of(settings, task["id"], "email-sent") == []


async def test_explorer_saves_its_map_and_answers_pages_flows_and_risks(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    ui_map = json.dumps(QA_ANSWERS["explorer"])
    turns = [
        Turn(tool_calls=[call("write_file", path="output/ui-map.json", content=ui_map)]),
        Turn(tool_calls=[call("list_files", path="output")]),
        _answer(QA_ANSWERS["explorer"]),
    ]
    task = await _run(api, fake_llm, "explorer", QA_INPUTS["explorer"], turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == QA_ANSWERS["explorer"]
    steps = await tool_steps(settings, task["id"])
    assert [(s.name, _out(s)["ok"]) for s in steps] == [
        ("tool: write_file", True),
        ("tool: list_files", True),
    ], pretty([s.output for s in steps])
    assert "ui-map.json" in _out(steps[1])["content"]


async def test_executor_runs_a_command_in_the_sandbox_and_reports_counts(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    turns = [
        Turn(tool_calls=[call("shell", command="mkdir -p src/app && echo '3 passed, 1 failed'")]),
        _answer(QA_ANSWERS["executor"]),
    ]
    task = await _run(api, fake_llm, "executor", QA_INPUTS["executor"], turns)
    assert task["status"] == "succeeded", pretty(task)
    assert task["output"] == QA_ANSWERS["executor"]
    [step] = await tool_steps(settings, task["id"])
    out = _out(step)
    assert step.name == "tool: shell" and out["ok"] is True, pretty(out)
    assert "3 passed, 1 failed" in out["content"]
    assert (settings.workspace_root / task["id"] / "src" / "app").is_dir()
