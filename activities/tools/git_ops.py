"""Running git for the GitHub tools: a clean environment, neutralized repo config, no leaked token.

The workspace is agent-controlled, so every repository in it is untrusted: its `.git/config` could
name hooks, filters, an fsmonitor, another push URL or an `include` of some host file, and `.git`
itself could be a gitfile or symlink into another repository. Git runs as a normal host process
(it needs the network), so `Repo.open` refuses any repository whose layout or config is not what
git itself writes, and every command gets `-c` overrides for the single-valued dangerous keys.
The token only ever travels in the environment of one git process, scoped to the GitHub URL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import structlog

from activities.tools.base import ToolError

log = structlog.get_logger(__name__)

GIT_TIMEOUT_SECONDS = 120.0
CLONE_TIMEOUT_SECONDS = 300.0
NO_TOKEN = "no GitHub token is configured: the operator must set CAPE_GITHUB_TOKEN"
AUTH_HINT = (
    "the server refused the credentials: the operator's CAPE_GITHUB_TOKEN is invalid "
    "or has no access to this repository"
)
IDENTITY = {
    "GIT_AUTHOR_NAME": "CapeControl Agent",
    "GIT_AUTHOR_EMAIL": "agent@capecontrol.invalid",
    "GIT_COMMITTER_NAME": "CapeControl Agent",
    "GIT_COMMITTER_EMAIL": "agent@capecontrol.invalid",
}
# Command-line config wins over the repository's for single-valued keys.
OVERRIDES = {
    "core.hooksPath": "/dev/null",
    "core.fsmonitor": "false",
    "core.sshCommand": "/bin/false",
    "core.pager": "cat",
    "core.editor": "/bin/false",
    "core.askPass": "/bin/false",
    "credential.helper": "",  # an empty value resets the helper list
    "commit.gpgSign": "false",
    "tag.gpgSign": "false",
    "push.gpgSign": "false",
    "gpg.program": "/bin/false",
    "submodule.recurse": "false",
    "push.recurseSubmodules": "no",
    "fetch.recurseSubmodules": "false",
    "gc.auto": "0",  # auto-gc detaches a background process that would outlive the call
    "maintenance.auto": "false",
    "core.untrackedCache": "false",
}
# Keys git writes itself on clone, checkout -b and push -u; anything else is refused.
ALLOWED_KEYS = re.compile(
    r"core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode"
    r"|symlinks|autocrlf)|remote\.origin\.(url|fetch)|branch\..+\.(remote|merge)"
    r"|user\.(name|email)|extensions\.objectformat"
)
# Files that make git read objects, refs or config from outside `.git`.
FORBIDDEN_FILES = ("commondir", "gitdir", "objects/info/alternates", "objects/info/http-alternates")
LEGACY_REMOTES = ("remotes", "branches")
_PROXIES = [f"{scheme}_proxy" for scheme in ("http", "https", "all", "no")]
# Certificates and proxies the host needs to reach GitHub; nothing else of our environment.
PASS_ENV = ["PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE"]
PASS_ENV += _PROXIES + [name.upper() for name in _PROXIES]
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9_.-]+")


def parse_repo(repo: str) -> tuple[str, str]:
    """Split "owner/name" (a trailing ".git" is dropped), refusing anything else."""
    repo = repo.strip().removesuffix(".git")
    owner, _, name = repo.partition("/")
    if not REPO_NAME.fullmatch(repo) or name in (".", ".."):
        raise ToolError(f"repo {repo!r} must look like 'owner/name'")
    return owner, name


def auth_header(token: str) -> str:
    """GitHub's git-over-HTTPS scheme: Basic with user x-access-token."""
    return "Authorization: Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def redact(text: str, token: str) -> str:
    """`text` with the token and its encoded forms replaced by ***."""
    if token:
        for secret in (base64.b64encode(f"x-access-token:{token}".encode()).decode(), token):
            text = text.replace(secret, "***")
    return text


def resolve_in(workspace: Path, relative: str) -> Path:
    """`relative` inside the workspace, refusing absolute paths, `..` and symlink escapes."""
    if not relative.strip() or PurePosixPath(relative).is_absolute():
        raise ToolError(f"dir {relative!r} must be a path relative to the workspace")
    root = workspace.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise ToolError(f"dir {relative!r} is outside the workspace")
    return target


