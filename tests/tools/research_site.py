"""A small web on loopback for the research tool: a SearXNG-shaped search and the pages it finds.

`/<mode>/search?q=...&format=json` answers like SearXNG; the mode picks the result list:
`ok` (two articles, a mirror of the first, the first again with a fragment, a PDF and a
redirect to cloud metadata), `long` (a page of about 6 KB, then the second article), `slow`
(the first article, then a page that answers late, then the second article) and `none`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

SHARED = (
    "Temporal records the result of every activity in the workflow history, so a worker "
    "that crashes is replaced by another that replays the history and carries on."
)


def article(title: str, paragraphs: list[str], author: str = "", date: str = "") -> bytes:
    meta = f'<meta name="author" content="{author}">' if author else ""
    meta += f'<meta name="date" content="{date}">' if date else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title>{meta}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright 2026, all rights reserved.</footer></body></html>"
    ).encode()


DURABLE = article(
    "Durable execution explained",
    [
        SHARED,
        "Durable execution means a long-running program survives process crashes and "
        "deployments without losing the work it has already done.",
        "Unrelated aside: the office cafeteria serves soup on Tuesdays and pasta on Fridays, "
        "which has nothing to do with workflows at all.",
    ],
    author="Ada Lovelace",
    date="2024-05-01",
)
AGENTS = article(
    "Agents on workflows",
    [
        SHARED,  # the same paragraph, syndicated: kept once
        "An AI agent built on durable execution retries a failed model call with backoff "
        "and never pays twice for a tool call that already finished.",
    ],
)
LONG = article(
    "A long essay on durable execution",
    [
        f"Part {n}: durable execution keeps the work of step {n} when a worker crashes."
        for n in range(80)
    ],
)
SLOW: dict[str, float] = {"seconds": 3.0}  # how late /slow answers


class Site(BaseHTTPRequestHandler):
    """The search endpoint and the pages."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def results(self, mode: str, base: str) -> list[dict[str, str]]:
        def hit(path: str, title: str) -> dict[str, str]:
            return {"url": f"{base}{path}", "title": title, "content": f"snippet of {title}"}

        if mode == "ok":
            return [
                hit("/durable", "Durable execution"),
                hit("/mirror", "Mirror of durable execution"),
                hit("/durable#history", "Durable execution, history"),
                hit("/report.pdf", "A PDF"),
                hit("/to-metadata", "Cloud metadata"),
                hit("/agents", "Agents on workflows"),
            ]
        if mode == "long":
            return [hit("/long", "Long"), hit("/agents", "Agents")]
        if mode == "slow":
            return [hit("/durable", "Durable"), hit("/slow", "Slow"), hit("/agents", "Agents")]
        return []

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        base = f"http://127.0.0.1:{cast(ThreadingHTTPServer, self.server).server_port}"
        if parts.path.endswith("/search"):
            assert parse_qs(parts.query)["format"] == ["json"]
            mode = parts.path.split("/")[1]
            body = json.dumps({"results": self.results(mode, base)}).encode()
            self.send(200, body, "application/json")
        elif parts.path in ("/durable", "/mirror"):
            self.send(200, DURABLE, "text/html; charset=utf-8")
        elif parts.path == "/long":
            self.send(200, LONG, "text/html; charset=utf-8")
        elif parts.path == "/agents":
            self.send(200, AGENTS, "text/html; charset=utf-8")
        elif parts.path == "/report.pdf":
            self.send(200, b"%PDF-1.4\n", "application/pdf")
        elif parts.path == "/to-metadata":
            self.send(302, b"", "text/plain", Location="http://169.254.169.254/latest/meta-data/")
        elif parts.path == "/slow":
            time.sleep(SLOW["seconds"])
            self.send(200, AGENTS, "text/html; charset=utf-8")
        else:
            self.send(404, b"nope", "text/plain")


@contextmanager
def research_site() -> Iterator[str]:
    """Serve the site on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
