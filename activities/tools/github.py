"""The GitHub tools: clone, branch, commit and push in the workspace; issues and pull requests.

Git works on the agent's repository only inside the sandbox, as the sandbox user
(`git_sandbox`); the host runs git only for the network, in a private temp dir (`git_ops`):
a clone is made there and handed in as a bundle, a push takes a bundle the sandbox wrote.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager
from pathlib import PurePosixPath
from typing import Any

import structlog

from activities.tools import git_sandbox
from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.confine import Target, check_writable, locate, parent_dir
from activities.tools.git_ops import (
    CLONE_TIMEOUT_SECONDS,
    IDENTITY,
    NO_TOKEN,
    Git,
    Repo,
    listing,
    parse_repo,
)
from activities.tools.github_api import API_TOOLS
from activities.tools.secrets import allowed, require
from activities.tools.workspace_io import read_bytes, remove

log = structlog.get_logger(__name__)

ORIGIN_PATH = re.compile(r"/([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9_.-]+?)(?:\.git)?/?")
DIR_PROPERTY = {
    "type": "string",
    "description": "The repository's top directory, relative to the workspace (e.g. src/name).",
}


def _git(ctx: ToolContext) -> AbstractAsyncContextManager[Git]:
    # An agent whose package did not declare GITHUB_TOKEN clones without it (public only).
    token = ctx.settings.github_token.get_secret_value() if allowed(ctx, "GITHUB_TOKEN") else ""
    return Git.session(ctx.settings.github_git_url, token)


async def _branch_name(host: Git, name: str) -> str:
    """`name` if it is a valid branch name; force (`+`) and refspec (`:`) syntax are refused.

    A pure check of the string, so host git does it outside any repository.
    """
    if name.startswith("+"):
        raise ToolError(f"{name!r}: force pushes are not allowed")
    if name.startswith("-"):
        raise ToolError(f"{name!r} is not a valid branch name")
    code, out, _ = await host.run(["check-ref-format", "--branch", name], check=False)
    if code != 0 or out.strip() != name:
        raise ToolError(f"{name!r} is not a valid branch name")
    return name


def _check_clone_target(target: Target, relative: str) -> None:
    """Refuse a clone target that exists and is not an empty directory (looked at by fd)."""
    try:
        with parent_dir(target) as dir_fd:
            entries = listing(dir_fd, target.name)
    except ToolError:
        return  # a missing parent: git makes it, in the sandbox
    except FileNotFoundError:
        return
    except OSError:
        raise ToolError(f"{relative!r} already exists and is not a directory") from None
    if entries:
        raise ToolError(f"{relative!r} already exists and is not empty; choose another dir")


async def git_clone(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Clone a GitHub repository into the workspace (default `src/<name>`)."""
    owner, name = parse_repo(args["repo"])
    relative = args.get("dir") or f"src/{name}"
    target = locate(ctx.workspace, relative)
    check_writable(target)
    await asyncio.to_thread(_check_clone_target, target, relative)
    command = ["clone", "--bare", "--quiet", "--no-recurse-submodules"]
    branch = args.get("branch")
    if branch:
        if branch.startswith("-"):
            raise ToolError(f"{branch!r} is not a valid branch name")
        command += ["--branch", branch]
    url = f"{ctx.settings.github_git_url.rstrip('/')}/{owner}/{name}.git"
    async with _git(ctx) as host:
        bare, bundle = str(host.home / "clone.git"), host.home / "clone.bundle"
        try:
            await host.run([*command, "--", url, bare], timeout=CLONE_TIMEOUT_SECONDS)
        except ToolError as exc:
            raise ToolError(f"cannot clone {owner}/{name} into {relative!r}: {exc}") from None
        _, refs, _ = await host.run(["--git-dir", bare, "for-each-ref", "--count=1"])
        data = None
        if refs.strip():
            await host.run(["--git-dir", bare, "bundle", "create", "-q", str(bundle), "--all"])
            data = await asyncio.to_thread(bundle.read_bytes)
    await git_sandbox.clone_from(ctx, data, target.shown, url, branch)
    _, head = await git_sandbox.git(ctx, target.shown, ["log", "-1", "--format=%h %s"], check=False)
    _, current = await git_sandbox.git(ctx, target.shown, ["branch", "--show-current"], check=False)
    log.info("git clone", repo=f"{owner}/{name}", dir=target.shown)
    summary = f"HEAD {head.strip()}" if data is not None and head.strip() else "empty repository"
    return ToolOutput(
        f"cloned {owner}/{name} into {target.shown} (branch {current.strip() or '-'}, {summary})"
    )


