"""web_fetch against real HTTP servers on loopback: policy, redirects, limits, content types."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from activities.tools.base import ToolError
from activities.tools.web_fetch import TOOLS, clip
from tests.tools.conftest import ToolRig

SPEC = TOOLS[0]
ARTICLE = (
    "<!doctype html><html><head><title>Cape Test Article</title>"
    "<script>var tracking = 'SCRIPT-NOISE';</script></head><body>"
    "<nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
    "<article><h1>Sandboxes and agents</h1>"
    + "<p>Running agent tools inside a sandbox keeps the host safe from mistakes. </p>"
    * 6
    + "<p>The closing paragraph mentions bubblewrap.</p></article>"
    "<footer>Copyright footer</footer></body></html>"
)


class Handler(BaseHTTPRequestHandler):
    """Routes of the test site; `server.port` is the port it listens on."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, ctype: str | None, **headers: str) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", None, Location=location)

    def do_GET(self) -> None:
        port = cast(ThreadingHTTPServer, self.server).server_port
        path = self.path
        if path == "/page":
            self.send(200, ARTICLE.encode(), "text/html; charset=utf-8")
        elif path == "/host":
            self.send(200, f"host={self.headers['Host']}".encode(), "text/plain")
        elif path == "/json":
            self.send(200, b'{"answer": 42}', "application/json")
        elif path == "/untyped":
            self.send(200, b"just some words", None)
        elif path.startswith("/r/"):
            left = int(path[3:])
            self.redirect(f"/r/{left - 1}" if left > 0 else "../page", 301 if left % 2 else 307)
        elif path == "/loop":
            self.redirect("/loop")
        elif path == "/to-other-ip":
            self.redirect(f"http://127.0.0.2:{port}/page")
        elif path == "/to-metadata":
            self.redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-file":
            self.redirect("file:///etc/passwd")
        elif path == "/huge":
            self.send(200, b"A" * 30_000 + b"B" * 30_000, "text/plain")
        elif path == "/pdf":
            self.send(200, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf")
        elif path == "/png":
            self.send(200, b"\x89PNG\r\n\x1a\n\0\0\0", None)
        elif path == "/empty-html":
            self.send(
                200, b"<html><head><title>T</title></head><body>  </body></html>", "text/html"
            )
        else:
            self.send(404, b"nope", "text/plain")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def allow_loopback(rig: ToolRig, **update: Any) -> None:
    rig.settings = rig.settings.model_copy(
        update={"fetch_allow_networks": ["127.0.0.1/32"], **update}
    )


async def fetch(rig: ToolRig, url: str, **args: Any) -> Any:
    return await SPEC.handler(rig.context(), SPEC.validate({"url": url, **args}))


async def test_loopback_is_refused_by_default(rig: ToolRig, site: str) -> None:
    with pytest.raises(
        ToolError, match=r"refused: 127\.0\.0\.1 is loopback; web_fetch only reaches public"
    ):
        await fetch(rig, f"{site}/page")


async def test_html_page_gives_main_text_title_and_citation(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    out = await fetch(rig, f"{site}/page")
    assert out.content.startswith("Title: ")
    assert f"URL: {site}/page" in out.content
    assert "Running agent tools inside a sandbox" in out.content
    assert "bubblewrap" in out.content
    assert "SCRIPT-NOISE" not in out.content
    [(kind, citation)] = out.records
    assert kind == "citation"
    assert citation["url"] == f"{site}/page"
    assert citation["title"] in ("Cape Test Article", "Sandboxes and agents")
    assert citation["status"] == 200
    assert citation["media_type"] == "text/html"
    assert citation["retrieved_at"].endswith("Z") and "T" in citation["retrieved_at"]
    assert f"Retrieved: {citation['retrieved_at']}" in out.content


async def test_the_original_host_name_is_sent(rig: ToolRig, site: str) -> None:
    # Connected to the vetted IP, but the server still sees the name the URL used.
    allow_loopback(rig, fetch_allow_networks=["127.0.0.1/32", "::1/128"])
    port = site.rsplit(":", 1)[1]
    out = await fetch(rig, f"http://localhost:{port}/host")
    assert f"host=localhost:{port}" in out.content


async def test_redirect_chain_is_followed(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    out = await fetch(rig, f"{site}/r/4")
    assert "bubblewrap" in out.content
    assert out.records[0][1]["url"] == f"{site}/page"


async def test_too_many_redirects(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    with pytest.raises(ToolError, match=r"too many redirects \(more than 5\)"):
        await fetch(rig, f"{site}/loop")
    with pytest.raises(ToolError, match="too many redirects"):
        await fetch(rig, f"{site}/r/5")  # six redirects


async def test_redirect_outside_the_allowed_network_is_refused(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    port = site.rsplit(":", 1)[1]
    with pytest.raises(ToolError) as caught:
        await fetch(rig, f"{site}/to-other-ip")
    message = str(caught.value)
    assert f"redirect to http://127.0.0.2:{port}/page refused" in message
    assert "loopback" in message


async def test_redirect_to_cloud_metadata_is_refused(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    with pytest.raises(ToolError, match=r"redirect to http://169\.254\.169\.254/.*metadata"):
        await fetch(rig, f"{site}/to-metadata")


async def test_redirect_to_another_scheme_is_refused(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    with pytest.raises(ToolError, match="only http:// and https://"):
        await fetch(rig, f"{site}/to-file")


async def test_huge_body_is_cut_at_fetch_max_bytes(rig: ToolRig, site: str) -> None:
    allow_loopback(rig, fetch_max_bytes=4096)
    out = await fetch(rig, f"{site}/huge", max_chars=100_000)
    assert "[The page was cut at 4096 bytes; text is incomplete.]" in out.content
    assert out.content.count("A") >= 4000
    assert "B" not in out.content.split("\n\n", 1)[1]


async def test_long_text_is_clipped_head_and_tail(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    out = await fetch(rig, f"{site}/huge", max_chars=1000)
    text = out.content.split("\n\n", 1)[1]
    assert len(text) <= 1000
    assert text.startswith("AAAA") and text.endswith("BBBB")
    assert "characters omitted" in text
    assert clip("short", 10) == "short"


async def test_json_and_untyped_text_are_returned_as_is(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    out = await fetch(rig, f"{site}/json")
    assert out.content.endswith('{"answer": 42}')
    assert out.records[0][1]["media_type"] == "application/json"
    out = await fetch(rig, f"{site}/untyped")
    assert out.content.endswith("just some words")


async def test_empty_html_falls_back_and_says_so(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    out = await fetch(rig, f"{site}/empty-html")
    assert "Title: T" in out.content
    assert "(the page has no readable text)" in out.content


async def test_unsupported_types_are_refused(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    with pytest.raises(ToolError, match="application/pdf, which web_fetch does not support"):
        await fetch(rig, f"{site}/pdf")
    with pytest.raises(ToolError, match="is not text"):
        await fetch(rig, f"{site}/png")


async def test_http_errors_are_tool_errors(rig: ToolRig, site: str) -> None:
    allow_loopback(rig)
    with pytest.raises(ToolError, match="answered HTTP 404"):
        await fetch(rig, f"{site}/missing")


async def test_other_schemes_and_bad_urls_are_refused(rig: ToolRig) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x/"):
        with pytest.raises(ToolError, match=r"url: .* does not match"):
            await fetch(rig, url)
    with pytest.raises(ToolError, match="max_chars"):
        await fetch(rig, "http://example.com/", max_chars=10)
    with pytest.raises(ToolError, match="Additional properties"):
        SPEC.validate({"url": "http://example.com/", "method": "POST"})
    # The handler checks too, whatever reaches it.
    with pytest.raises(ToolError, match="only http:// and https://"):
        await SPEC.handler(rig.context(), {"url": "file:///etc/passwd"})
    with pytest.raises(ToolError, match="user name or password"):
        await SPEC.handler(rig.context(), {"url": "http://user:secret@example.com/"})


async def test_a_server_that_never_answers_times_out(rig: ToolRig) -> None:
    # The kernel completes the handshake from the backlog; nobody ever reads or replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        allow_loopback(rig, fetch_timeout_seconds=0.5)
        with pytest.raises(ToolError, match="timed out"):
            await fetch(rig, f"http://127.0.0.1:{port}/")


async def test_closed_port_is_a_tool_error(rig: ToolRig) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    allow_loopback(rig)
    with pytest.raises(ToolError, match=r"cannot connect to 127\.0\.0\.1"):
        await fetch(rig, f"http://127.0.0.1:{port}/")
