"""Git on the host for the GitHub tools: network only, in a private temp dir, never the workspace.

The workspace is agent-controlled, so git never runs on the host against a repository in it (a
crafted `.git/index` with `../` paths would make root's git read any host file into a commit).
Work on the agent's repository runs in the sandbox (`git_sandbox`); the host only clones from or
pushes to GitHub, in a throwaway directory of its own, exchanging bundles with the sandbox. Its
environment is built from scratch and the token only ever travels in the environment of one git
process, scoped to the GitHub URL. `check_layout` still refuses a repository whose layout or
config is not what git itself writes (by descriptor, see `confine`), so that the agent's repo
config cannot switch on hooks, filters or other remotes even inside the sandbox.
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
from pathlib import Path

import structlog

from activities.tools.base import ToolError
from activities.tools.confine import DIR_FLAGS, check_inside, locate, parent_dir

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
MAX_CONFIG_BYTES = 1024 * 1024
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


@dataclass(frozen=True)
class Repo:
    """A checked repository: its directory relative to the workspace and its (vetted) config."""

    dir: str
    config: dict[str, list[str]]


def _refuse(shown: str, why: str) -> ToolError:
    return ToolError(f"refusing to use {shown!r}: {why}")


def check_layout(workspace: Path, relative: str) -> tuple[str, bytes]:
    """Refuse a `.git` that is not a plain directory, or that points or links elsewhere.

    Everything is looked at through descriptors opened without following links, so a swap
    cannot point the check elsewhere. Returns the repository's normalized relative directory
    and the bytes of its `.git/config`.
    """
    target = locate(workspace, relative)
    shown = target.shown
    with parent_dir(target) as parent:
        try:
            top = os.open(target.name or ".", DIR_FLAGS, dir_fd=parent)
        except OSError:
            raise ToolError(f"{shown!r} is not a directory in the workspace") from None
    try:
        check_inside(top, target)
        try:
            git_fd = os.open(".git", DIR_FLAGS, dir_fd=top)
        except OSError:
            raise ToolError(f"{shown!r} is not the top of a git repository; clone one") from None
    finally:
        os.close(top)
    try:
        _check_git_dir(git_fd, shown)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open("config", flags, dir_fd=git_fd)
        except OSError:
            raise _refuse(shown, ".git/config is missing or not a file") from None
        with os.fdopen(fd, "rb") as config:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _refuse(shown, ".git/config is not a regular file")
            return shown, config.read(MAX_CONFIG_BYTES)
    finally:
        os.close(git_fd)


def _check_git_dir(git_fd: int, shown: str) -> None:
    def kind(name: str) -> int | None:
        try:
            return os.stat(name, dir_fd=git_fd, follow_symlinks=False).st_mode
        except OSError:
            return None

    head = kind("HEAD")
    if head is None or not stat.S_ISREG(head):
        raise ToolError(f"{shown!r} is not the top of a git repository; clone one with git_clone")
    for name in FORBIDDEN_FILES:
        if kind(name) is not None:
            raise _refuse(shown, f".git/{name} points outside the repository")
    for name in LEGACY_REMOTES:  # remote definitions outside the config
        mode = kind(name)
        if mode is not None and stat.S_ISDIR(mode) and listing(git_fd, name):
            raise _refuse(shown, f".git/{name}/ defines remotes")
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=git_fd):
        for name in dirnames + filenames:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            path = os.path.normpath(os.path.join(".git", dirpath, name))
            if stat.S_ISLNK(mode):
                raise _refuse(shown, f"{path} is a symlink")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO would hang git
                raise _refuse(shown, f"{path} is special")


def listing(dir_fd: int, name: str) -> list[str]:
    """The entries of the directory `name` in `dir_fd` (not followed)."""
    fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


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

    def env(self, extra: dict[str, str] | None) -> dict[str, str]:
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
        env.update(GIT_CEILING_DIRECTORIES=str(self.home.parent))  # no repository around HOME
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
        check: bool = True,
        timeout: float = GIT_TIMEOUT_SECONDS,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run `git args` in the temp HOME; returns (exit code, stdout, stderr), all redacted.

        Only for the network half of a tool, on directories of this session (`--git-dir`).

        Raises:
            ToolError: on a non-zero exit (when `check`) or the timeout, with git's stderr.
        """
        argv = ["git", "--no-pager"]
        for key, value in OVERRIDES.items():
            argv += ["-c", f"{key}={value}"]
        command = args[2] if args[0] == "--git-dir" else args[0]
        argv += args
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.home,
            env=self.env(extra_env),
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
        """Check the repository at `relative`, its layout and config, before any command runs."""
        shown, raw = await asyncio.to_thread(check_layout, workspace, relative)
        copy = self.home / "checked-config"  # our copy: git never opens the workspace's file
        await asyncio.to_thread(copy.write_bytes, raw)
        _, listing, _ = await self.run(
            ["config", "--file", str(copy), "--no-includes", "--null", "--list"]
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
        return Repo(shown, config)