def chown_tree(top: Path, uid: int, gid: int) -> None:
    """Give `top` and everything under it to the sandbox user, never following symlinks."""
    if os.geteuid() != 0:
        return
    os.chown(top, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


@dataclass(frozen=True)
class Repo:
    """A checked repository: its top-level directory and config (already vetted)."""

    root: Path
    config: dict[str, list[str]]

    @property
    def git_dir(self) -> Path:
        """The `.git` directory."""
        return self.root / ".git"


def check_layout(root: Path, shown: str) -> None:
    """Refuse a `.git` that is not a plain directory, or that points or links elsewhere."""
    git_dir = root / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir() or not (git_dir / "HEAD").is_file():
        raise ToolError(f"{shown!r} is not the top of a git repository; clone one with git_clone")
    for name in FORBIDDEN_FILES:
        if os.path.lexists(git_dir / name):
            raise ToolError(f"refusing to use {shown!r}: .git/{name} points outside the repository")
    for name in LEGACY_REMOTES:  # remote definitions outside the config
        if (git_dir / name).is_dir() and any((git_dir / name).iterdir()):
            raise ToolError(f"refusing to use {shown!r}: .git/{name}/ defines remotes")
    for dirpath, dirnames, filenames in os.walk(git_dir):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise ToolError(f"refusing to use {shown!r}: {path.relative_to(root)} is a symlink")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO would hang git
                raise ToolError(f"refusing to use {shown!r}: {path.relative_to(root)} is special")


class Git:
    """Runs git commands for one tool call in a throwaway HOME; use `Git.session`."""

    def __init__(self, home: Path, base_url: str, token: str) -> None:
        self.home = home
        self.base_url = base_url.rstrip("/")
        self.token = token

    @classmethod
    @asynccontextmanager
    async def session(cls, base_url: str, token: str) -> AsyncIterator[Git]:
        """A Git whose HOME is a fresh temp dir, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="cape-git-") as home:
            yield cls(Path(home), base_url, token)

    def env(self, repo: Path | None, extra: dict[str, str] | None) -> dict[str, str]:
        """A from-scratch environment: no host config, prompts or pagers; the token if any."""
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home),
            LC_ALL="C",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL="/dev/null",
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="/bin/false",
            SSH_ASKPASS="/bin/false",
            GIT_EDITOR="/bin/false",
            GIT_PAGER="cat",
            GIT_LITERAL_PATHSPECS="1",
            GIT_NO_REPLACE_OBJECTS="1",
            GIT_ALLOW_PROTOCOL=self.base_url.partition(":")[0],
        )
        if repo is not None:  # explicit: no discovery, and core.worktree cannot move the tree
            env.update(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
        else:  # never pick up a repository around the temp HOME
            env.update(GIT_CEILING_DIRECTORIES=str(self.home.parent))
        if self.token:  # sent only to URLs under the GitHub base
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0=f"http.{self.base_url}/.extraHeader",
                GIT_CONFIG_VALUE_0=auth_header(self.token),
            )
        env.update(extra or {})
        return env

    async def run(
        self,
        args: list[str],
        *,
        repo: Path | None = None,
        check: bool = True,
        timeout: float = GIT_TIMEOUT_SECONDS,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run `git args`; returns (exit code, stdout, stderr), all redacted.

        Raises:
            ToolError: on a non-zero exit (when `check`) or the timeout, with git's stderr.
        """
        argv = ["git", "--no-pager"]
        for key, value in OVERRIDES.items():
            argv += ["-c", f"{key}={value}"]
        command = args[0]
        argv += args
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=repo or self.home,
            env=self.env(repo, extra_env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills helpers too
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except BaseException as exc:  # timeout or activity cancellation: leave nothing running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if isinstance(exc, TimeoutError):
                raise ToolError(f"git {command} timed out after {timeout:.0f}s") from None
            raise
        stdout = redact(out.decode(errors="replace"), self.token)
        stderr = redact(err.decode(errors="replace"), self.token)
        code = proc.returncode or 0
        if check and code != 0:
            log.info("git failed", command=command, code=code)
            detail = "\n".join(part for part in (stderr.strip(), stdout.strip()) if part)
            if "could not read Username" in stderr or "Authentication failed" in stderr:
                detail += f"\n{AUTH_HINT}"
            raise ToolError(f"git {command} failed (exit {code}): {detail}")
        return code, stdout, stderr

    async def open_repo(self, workspace: Path, relative: str) -> Repo:
        """Check the repository at `relative` and its config before any command touches it."""
        root = resolve_in(workspace, relative)
        await asyncio.to_thread(check_layout, root, relative)
        _, listing, _ = await self.run(
            ["config", "--file", str(root / ".git" / "config"), "--no-includes", "--null", "--list"]
        )
        config: dict[str, list[str]] = {}
        for entry in filter(None, listing.split("\0")):
            key, _, value = entry.partition("\n")
            config.setdefault(key, []).append(value)
        bad = sorted(k for k in config if not ALLOWED_KEYS.fullmatch(k))
        if config.get("core.bare", ["false"]) != ["false"]:
            bad.append("core.bare")
        if bad:
            raise ToolError(
                f"refusing to run git in {relative!r}: its .git/config sets {', '.join(bad)}, "
                "which these tools do not allow; remove them (git config --unset)"
            )
        return Repo(root, config)
