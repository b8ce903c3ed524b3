"""Web, PDF and email tools through the real workflow, against real servers on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.tools.smtp_server import SMTPServer, smtp_server

PAGE = """<html><head><title>Durable agents</title></head><body><article>
<h1>Durable agents</h1><p>Temporal records every step of a workflow, so an agent that crashes
resumes where it stopped instead of starting over. This paragraph is long enough to be kept as
the main text of the page by the extractor.</p></article></body></html>"""


class Site(BaseHTTPRequestHandler):
    """A page to fetch and a SearXNG-shaped search endpoint."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path.startswith("/search"):
            body = json.dumps(
                {
                    "results": [
                        {
                            "title": "Durable agents",
                            "url": f"http://127.0.0.1:{port}/article",
                            "content": "Temporal records every step",
                        }
                    ]
                }
            ).encode()
            kind = "application/json"
        else:
            body, kind = PAGE.encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def mail() -> Iterator[SMTPServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, site: str, mail: SMTPServer) -> Settings:
    return settings.model_copy(
        update={
            "fetch_allow_networks": ["127.0.0.1/32"],
            "search_backend": "searxng",
            "searxng_url": site,
            "smtp_host": mail.host,
            "smtp_port": mail.port,
            "smtp_security": "none",
            "smtp_from": "agent@cape.test",
        }
    )


async def test_research_report_and_mail_through_the_workflow(
    api: Api,
    worker: Worker,
    fake_llm: FakeLLMServer,
    settings: Settings,
    site: str,
    mail: SMTPServer,
) -> None:
    report = "# Findings\n\nTemporal records every step.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    turns = [
        Turn(
            tool_calls=[
                call("web_search", query="durable agents"),
                call("web_fetch", url=f"{site}/article"),
            ]
        ),
        Turn(tool_calls=[call("create_pdf", output="output/report.pdf", markdown=report)]),
        Turn(
            tool_calls=[
                call(
                    "send_email",
                    to=["boss@cape.test"],
                    subject="Report",
                    body="The report is attached.",
                    attachments=["output/report.pdf"],
                )
            ]
        ),
        Turn(content="Sent the report."),
    ]
    task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    out = results(await events_of(settings, task["id"], "tool-result"))
    assert all(r["ok"] for r in out), pretty(out)
    assert "Durable agents" in out[0]["content"]
    assert "Temporal records every step" in out[1]["content"]

    (search,) = await events_of(settings, task["id"], "web-search")
    assert search.data["query"] == "durable agents"
    (citation,) = await events_of(settings, task["id"], "citation")
    assert citation.data["url"] == f"{site}/article" and citation.data["retrieved_at"]

    pdf = settings.workspace_root / task["id"] / "output" / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    created = await events_of(settings, task["id"], "artifact-created")
    assert any(e.data["media_type"] == "application/pdf" for e in created), pretty(
        [e.data for e in created]
    )

    (message,) = mail.messages
    assert message.rcpt_tos == ["boss@cape.test"]
    attachment = next(iter(message.message.iter_attachments()))
    assert attachment.get_content() == pdf.read_bytes()
    (sent,) = await events_of(settings, task["id"], "email-sent")
    assert sent.data["message_id"] == message.message["Message-ID"]