async def git_branch(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Create a branch (from `from`, default the current HEAD) and check it out."""
    async with _git(ctx) as host:
        repo = await host.open_repo(ctx.workspace, args["dir"])
        name = await _branch_name(host, args["name"])
    command = ["switch", "--create", name]
    if args.get("from"):
        if args["from"].startswith("-"):
            raise ToolError(f"{args['from']!r} is not a valid ref")
        command.append(args["from"])
    await git_sandbox.git(ctx, repo.dir, command)
    _, head = await git_sandbox.git(ctx, repo.dir, ["log", "-1", "--format=%h %s"], check=False)
    return ToolOutput(f"created and checked out branch {name} at {head.strip() or 'no commit'}")


def _check_paths(paths: list[str]) -> None:
    for path in paths:
        pure = PurePosixPath(path)
        if not path.strip() or pure.is_absolute() or ".." in pure.parts:
            raise ToolError(f"path {path!r} must be relative to the repository, without '..'")


async def git_commit(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Stage `paths` (default: every change) and commit them as the agent's identity."""
    message = args["message"].strip()
    if not message:
        raise ToolError("message must not be empty")
    paths = args.get("paths") or ["."]
    _check_paths(paths)
    async with _git(ctx) as host:
        repo = await host.open_repo(ctx.workspace, args["dir"])
    out, sha = await git_sandbox.commit(ctx, repo.dir, message, paths, IDENTITY)
    return ToolOutput(f"committed {sha}\n{out.strip()}")


def _origin(ctx: ToolContext, repo: Repo, shown: str) -> str:
    """The "owner/name" that origin points at, which must be on the configured GitHub."""
    base = ctx.settings.github_git_url.rstrip("/")
    urls = repo.config.get("remote.origin.url", [])
    match = ORIGIN_PATH.fullmatch(urls[0].removeprefix(base)) if len(urls) == 1 else None
    if match is None or not urls[0].startswith(base + "/"):
        raise ToolError(f"{shown!r}: origin must be one URL under {base}/ (as git_clone sets it)")
    return match.group(1)


async def git_push(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Push a branch (default: the current one) to origin; never forced.

    The sandbox bundles the branch into `.cape/`; the host reads that file by descriptor into
    a fresh repository of its own and pushes from there, so host git never opens the agent's.
    """
    require(ctx, "GITHUB_TOKEN")
    if not ctx.settings.github_token.get_secret_value():
        raise ToolError(NO_TOKEN)
    async with _git(ctx) as host:
        repo = await host.open_repo(ctx.workspace, args["dir"])
        full_name = _origin(ctx, repo, args["dir"])
        branch = args.get("branch")
        if not branch:
            head = ["symbolic-ref", "--quiet", "--short", "HEAD"]
            code, out = await git_sandbox.git(ctx, repo.dir, head, check=False)
            if code != 0:
                raise ToolError("HEAD is not on a branch; give the branch to push")
            branch = out.strip()
        branch = await _branch_name(host, branch)
        ref = f"refs/heads/{branch}"
        verify = ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
        code, _ = await git_sandbox.git(ctx, repo.dir, verify, check=False)
        if code != 0:
            raise ToolError(f"there is no local branch {branch!r} in {args['dir']!r}")
        name = await git_sandbox.bundle_of(ctx, repo.dir, ref)
        limit = ctx.sandbox.limits(ctx.limits).file_size_bytes
        try:
            data = await asyncio.to_thread(read_bytes, ctx.workspace, name, limit)
        finally:
            await asyncio.to_thread(remove, ctx.workspace, name)
        bundle, bare = host.home / "push.bundle", str(host.home / "push.git")
        await asyncio.to_thread(bundle.write_bytes, data)
        await host.run(["init", "-q", "--bare", bare])
        fetch = ["--git-dir", bare, "fetch", "-q", str(bundle), f"{ref}:{ref}"]
        await host.run(fetch, extra_env={"GIT_ALLOW_PROTOCOL": "file"})  # our own bundle
        _, sha, _ = await host.run(["--git-dir", bare, "rev-parse", "--verify", ref])
        target = f"{ctx.settings.github_git_url.rstrip('/')}/{full_name}.git"
        command = ["--git-dir", bare, "push", "--porcelain", "--no-verify", target]
        _, out, _ = await host.run([*command, f"{ref}:{ref}"])
    sha = sha.strip()
    await git_sandbox.track(ctx, repo.dir, branch, sha)
    url = f"{ctx.settings.github_git_url.rstrip('/')}/{full_name}/tree/{branch}"
    log.info("git push", repo=full_name, branch=branch)
    record = {"action": "push", "repo": full_name, "ref": branch, "commit": sha, "url": url}
    content = f"pushed {branch} ({sha[:12]}) to {full_name}: {url}\n{out.strip()}"
    return ToolOutput(content, [("github", record)])


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


GIT_TOOLS = [
    ToolSpec(
        name="git_clone",
        description="Clone a GitHub repository into the workspace.",
        parameters=_schema(
            {
                "repo": {"type": "string", "description": "The repository as 'owner/name'."},
                "branch": {"type": "string", "description": "Branch or tag to check out."},
                "dir": {
                    "type": "string",
                    "description": "Target dir in the workspace (default src/<name>).",
                },
            },
            ["repo"],
        ),
        risk=Risk.NETWORK,
        placement=Placement.WORKSPACE,
        handler=git_clone,
        needs_isolation=True,
    ),
    ToolSpec(
        name="git_branch",
        description="Create a new branch in a cloned repository and check it out.",
        parameters=_schema(
            {
                "dir": DIR_PROPERTY,
                "name": {"type": "string", "description": "The new branch name."},
                "from": {
                    "type": "string",
                    "description": "Where to start it: a branch, tag or commit (default HEAD).",
                },
            },
            ["dir", "name"],
        ),
        risk=Risk.WRITE,
        placement=Placement.WORKSPACE,
        handler=git_branch,
        needs_isolation=True,
    ),
    ToolSpec(
        name="git_commit",
        description="Stage changes (all by default) and commit them on the current branch.",
        parameters=_schema(
            {
                "dir": DIR_PROPERTY,
                "message": {"type": "string", "minLength": 1, "description": "Commit message."},
                "paths": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "description": "Files or directories to commit, relative to the repository "
                    "(default: every change, including deletions).",
                },
            },
            ["dir", "message"],
        ),
        risk=Risk.WRITE,
        placement=Placement.WORKSPACE,
        handler=git_commit,
        needs_isolation=True,
    ),
    ToolSpec(
        name="git_push",
        description=(
            "Push a branch to the repository it was cloned from (GitHub). Never force-pushes: "
            "a rejected push means the remote branch has commits you do not have."
        ),
        parameters=_schema(
            {
                "dir": DIR_PROPERTY,
                "branch": {"type": "string", "description": "Branch to push (default: current)."},
            },
            ["dir"],
        ),
        risk=Risk.EXTERNAL,
        placement=Placement.WORKSPACE,
        handler=git_push,
        needs_isolation=True,
    ),
]

TOOLS: list[ToolSpec] = GIT_TOOLS + API_TOOLS
