"""Git on the agent's repository, run in the task's sandbox as the sandbox user.

Whatever the repository holds (a crafted index with `../` paths, alternates, symlinks swapped in
mid-command), git here sees only the workspace at /workspace and the read-only system: no host
file, no other task's workspace, no network, no token. Files it writes belong to the sandbox
user, so nothing is chowned afterwards. The host exchanges objects with it as git bundles: the
clone's bundle comes in on stdin, a push's bundle is left in `.cape/` and read by descriptor.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

import structlog

from activities.tools.base import ToolContext, ToolError
from activities.tools.git_ops import OVERRIDES

log = structlog.get_logger(__name__)

# No system or global config (HOME is the workspace), no prompts; the dangerous single-valued
# keys are overridden as command-line config for every git the run starts (scripts included).
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_EDITOR": "/bin/false",
    "GIT_PAGER": "cat",
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_ALLOW_PROTOCOL": "file",
    "LC_ALL": "C",
    "GIT_CONFIG_COUNT": str(len(OVERRIDES)),
}
for _i, (_key, _value) in enumerate(OVERRIDES.items()):
    GIT_ENV[f"GIT_CONFIG_KEY_{_i}"] = _key
    GIT_ENV[f"GIT_CONFIG_VALUE_{_i}"] = _value
# In the repository's top directory: explicit, so no discovery and core.worktree cannot move it.
REPO_ENV = {"GIT_DIR": ".git", "GIT_WORK_TREE": "."}
BUNDLES = ".cape"  # where bundles pass through the workspace (reserved for the platform)

CLONE_SCRIPT = """set -e
bundle="$HOME/$1"; dir="$2"; url="$3"; shift 3
mkdir -p "$(dirname "$bundle")"
trap 'rm -f "$bundle"' EXIT
cat > "$bundle"
git clone -q --no-recurse-submodules --origin origin "$@" -- "$bundle" "$dir"
git -C "$dir" remote set-url origin "$url"
"""
INIT_SCRIPT = """set -e
git init -q -- "$2"
git -C "$2" remote add origin "$3"
"""
# Stage, check there is something to commit, commit, print the new HEAD after a marker: one
# sandboxed run instead of four. Exit 3 means nothing was staged.
COMMIT_SCRIPT = """set -e
message="$1"; shift
git add --all -- "$@"
if git diff --cached --quiet; then exit 3; fi
git commit --no-verify --no-gpg-sign --cleanup=whitespace -m "$message"
printf '\\n@@cape-head %s\\n' "$(git rev-parse HEAD)"
"""
HEAD_MARKER = "@@cape-head "  # as printed by COMMIT_SCRIPT
BUNDLE_SCRIPT = """set -e
mkdir -p "$HOME/$(dirname "$1")"
git bundle create -q "$HOME/$1" "$2"
"""


async def sandboxed(
    ctx: ToolContext,
    argv: list[str],
    *,
    cwd: str,
    repo: bool,
    what: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, str]:
    """Run `argv` in the sandbox in workspace directory `cwd`; returns (exit code, output).

    The output is stdout and stderr together, long output cut to its head and tail (what is
    parsed comes last). Raises ToolError when the run was killed or, with `check`, on a
    non-zero exit.
    """
    full_env = {**GIT_ENV, **(REPO_ENV if repo else {}), **(env or {})}
    limits = ctx.sandbox.limits(ctx.limits)
    limits = replace(limits, idle_seconds=limits.wall_seconds)  # quiet git is not stuck git
    try:
        result = await ctx.sandbox.run(
            argv,
            workspace=ctx.workspace,
            limits=limits,
            env=full_env,
            cwd=cwd,
            stdin=stdin,
        )
    except ValueError as exc:  # cwd is not a directory inside the workspace
        raise ToolError(f"{cwd!r}: {exc}") from None
    reason = result.killed_reason or (
        "timeout" if result.timed_out or result.idle_timed_out else ""
    )
    if reason:
        raise ToolError(f"git {what} was stopped in the sandbox ({reason})")
    code = result.exit_code if result.exit_code is not None else -1
    if check and code != 0:
        log.info("sandboxed git failed", command=what, code=code)
        raise ToolError(f"git {what} failed (exit {code}): {result.output.strip()}")
    return code, result.output


async def git(
    ctx: ToolContext,
    dir: str,
    args: list[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run `git args` in the sandbox, in the repository at `dir`."""
    argv = ["git", "--no-pager", *args]
    return await sandboxed(ctx, argv, cwd=dir, repo=True, what=args[0], check=check, env=env)


async def clone_from(
    ctx: ToolContext, bundle: bytes | None, dir: str, url: str, branch: str | None
) -> None:
    """Make the repository `dir` from the host's clone `bundle` (None: the remote is empty)."""
    name = str(PurePosixPath(BUNDLES) / f"clone-{ctx.step_no}.bundle")
    if bundle is None:
        argv = ["/bin/sh", "-c", INIT_SCRIPT, "sh", name, dir, url]
    else:
        limit = ctx.sandbox.limits(ctx.limits).file_size_bytes
        if len(bundle) > limit:
            raise ToolError(
                f"the repository is {len(bundle) // 2**20} MiB packed, over the sandbox's file "
                f"size limit of {limit // 2**20} MiB"
            )
        extra = ["--branch", branch] if branch else []
        argv = ["/bin/sh", "-c", CLONE_SCRIPT, "sh", name, dir, url, *extra]
    await sandboxed(ctx, argv, cwd=".", repo=False, what="clone", stdin=bundle)


async def commit(
    ctx: ToolContext, dir: str, message: str, paths: list[str], identity: dict[str, str]
) -> tuple[str, str]:
    """Stage `paths` and commit them in the sandbox; returns (git's summary, the new HEAD)."""
    argv = ["/bin/sh", "-c", COMMIT_SCRIPT, "sh", message, *paths]
    code, out = await sandboxed(
        ctx, argv, cwd=dir, repo=True, what="commit", check=False, env=identity
    )
    if code == 3:
        raise ToolError("nothing to commit: no changes in the given paths")
    summary, marker, head = out.rpartition(HEAD_MARKER)
    if code != 0 or not marker:
        raise ToolError(f"git commit failed (exit {code}): {out.strip()}")
    return summary, head.strip()


async def bundle_of(ctx: ToolContext, dir: str, ref: str) -> str:
    """Write a bundle of `ref` (with its history) into `.cape/`; returns its workspace path."""
    name = str(PurePosixPath(BUNDLES) / f"push-{ctx.step_no}.bundle")
    argv = ["/bin/sh", "-c", BUNDLE_SCRIPT, "sh", name, ref]
    await sandboxed(ctx, argv, cwd=dir, repo=True, what="bundle")
    return name


async def track(ctx: ToolContext, dir: str, branch: str, sha: str) -> None:
    """After a push: origin/`branch` is at `sha` and `branch` tracks it (like `push -u`)."""
    remote = f"refs/remotes/origin/{branch}"
    await git(ctx, dir, ["update-ref", remote, sha], check=False)
    await git(ctx, dir, ["branch", f"--set-upstream-to=origin/{branch}", branch], check=False)
