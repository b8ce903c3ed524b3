"""A package's test cases run at publish as real tasks of the publisher's team on the scripted
model: the version's report shows each case `pending`, then `passed` or `failed` with the check
that failed, and the quality score counts the pass rate."""

from __future__ import annotations

import uuid

import httpx
from temporalio.worker import Worker

from cape.marketplace.cases import FAILURE_WEIGHT, TaskResult, with_outcomes
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.conftest import Api
from tests.e2e.tooling import wait_task
from tests.harness import new_api_key, running_api
from tests.marketplace.support import agent, package


def step_of(report: list[dict[str, object]]) -> dict[str, object]:
    return next(s for s in report if s["step"] == "tests")


async def test_a_passing_and_a_failing_case_run_against_the_scripted_model(
    settings: Settings, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    script = f"pkg-tests-{tag}"
    fake_llm.add_script(Script(name=script, turns=[Turn(content="Release notes: all good")]))
    configured = settings.model_copy(update={"marketplace_test_model": f"script:{script}"})
    key = await new_api_key(settings, owner=f"pkg-tests-{tag}")
    bodies = {
        "passes": package(
            f"good-{tag}",
            agents=[agent(f"good-{tag}-agent")],
            tests=[{"agent": f"good-{tag}-agent", "input": {"prompt": "v1"},
                    "expect_contains": "all good"}],
        ),
        "fails": package(
            f"bad-{tag}",
            agents=[agent(f"bad-{tag}-agent")],
            tests=[
                {"agent": f"bad-{tag}-agent", "input": {"prompt": "v1"},
                 "expect_contains": "all good"},
                {"agent": f"bad-{tag}-agent", "input": {"prompt": "v2"},
                 "expect_contains": "security fixes"},
            ],
        ),
    }  # fmt: skip
    async with running_api(configured) as url:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            api = Api(url, key, client)
            published = {}
            for kind, body in bodies.items():
                sent = await client.post("/v1/marketplace/packages", json=body)
                assert sent.status_code == 201, sent.text
                step = step_of(sent.json()["report"])
                assert step["status"] == "pending" and step["model"] == f"script:{script}"
                published[kind] = sent.json()
                for case in step["cases"]:  # type: ignore[attr-defined]
                    # A real task of the publisher's team, on the scripted model.
                    final = await wait_task(api, case["task_id"])
                    assert final["status"] == "succeeded", final
                    assert final["model"] == f"script:{script}"
            views = {}
            for kind, body in bodies.items():
                got = await client.get(f"/v1/marketplace/packages/{body['manifest']['name']}")
                assert got.status_code == 200, got.text
                views[kind] = got.json()["versions"][0]
        async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
            login = await browser.post("/ui/login", data={"api_key": key, "next": "/ui/tasks"})
            assert login.status_code == 303, login.text
            page = await browser.get(f"/ui/marketplace/bad-{tag}")
            assert "tests</strong>: failed" in page.text
            assert "case 1 (bad-" in page.text and "expect_contains: the answer" in page.text
    good, bad = views["passes"], views["fails"]
    assert good["tests"] == "passed"
    good_step = step_of(good["scan_report"])
    assert [c["outcome"] for c in good_step["cases"]] == ["passed"]  # type: ignore[attr-defined]
    assert good["quality"] == published["passes"]["quality"]
    assert bad["tests"] == "failed"
    bad_step = step_of(bad["scan_report"])
    assert (bad_step["passed"], bad_step["failed"], bad_step["pending"]) == (1, 1, 0)
    failed = bad_step["cases"][1]  # type: ignore[index]
    assert failed["outcome"] == "failed" and failed["failed_check"] == "expect_contains"
    assert "security fixes" in failed["message"]
    assert bad["quality"] == published["fails"]["quality"] - FAILURE_WEIGHT / 2


def test_a_running_case_is_pending_and_the_quality_waits_for_it() -> None:
    cases = [
        {"index": 0, "agent": "a", "input": {}, "expect_contains": "ok", "task_id": "t1"},
        {"index": 1, "agent": "a", "input": {}, "expect_contains": "", "task_id": "t2"},
        {"index": 2, "agent": "a", "input": {}, "expect_contains": "", "invalid": "x: bad"},
    ]
    report = [{"step": "tests", "cases": cases}]
    running = {"t1": TaskResult("running", None, None), "t2": TaskResult("succeeded", {}, None)}
    shown, quality, status = with_outcomes(report, running, 80.0)
    assert (status, quality) == ("pending", 80.0)
    outcomes = [c["outcome"] for c in shown[0]["cases"]]
    assert outcomes == ["pending", "passed", "failed"]
    assert shown[0]["cases"][2]["failed_check"] == "input"
    error = {"message": "step limit"}
    ended = {"t1": TaskResult("failed", None, error), "t2": TaskResult("succeeded", {}, None)}
    shown, quality, status = with_outcomes(report, ended, 80.0)
    assert status == "failed" and quality == 80.0 - FAILURE_WEIGHT * 2 / 3
    assert shown[0]["cases"][0]["failed_check"] == "status"
    assert "step limit" in shown[0]["cases"][0]["message"]
    assert with_outcomes([], {}, 70.0) == ([], 70.0, "none")
