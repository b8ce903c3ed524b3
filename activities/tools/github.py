"""The GitHub tools: clone, branch, commit and push in the workspace; issues and pull requests.

Git runs on the workspace's host as a normal process (see `git_ops` for how the untrusted
repository and the token are handled); what it writes is handed back to the sandbox user.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager
from pathlib import Path, PurePosixPath
from typing import Any

import structlog

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.git_ops import (
    CLONE_TIMEOUT_SECONDS,
    IDENTITY,
    NO_TOKEN,
    Git,
    Repo,
    chown_tree,
    parse_repo,
    resolve_in,
)
from activities.tools.github_api import API_TOOLS

log = structlog.get_logger(__name__)

ORIGIN_PATH = re.compile(r"/([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9_.-]+?)(?:\.git)?/?")
DIR_PROPERTY = {
    "type": "string",
    "description": "The repository's top directory, relative to the workspace (e.g. src/name).",
}


def _git(ctx: ToolContext) -> AbstractAsyncContextManager[Git]:
    return Git.session(ctx.settings.github_git_url, ctx.settings.github_token.get_secret_value())


async def _chown(ctx: ToolContext, top: Path) -> None:
    await asyncio.to_thread(chown_tree, top, ctx.settings.sandbox_uid, ctx.settings.sandbox_gid)


async def _branch_name(git: Git, repo: Repo, name: str) -> str:
    """`name` if it is a valid branch name; force (`+`) and refspec (`:`) syntax are refused."""
    if name.startswith("+"):
        raise ToolError(f"{name!r}: force pushes are not allowed")
    code, out, _ = await git.run(
        ["check-ref-format", "--branch", name], repo=repo.root, check=False
    )
    if name.startswith("-") or code != 0 or out.strip() != name:
        raise ToolError(f"{name!r} is not a valid branch name")
    return name


async def git_clone(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Clone a GitHub repository into the workspace (default `src/<name>`)."""
    owner, name = parse_repo(args["repo"])
    relative = args.get("dir") or f"src/{name}"
    target = resolve_in(ctx.workspace, relative)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ToolError(f"{relative!r} already exists and is not empty; choose another dir")
    top = target  # the highest directory the clone creates, to hand over to the sandbox user
    while not top.parent.exists():
        top = top.parent
    command = ["clone", "--no-recurse-submodules", "--origin", "origin"]
    if args.get("branch"):
        if args["branch"].startswith("-"):
            raise ToolError(f"{args['branch']!r} is not a valid branch name")
        command += ["--branch", args["branch"]]
    url = f"{ctx.settings.github_git_url.rstrip('/')}/{owner}/{name}.git"
    async with _git(ctx) as git:
        try:
            await git.run([*command, "--", url, str(target)], timeout=CLONE_TIMEOUT_SECONDS)
        finally:
            if top.exists():
                await _chown(ctx, top)
        _, head, _ = await git.run(["log", "-1", "--format=%h %s"], repo=target, check=False)
        _, branch, _ = await git.run(["branch", "--show-current"], repo=target, check=False)
    log.info("git clone", repo=f"{owner}/{name}", dir=relative)
    summary = f"HEAD {head.strip()}" if head.strip() else "empty repository"
    return ToolOutput(
        f"cloned {owner}/{name} into {relative} (branch {branch.strip() or '-'}, {summary})"
    )


async def git_branch(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Create a branch (from `from`, default the current HEAD) and check it out."""
    async with _git(ctx) as git:
        repo = await git.open_repo(ctx.workspace, args["dir"])
        name = await _branch_name(git, repo, args["name"])
        command = ["switch", "--create", name]
        if args.get("from"):
            if args["from"].startswith("-"):
                raise ToolError(f"{args['from']!r} is not a valid ref")
            command.append(args["from"])
        try:
            await git.run(command, repo=repo.root)
        finally:  # switching rewrites work-tree files as root
            await _chown(ctx, repo.root)
        _, head, _ = await git.run(["log", "-1", "--format=%h %s"], repo=repo.root, check=False)
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
    async with _git(ctx) as git:
        repo = await git.open_repo(ctx.workspace, args["dir"])
        try:
            await git.run(["add", "--all", "--", *paths], repo=repo.root)
            code, _, err = await git.run(
                ["diff", "--cached", "--quiet"], repo=repo.root, check=False
            )
            if code == 0:
                raise ToolError("nothing to commit: no changes in the given paths")
            if code != 1:
                raise ToolError(f"git diff failed: {err.strip()}")
            command = ["commit", "--no-verify", "--no-gpg-sign", "--cleanup=whitespace"]
            _, out, _ = await git.run([*command, "-m", message], repo=repo.root, extra_env=IDENTITY)
        finally:  # new objects and the index were written as root
            await _chown(ctx, repo.git_dir)
        _, sha, _ = await git.run(["rev-parse", "HEAD"], repo=repo.root)
    return ToolOutput(f"committed {sha.strip()}\n{out.strip()}")


def _origin(ctx: ToolContext, repo: Repo, shown: str) -> str:
    """The "owner/name" that origin points at, which must be on the configured GitHub."""
    base = ctx.settings.github_git_url.rstrip("/")
    urls = repo.config.get("remote.origin.url", [])
    match = ORIGIN_PATH.fullmatch(urls[0].removeprefix(base)) if len(urls) == 1 else None
    if match is None or not urls[0].startswith(base + "/"):
        raise ToolError(f"{shown!r}: origin must be one URL under {base}/ (as git_clone sets it)")
    return match.group(1)


async def git_push(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Push a branch (default: the current one) to origin; never forced."""
    if not ctx.settings.github_token.get_secret_value():
        raise ToolError(NO_TOKEN)
    async with _git(ctx) as git:
        repo = await git.open_repo(ctx.workspace, args["dir"])
        full_name = _origin(ctx, repo, args["dir"])
        branch = args.get("branch")
        if not branch:
            head = ["symbolic-ref", "--quiet", "--short", "HEAD"]
            code, out, _ = await git.run(head, repo=repo.root, check=False)
            if code != 0:
                raise ToolError("HEAD is not on a branch; give the branch to push")
            branch = out.strip()
        branch = await _branch_name(git, repo, branch)
        ref = f"refs/heads/{branch}"
        code, sha, _ = await git.run(
            ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo=repo.root, check=False
        )
        if code != 0:
            raise ToolError(f"there is no local branch {branch!r} in {args['dir']!r}")
        command = ["push", "--porcelain", "--no-verify", "--set-upstream", "origin"]
        try:
            _, out, _ = await git.run([*command, f"{ref}:{ref}"], repo=repo.root)
        finally:
            await _chown(ctx, repo.git_dir)
    url = f"{ctx.settings.github_git_url.rstrip('/')}/{full_name}/tree/{branch}"
    log.info("git push", repo=full_name, branch=branch)
    record = {"action": "push", "repo": full_name, "ref": branch, "commit": sha.strip(), "url": url}
    content = f"pushed {branch} ({sha.strip()[:12]}) to {full_name}: {url}\n{out.strip()}"
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
