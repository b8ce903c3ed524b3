"""A small GitHub-REST-compatible server for tests: create issues and pull requests.

POST /repos/{owner}/{repo}/issues and /pulls check `Authorization: Bearer <token>` (401 "Bad
credentials" otherwise), store what they received in `requests` and answer GitHub-shaped JSON
with `number` and `html_url`. A pull request whose head equals its base gets 422.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

ROUTE = re.compile(r"/repos/([^/]+)/([^/]+)/(issues|pulls)")


@dataclass
class Received:
    """One request the fake accepted or refused."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        fake.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
        route = ROUTE.fullmatch(self.path)
        if route is None:
            self._reply(404, {"message": "Not Found"})
            return
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._reply(401, {"message": "Bad credentials", "status": "401"})
            return
        owner, repo, kind = route.groups()
        if not isinstance(body, dict) or not body.get("title"):
            self._reply(422, {"message": "Validation Failed", "errors": [{"code": "missing"}]})
            return
        if kind == "pulls" and body.get("head") == body.get("base"):
            error = {"resource": "PullRequest", "code": "custom", "message": "No commits between"}
            self._reply(422, {"message": "Validation Failed", "errors": [error]})
            return
        number = fake.next_number(f"{owner}/{repo}")
        page = "pull" if kind == "pulls" else "issues"
        data = {
            "number": number,
            "html_url": f"{fake.url}/{owner}/{repo}/{page}/{number}",
            "title": body["title"],
            "state": "open",
        }
        self._reply(201, data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: GitHubFake


class GitHubFake:
    """The fake API at `url` (what `github_api_url` is set to)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[Received] = []
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def next_number(self, repo: str) -> int:
        """Issues and pull requests share one counter per repository, as on GitHub."""
        with self._lock:
            self._numbers[repo] = self._numbers.get(repo, 0) + 1
            return self._numbers[repo]

    def __enter__(self) -> GitHubFake:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
