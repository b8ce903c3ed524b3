"""Clone, change in the sandbox, commit, push and open a pull request through the workflow."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.harness import stored
from tests.tools.git_server import GitServer
from tests.tools.github_fake import GitHubFake

TOKEN = "ghp_E2eT0kenThatMustNeverLeak000000000000"
ENCODED = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
REPO = "acme/widget"


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", TOKEN) as server:
        server.create_repo(REPO, {"README.md": "# widget\n"})
        yield server


@pytest.fixture
def github_api() -> Iterator[GitHubFake]:
    with GitHubFake(TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, git_server: GitServer, github_api: GitHubFake) -> Settings:
    return settings.model_copy(
        update={
            "github_token": SecretStr(TOKEN),
            "github_git_url": git_server.url,
            "github_api_url": github_api.url,
        }
    )


async def test_change_pushed_and_pull_request_opened_without_leaking_the_token(
    api: Api,
    worker: Worker,
    client: Client,
    fake_llm: FakeLLMServer,
    settings: Settings,
    git_server: GitServer,
    github_api: GitHubFake,
) -> None:
    turns = [
        Turn(tool_calls=[call("git_clone", repo=REPO)]),
        Turn(
            tool_calls=[
                call("git_branch", dir="src/widget", name="agent/greeting"),
            ]
        ),
        Turn(tool_calls=[call("shell", command="echo hello > src/widget/hello.txt")]),
        Turn(tool_calls=[call("git_commit", dir="src/widget", message="Add greeting")]),
        Turn(tool_calls=[call("git_push", dir="src/widget")]),
        Turn(
            tool_calls=[
                call(
                    "github_pull_request",
                    repo=REPO,
                    title="Add greeting",
                    head="agent/greeting",
                    base="main",
                    body="Written by an agent.",
                )
            ]
        ),
        Turn(content="Opened the pull request."),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    out = results(await events_of(settings, task["id"], "tool-result"))
    assert all(r["ok"] for r in out), pretty(out)

    assert git_server.git(REPO, "show", "refs/heads/agent/greeting:hello.txt") == "hello\n"
    (pull,) = [r for r in github_api.requests if r.path.endswith("/pulls")]
    assert pull.body["head"] == "agent/greeting" and pull.body["base"] == "main"

    # The token reached the servers, and nothing else: not the history, events, steps, files.
    assert f"Basic {ENCODED}" in git_server.auth_headers
    history = (await client.get_workflow_handle(task["id"]).fetch_history()).to_json()
    steps, events = await stored(settings, task["id"])
    texts = [history, pretty([s.output for s in steps]), pretty([e.data for e in events])]
    workspace = settings.workspace_root / task["id"]
    texts += [p.read_bytes().decode(errors="replace") for p in workspace.rglob("*") if p.is_file()]
    for text in texts:
        assert TOKEN not in text and ENCODED not in text
