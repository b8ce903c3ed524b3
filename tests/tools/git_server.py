"""A real git smart-HTTP server for tests: `git http-backend` as CGI behind `http.server`.

Pushes (receive-pack) need `Authorization: Basic` whose password is the expected token (GitHub's
`x-access-token:<token>` scheme); with `auth_all` every request does. Unauthorized requests get
401 with `WWW-Authenticate`. Every Authorization header seen is kept in `auth_headers`.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

AUTHOR = {
    "GIT_AUTHOR_NAME": "Upstream",
    "GIT_AUTHOR_EMAIL": "upstream@example.invalid",
    "GIT_COMMITTER_NAME": "Upstream",
    "GIT_COMMITTER_EMAIL": "upstream@example.invalid",
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()  # the blank line after the last chunk
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self) -> None:
        git = self.server.git
        path, _, query = self.path.partition("?")
        authorization = self.headers.get("Authorization")
        git.auth_headers.append(authorization)
        user = git.user_for(authorization)
        pushing = "service=git-receive-pack" in query or path.endswith("/git-receive-pack")
        body = self._body()
        if user is None and (pushing or git.auth_all):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = git.env() | {
            "GIT_PROJECT_ROOT": str(git.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
        }
        for header, variable in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        if user is not None:
            env["REMOTE_USER"] = user
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    git: GitServer


class GitServer:
    """Bare repositories under `root`, served at `url` (e.g. `{url}/owner/name.git`)."""

    def __init__(self, root: Path, token: str, *, auth_all: bool = False) -> None:
        self.root = root
        self.token = token
        self.auth_all = auth_all
        self.auth_headers: list[str | None] = []
        self.root.mkdir(parents=True, exist_ok=True)
        self._home = tempfile.TemporaryDirectory(prefix="git-server-home-")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.git = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL (what `github_git_url` is set to)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GitServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._home.cleanup()

    def user_for(self, authorization: str | None) -> str | None:
        """The user of a Basic header carrying the expected token, else None."""
        if not authorization or not authorization.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return user if password == self.token else None

    def env(self) -> dict[str, str]:
        """An environment for git that ignores the host's configuration."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self._home.name,
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        } | AUTHOR

    def git(self, repo: str, *args: str) -> str:
        """Run git on the bare repository of "owner/name"; returns stdout."""
        return self._run(["git", "--git-dir", str(self.root / f"{repo}.git"), *args])

    def _run(self, argv: list[str], cwd: Path | None = None) -> str:
        done = subprocess.run(argv, cwd=cwd, env=self.env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{argv}: {done.stderr}")
        return done.stdout

    def create_repo(self, repo: str, files: dict[str, str], branch: str = "main") -> Path:
        """A bare repository "owner/name" whose `branch` has one commit holding `files`."""
        bare = self.root / f"{repo}.git"
        with tempfile.TemporaryDirectory(prefix="git-server-work-") as tmp:
            work = Path(tmp)
            self._run(["git", "init", "-q", "-b", branch, str(work)])
            for name, text in files.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(text)
            self._run(["git", "add", "-A"], cwd=work)
            self._run(["git", "commit", "-q", "-m", "Initial commit"], cwd=work)
            self._run(["git", "clone", "-q", "--bare", str(work), str(bare)])
        self.git(repo, "config", "http.receivepack", "true")
        return bare

    def create_empty(self, repo: str) -> Path:
        """A bare repository "owner/name" without any commit, accepting pushes."""
        bare = self.root / f"{repo}.git"
        self._run(["git", "init", "-q", "--bare", str(bare)])
        self.git(repo, "config", "http.receivepack", "true")
        return bare

    def commit_upstream(self, repo: str, name: str, text: str, branch: str = "main") -> str:
        """Add a commit on the server's `branch` (someone else's push); returns its sha."""
        with tempfile.TemporaryDirectory(prefix="git-server-work-") as tmp:
            work = Path(tmp)
            bare = str(self.root / f"{repo}.git")
            self._run(["git", "clone", "-q", "--branch", branch, bare, str(work)])
            (work / name).write_text(text)
            self._run(["git", "add", "-A"], cwd=work)
            self._run(["git", "commit", "-q", "-m", f"Upstream change to {name}"], cwd=work)
            self._run(["git", "push", "-q", "origin", branch], cwd=work)
        return self.git(repo, "rev-parse", f"refs/heads/{branch}").strip()
