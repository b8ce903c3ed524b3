"""The GitHub tools against a real git smart-HTTP server and a fake GitHub REST API."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from activities.tools.base import ToolContext, ToolError, ToolOutput
from activities.tools.github import TOOLS
from tests.tools.conftest import ToolRig
from tests.tools.git_server import GitServer
from tests.tools.github_fake import GitHubFake

TOKEN = "ghp_Sup3rS3cretT0kenForTests0000000000"
ENCODED = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
REPO = "acme/widget"
SPECS = {spec.name: spec for spec in TOOLS}


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", TOKEN) as server:
        server.create_repo(REPO, {"README.md": "# widget\n", "lib/core.py": "X = 1\n"})
        yield server


@pytest.fixture
def github_api() -> Iterator[GitHubFake]:
    with GitHubFake(TOKEN) as fake:
        yield fake


def context(rig: ToolRig, server: GitServer | None = None, token: str = TOKEN) -> ToolContext:
    update: dict[str, Any] = {"github_token": SecretStr(token)}
    if server is not None:
        update["github_git_url"] = server.url
    rig.settings = rig.settings.model_copy(update=update)
    return rig.context()


async def call(ctx: ToolContext, tool: str, /, **args: Any) -> ToolOutput:
    spec = SPECS[tool]
    return await spec.handler(ctx, spec.validate(args))


def assert_no_secret(text: str) -> None:
    assert TOKEN not in text
    assert ENCODED not in text


async def cloned(rig: ToolRig, server: GitServer, token: str = TOKEN) -> tuple[ToolContext, Path]:
    ctx = context(rig, server, token)
    await call(ctx, "git_clone", repo=REPO)
    return ctx, rig.workspace / "src" / "widget"


async def test_clone_branch_commit_push_round_trip(rig: ToolRig, git_server: GitServer) -> None:
    ctx = context(rig, git_server)
    outputs = [await call(ctx, "git_clone", repo=REPO)]
    repo = rig.workspace / "src" / "widget"
    assert (repo / "lib" / "core.py").read_text() == "X = 1\n"
    outputs.append(await call(ctx, "git_branch", dir="src/widget", name="feature/greet"))
    (repo / "hello.txt").write_text("hello\n")
    if os.geteuid() == 0:  # as the sandbox user would have written it
        os.chown(repo / "hello.txt", rig.settings.sandbox_uid, rig.settings.sandbox_gid)
    (repo / "README.md").unlink()
    outputs.append(await call(ctx, "git_commit", dir="src/widget", message="Add greeting"))
    pushed = await call(ctx, "git_push", dir="src/widget")
    outputs.append(pushed)

    sha = outputs[2].content.split()[1]
    assert git_server.git(REPO, "rev-parse", "refs/heads/feature/greet").strip() == sha
    assert git_server.git(REPO, "show", f"{sha}:hello.txt") == "hello\n"
    assert git_server.git(REPO, "ls-tree", "--name-only", sha).split() == ["hello.txt", "lib"]
    author = git_server.git(REPO, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip()
    identity = "CapeControl Agent <agent@capecontrol.invalid>"
    assert author == f"{identity}|{identity}"
    url = f"{git_server.url}/{REPO}/tree/feature/greet"
    assert pushed.records == [
        (
            "github",
            {"action": "push", "repo": REPO, "ref": "feature/greet", "commit": sha, "url": url},
        )
    ]
    # The server authenticated the push with GitHub's scheme...
    assert f"Basic {ENCODED}" in git_server.auth_headers
    # ...yet the token is nowhere in the workspace, the outputs or the streamed text.
    for path in rig.workspace.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and ENCODED.encode() not in data, path
    assert_no_secret(repr([(o.content, o.records) for o in outputs]) + "".join(rig.emitted))
    assert git_server.url + "/acme/widget.git" in (repo / ".git" / "config").read_text()
    if os.geteuid() == 0:  # everything git wrote belongs to the sandbox user
        owners = {p.lstat().st_uid for p in [repo, *repo.rglob("*")]}
        assert owners == {rig.settings.sandbox_uid}
        assert (rig.workspace / "src").stat().st_uid == rig.settings.sandbox_uid


async def test_public_clone_needs_no_token_but_push_does(
    rig: ToolRig, git_server: GitServer
) -> None:
    ctx, repo = await cloned(rig, git_server, token="")
    assert git_server.auth_headers and set(git_server.auth_headers) == {None}
    (repo / "new.txt").write_text("new\n")
    await call(ctx, "git_commit", dir="src/widget", message="New file")
    with pytest.raises(ToolError, match="CAPE_GITHUB_TOKEN"):
        await call(ctx, "git_push", dir="src/widget")


async def test_private_clone_uses_the_token(rig: ToolRig, tmp_path: Path) -> None:
    with GitServer(tmp_path / "private", TOKEN, auth_all=True) as server:
        server.create_repo(REPO, {"secret.txt": "s\n"})
        with pytest.raises(ToolError, match="git clone failed") as refused:
            await call(context(rig, server, token="wrong-token-123"), "git_clone", repo=REPO)
        assert "wrong-token-123" not in str(refused.value)
        await call(context(rig, server), "git_clone", repo=REPO, dir="private")
    assert (rig.workspace / "private" / "secret.txt").read_text() == "s\n"


async def test_push_with_a_wrong_token_fails_without_leaking_it(
    rig: ToolRig, git_server: GitServer
) -> None:
    wrong = "ghp_WrongWrongWrongWrong"
    ctx, repo = await cloned(rig, git_server, token=wrong)
    (repo / "x.txt").write_text("x\n")
    await call(ctx, "git_commit", dir="src/widget", message="x")
    with pytest.raises(ToolError, match="refused the credentials") as failed:
        await call(ctx, "git_push", dir="src/widget")
    encoded = base64.b64encode(f"x-access-token:{wrong}".encode()).decode()
    assert wrong not in str(failed.value) and encoded not in str(failed.value)
    assert "x.txt" not in git_server.git(REPO, "ls-tree", "--name-only", "main")


async def test_hooks_in_the_workspace_do_not_run(
    rig: ToolRig, git_server: GitServer, tmp_path: Path
) -> None:
    ctx, repo = await cloned(rig, git_server)
    marker = tmp_path / "hook-ran"
    for hook in ("pre-commit", "commit-msg", "post-commit", "pre-push", "reference-transaction"):
        script = repo / ".git" / "hooks" / hook
        script.write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        script.chmod(0o755)
    (repo / "a.txt").write_text("a\n")
    await call(ctx, "git_commit", dir="src/widget", message="a")
    await call(ctx, "git_push", dir="src/widget")
    assert not marker.exists()
    assert "a.txt" in git_server.git(REPO, "ls-tree", "--name-only", "main")


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ("[core]\n\tfsmonitor = \"sh -c 'echo fs >> {marker}'\"\n", "core.fsmonitor"),
        ('[filter "evil"]\n\tclean = "sh -c \'echo f >> {marker}; cat\'"\n', "filter.evil.clean"),
        ("[include]\n\tpath = {marker}.cfg\n", "include.path"),
        ('[url "http://evil.invalid/"]\n\tinsteadOf = http://\n', "url.http://evil"),
        ('[remote "origin"]\n\tpushurl = http://evil.invalid/x.git\n', "remote.origin.pushurl"),
        ("[core]\n\tworktree = /\n", "core.worktree"),
        ("[core]\n\tbare = true\n", "core.bare"),
    ],
)
async def test_dangerous_repo_config_is_refused(
    rig: ToolRig, git_server: GitServer, tmp_path: Path, config: str, refused: str
) -> None:
    ctx, repo = await cloned(rig, git_server)
    marker = tmp_path / "ran"
    (marker.parent / "ran.cfg").write_text(f"[core]\n\tfsmonitor = touch {marker}\n")
    with (repo / ".git" / "config").open("a") as f:
        f.write(config.format(marker=marker))
    (repo / ".gitattributes").write_text("* filter=evil\n")
    for tool, args in (
        ("git_commit", {"message": "m"}),
        ("git_push", {}),
        ("git_branch", {"name": "b"}),
    ):
        with pytest.raises(ToolError, match=refused.replace(".", r"\.")):
            await call(ctx, tool, dir="src/widget", **args)
    assert not marker.exists()


async def test_git_dir_pointing_elsewhere_is_refused(
    rig: ToolRig, git_server: GitServer, tmp_path: Path
) -> None:
    ctx, repo = await cloned(rig, git_server)
    outside = tmp_path / "outside"
    outside.mkdir()
    (rig.workspace / "gitfile").mkdir()
    (rig.workspace / "gitfile" / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    with pytest.raises(ToolError, match="not the top of a git repository"):
        await call(ctx, "git_commit", dir="gitfile", message="m")
    (repo / ".git" / "objects" / "info" / "alternates").write_text(f"{outside}\n")
    with pytest.raises(ToolError, match="alternates"):
        await call(ctx, "git_commit", dir="src/widget", message="m")
    (repo / ".git" / "objects" / "info" / "alternates").unlink()
    (repo / ".git" / "packed-refs").unlink(missing_ok=True)
    (repo / ".git" / "packed-refs").symlink_to("/etc/passwd")
    with pytest.raises(ToolError, match="symlink"):
        await call(ctx, "git_commit", dir="src/widget", message="m")
    (repo / ".git" / "packed-refs").unlink()
    (repo / ".git" / "remotes").mkdir()
    (repo / ".git" / "remotes" / "origin").write_text("URL: http://evil.invalid/x.git\n")
    with pytest.raises(ToolError, match="defines remotes"):
        await call(ctx, "git_push", dir="src/widget")
    (repo / ".git" / "remotes" / "origin").unlink()
    os.mkfifo(repo / ".git" / "info" / "fifo")
    with pytest.raises(ToolError, match="is special"):
        await call(ctx, "git_commit", dir="src/widget", message="m")
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(ctx, "git_commit", dir="../..", message="m")


async def test_origin_must_be_the_configured_github(rig: ToolRig, git_server: GitServer) -> None:
    ctx, repo = await cloned(rig, git_server)
    config = repo / ".git" / "config"
    config.write_text(config.read_text().replace(git_server.url, "http://127.0.0.1:9"))
    with pytest.raises(ToolError, match="origin must be one URL under"):
        await call(ctx, "git_push", dir="src/widget")


@pytest.mark.parametrize("name", ["bad..name", "-rf", "with space", "tail.lock", "@{-1}", "a:b"])
async def test_bad_branch_names_are_refused(rig: ToolRig, git_server: GitServer, name: str) -> None:
    ctx, repo = await cloned(rig, git_server)
    with pytest.raises(ToolError, match="not a valid branch name"):
        await call(ctx, "git_branch", dir="src/widget", name=name)
    with pytest.raises(ToolError, match="not a valid branch name"):
        await call(ctx, "git_push", dir="src/widget", branch=name)
    heads = (repo / ".git" / "refs" / "heads").iterdir()
    assert [p.name for p in heads] == ["main"]


async def test_nothing_to_commit(rig: ToolRig, git_server: GitServer) -> None:
    ctx, repo = await cloned(rig, git_server)
    with pytest.raises(ToolError, match="nothing to commit"):
        await call(ctx, "git_commit", dir="src/widget", message="empty")
    (repo / "only.txt").write_text("1\n")
    (repo / "other.txt").write_text("2\n")
    done = await call(ctx, "git_commit", dir="src/widget", message="one", paths=["only.txt"])
    assert "1 file changed" in done.content
    with pytest.raises(ToolError, match="nothing to commit"):
        await call(ctx, "git_commit", dir="src/widget", message="again", paths=["only.txt"])
    with pytest.raises(ToolError, match=r"without '\.\.'"):
        await call(ctx, "git_commit", dir="src/widget", message="up", paths=["../x"])


async def test_force_push_is_refused(rig: ToolRig, git_server: GitServer) -> None:
    ctx, repo = await cloned(rig, git_server)
    with pytest.raises(ToolError, match="force pushes are not allowed"):
        await call(ctx, "git_push", dir="src/widget", branch="+main")
    # Someone else pushed meanwhile: ours is rejected, never forced over theirs.
    upstream = git_server.commit_upstream(REPO, "theirs.txt", "theirs\n")
    (repo / "ours.txt").write_text("ours\n")
    await call(ctx, "git_commit", dir="src/widget", message="ours")
    with pytest.raises(ToolError, match="rejected"):
        await call(ctx, "git_push", dir="src/widget", branch="main")
    assert git_server.git(REPO, "rev-parse", "main").strip() == upstream


async def test_clone_target_checks(rig: ToolRig, git_server: GitServer) -> None:
    ctx = context(rig, git_server)
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(ctx, "git_clone", repo=REPO, dir="../elsewhere")
    with pytest.raises(ToolError, match="owner/name"):
        await call(ctx, "git_clone", repo="../../etc")
    (rig.workspace / "taken").mkdir()
    (rig.workspace / "taken" / "f").write_text("x")
    with pytest.raises(ToolError, match="not empty"):
        await call(ctx, "git_clone", repo=REPO, dir="taken")
    with pytest.raises(ToolError, match="git clone failed"):
        await call(ctx, "git_clone", repo="acme/missing")


async def test_issue_and_pull_request(rig: ToolRig, github_api: GitHubFake) -> None:
    rig.settings = rig.settings.model_copy(update={"github_api_url": github_api.url})
    ctx = context(rig)
    issue = await call(
        ctx, "github_issue", repo=REPO, title="Bug", body="It breaks.", labels=["bug"]
    )
    pull = await call(
        ctx, "github_pull_request", repo=REPO, title="Fix", head="fix", base="main", body="Fixes"
    )
    assert issue.records == [
        (
            "github",
            {
                "action": "issue",
                "repo": REPO,
                "number": 1,
                "url": f"{github_api.url}/{REPO}/issues/1",
            },
        )
    ]
    assert pull.records[0][1]["number"] == 2 and "#2" in pull.content
    assert pull.records[0][1]["url"] == f"{github_api.url}/{REPO}/pull/2"
    first, second = github_api.requests
    assert (first.path, second.path) == (f"/repos/{REPO}/issues", f"/repos/{REPO}/pulls")
    assert first.body == {"title": "Bug", "body": "It breaks.", "labels": ["bug"]}
    assert second.body == {
        "title": "Fix",
        "head": "fix",
        "base": "main",
        "body": "Fixes",
        "draft": False,
    }
    for received in (first, second):
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert headers["accept"] == "application/vnd.github+json"
        assert headers["x-github-api-version"] == "2022-11-28"
    assert_no_secret(repr([issue, pull]))


async def test_api_errors_carry_githubs_message(rig: ToolRig, github_api: GitHubFake) -> None:
    rig.settings = rig.settings.model_copy(update={"github_api_url": github_api.url})
    wrong = "ghp_NotTheRightOne"
    with pytest.raises(ToolError, match="401: Bad credentials") as bad:
        await call(context(rig, token=wrong), "github_issue", repo=REPO, title="t", body="b")
    assert wrong not in str(bad.value)
    ctx = context(rig)
    with pytest.raises(ToolError, match=r"422: Validation Failed.*No commits between"):
        await call(
            ctx, "github_pull_request", repo=REPO, title="t", head="main", base="main", body="b"
        )
    for tool, args in (
        ("github_issue", {"title": "t", "body": "b"}),
        ("github_pull_request", {"title": "t", "head": "a", "base": "b", "body": ""}),
    ):
        with pytest.raises(ToolError, match="CAPE_GITHUB_TOKEN"):
            await call(context(rig, token=""), tool, repo=REPO, **args)
    assert len(github_api.requests) == 2  # nothing was sent without a token


async def test_empty_repository_clone_commit_and_push(rig: ToolRig, git_server: GitServer) -> None:
    git_server.create_empty("acme/empty")
    ctx = context(rig, git_server)
    cloned = await call(ctx, "git_clone", repo="acme/empty")
    assert "empty repository" in cloned.content
    repo = rig.workspace / "src" / "empty"
    (repo / "first.txt").write_text("first\n")
    done = await call(ctx, "git_commit", dir="src/empty", message="First")
    sha = done.content.split()[1]
    branch = (repo / ".git" / "HEAD").read_text().split("/")[-1].strip()
    pushed = await call(ctx, "git_push", dir="src/empty")
    assert git_server.git("acme/empty", "rev-parse", f"refs/heads/{branch}").strip() == sha
    assert pushed.records[0][1]["commit"] == sha
    config = (repo / ".git" / "config").read_text()
    assert f"{git_server.url}/acme/empty.git" in config and f'[branch "{branch}"]' in config


async def test_commit_with_output_over_the_limit_reports_its_sha(
    rig: ToolRig, git_server: GitServer
) -> None:
    ctx, repo = await cloned(rig, git_server)
    for n in range(1500):  # git prints a line per new file: far over the output limit
        (repo / f"file-{n:04d}.txt").write_text(f"{n}\n")
    done = await call(ctx, "git_commit", dir="src/widget", message="Many files")
    sha = done.content.split()[1]
    pushed = await call(ctx, "git_push", dir="src/widget")
    assert git_server.git(REPO, "rev-parse", "main").strip() == sha
    assert pushed.records[0][1]["commit"] == sha


async def test_only_an_agent_whose_package_declared_the_token_gets_it(
    rig: ToolRig, github_api: GitHubFake, git_server: GitServer
) -> None:
    rig.settings = rig.settings.model_copy(update={"github_api_url": github_api.url})
    context(rig, git_server)
    undeclared = rig.context(limits={"secrets_allow": []})
    with pytest.raises(ToolError, match="secret GITHUB_TOKEN is not available to this agent"):
        await call(undeclared, "github_issue", repo=REPO, title="t", body="b")
    await call(undeclared, "git_clone", repo=REPO)  # public: cloned without the token
    assert git_server.auth_headers and set(git_server.auth_headers) == {None}
    with pytest.raises(ToolError, match="secret GITHUB_TOKEN is not available to this agent"):
        await call(undeclared, "git_push", dir="src/widget")
    declared = rig.context(limits={"secrets_allow": ["GITHUB_TOKEN"]})
    issue = await call(declared, "github_issue", repo=REPO, title="t", body="b")
    assert issue.records[0][1]["number"] == 1
