"""The git tools on a repository the agent crafted: no host file read, written or chowned.

A `.git/index` naming `../` paths made `git_commit`, run as root on the host, hash any host
file into a commit the agent could read; the ownership walk after each git call followed a
directory the agent swapped for a symlink. Git now runs in the sandbox as the sandbox user.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from activities.tools.base import ToolError
from activities.tools.github import TOOLS
from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.containment.conftest import (
    TRIES,
    Canary,
    crafted_index,
    files_under,
    git_objects,
    racing,
    tar_members,
)
from tests.e2e.test_tools_github import REPO, TOKEN
from tests.e2e.test_tools_github import git_server as git_server  # the fixture
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.harness import stored
from tests.tools.conftest import ToolRig
from tests.tools.git_server import GitServer

SPECS = {spec.name: spec for spec in TOOLS}


@pytest.fixture
def settings(settings: Settings, git_server: GitServer) -> Settings:
    return settings.model_copy(
        update={"github_token": SecretStr(TOKEN), "github_git_url": git_server.url}
    )


async def _tool(rig: ToolRig, server: GitServer, tool: str, **args: Any) -> str:
    update = {"github_token": SecretStr(TOKEN), "github_git_url": server.url}
    rig.settings = rig.settings.model_copy(update=update)
    spec = SPECS[tool]
    return (await spec.handler(rig.context(), spec.validate(args))).content


def _escapes(repo: Path, canary: Canary) -> list[str]:
    return [os.path.relpath(p, repo) for p in (canary.host_file, canary.other_file)]


async def test_crafted_index_cannot_commit_host_files(
    rig: ToolRig, canary: Canary, git_server: GitServer
) -> None:
    await _tool(rig, git_server, "git_clone", repo=REPO)
    repo = rig.workspace / "src" / "widget"
    before = canary.owners()
    for paths in (None, ["."]):
        (repo / ".git" / "index").write_bytes(crafted_index(["README.md", *_escapes(repo, canary)]))
        args: dict[str, Any] = {"dir": "src/widget", "message": "take it"}
        if paths:
            args["paths"] = paths
        with contextlib.suppress(ToolError):  # refusing is fine; committing host files is not
            await _tool(rig, git_server, "git_commit", **args)
        assert not canary.leaked(git_objects(repo))
    assert not any(canary.leaked(p.read_bytes()) for p in files_under(rig.workspace))
    assert canary.owners() == before


async def test_ownership_never_follows_a_swapped_directory(
    rig: ToolRig, canary: Canary, git_server: GitServer
) -> None:
    await _tool(rig, git_server, "git_clone", repo=REPO)
    repo = rig.workspace / "src" / "widget"
    (repo / "sub").mkdir()
    (repo / "sub" / canary.host_file.name).write_text("ordinary\n")
    (repo / "link").symlink_to(canary.host_dir)
    before = canary.owners()
    with racing(repo / "sub", repo / "link"):
        for n in range(TRIES):
            with contextlib.suppress(ToolError):
                await _tool(rig, git_server, "git_branch", dir="src/widget", name=f"b{n}")
            assert canary.owners() == before


async def test_git_commit_end_to_end_keeps_host_files_out(
    api: Api,
    worker: object,
    fake_llm: FakeLLMServer,
    settings: Settings,
    canary: Canary,
    git_server: GitServer,
) -> None:
    """The engineer agent crafts the index in its sandbox, commits, and reads the commit."""
    depth = os.path.relpath(settings.workspace_root, settings.workspace_root / "t" / "src" / "w")
    names = [
        os.path.join(depth, os.path.relpath(p, settings.workspace_root))
        for p in (canary.host_file, canary.other_file)
    ]
    index = base64.b64encode(crafted_index(["README.md", *names])).decode()
    code = (
        f"import base64\nopen('src/widget/.git/index', 'wb').write(base64.b64decode({index!r}))\n"
    )
    before = canary.owners()
    turns = [
        Turn(tool_calls=[call("git_clone", repo=REPO)]),
        Turn(tool_calls=[call("python", code=code)]),
        Turn(tool_calls=[call("git_commit", dir="src/widget", message="take it")]),
        Turn(
            tool_calls=[
                call("shell", command="git -C src/widget cat-file --batch-all-objects --batch")
            ]
        ),
        Turn(content="done"),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    out = results(await events_of(settings, task["id"], "tool-result"))
    assert out[0]["ok"] and out[1]["ok"], pretty(out)
    steps, events = await stored(settings, task["id"])
    stored_text = json.dumps([s.output for s in steps] + [e.data for e in events], default=str)
    assert not canary.leaked(stored_text.encode())
    workspace = settings.workspace_root / task["id"]
    assert not canary.leaked(git_objects(workspace / "src" / "widget"))
    for path in [*files_under(workspace), *files_under(settings.artifact_root)]:
        data = path.read_bytes()
        assert not canary.leaked(data), path
        if path.name.endswith(".tar.gz") or data[:2] == b"\x1f\x8b":
            assert not any(canary.leaked(member) for member in tar_members(data)), path
    assert canary.owners() == before
