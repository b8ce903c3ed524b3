"""create_pdf: real WeasyPrint and matplotlib, pages checked by rendering them with pypdfium2."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from numpy.typing import NDArray
from PIL import Image

from activities.tools.base import ToolError, ToolOutput
from activities.tools.pdf import TOOLS, artifact_id
from tests.tools.conftest import ToolRig

SPEC = TOOLS[0]
C0 = (0x1F, 0x77, 0xB4)  # matplotlib's first colour
RED, GREEN, MAGENTA = (255, 0, 0), (0, 160, 0), (255, 0, 255)


async def make(rig: ToolRig, step_no: int = 1, **args: Any) -> ToolOutput:
    return await SPEC.handler(rig.context(step_no=step_no), SPEC.validate(args))


def pixels(path: Path, page: int = 0) -> NDArray[np.int_]:
    document = pdfium.PdfDocument(path)
    image = document[page].render(scale=1.5).to_pil().convert("RGB")
    return np.asarray(image).astype(int)


def count_color(image: NDArray[np.int_], color: tuple[int, int, int], tolerance: int = 8) -> int:
    return int(np.all(np.abs(image - np.array(color)) <= tolerance, axis=2).sum())


def text_of(path: Path) -> str:
    document = pdfium.PdfDocument(path)
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that serves a PNG and counts every request."""
    requests: list[str] = []
    body = png(RED)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


BAR_CHART = {
    "id": "sales",
    "type": "bar",
    "title": "Sales per quarter",
    "labels": ["Q1", "Q2", "Q3", "Q4"],
    "series": [{"name": "2024", "values": [3, 5, 2, 6]}],
}


async def test_markdown_with_table_and_bar_chart(rig: ToolRig) -> None:
    if os.geteuid() == 0:  # the file must go to the workspace owner, as sandboxed runs edit it
        os.chown(rig.workspace, 64000, 64000)
    markdown = (
        "# Quarterly report\n\nSales went up.\n\n| Quarter | Sales |\n|---|---|\n"
        "| Q1 | 3 |\n| Q2 | 5 |\n\n![Sales](chart:sales)\n"
    )
    out = await make(rig, output="report.pdf", markdown=markdown, charts=[BAR_CHART])
    path = rig.workspace / "output" / "report.pdf"
    assert path.read_bytes().startswith(b"%PDF")
    assert "output/report.pdf" in out.content and "1 page(s)" in out.content
    assert "appended" not in out.content
    assert len(pdfium.PdfDocument(path)) >= 1
    image = pixels(path)
    assert int((image.sum(axis=2) < 3 * 235).sum()) > 5000  # not a blank page
    assert count_color(image, C0) > 2000  # the bars
    text = text_of(path)
    assert "Quarterly report" in text and "Quarter" in text and "1 / 1" in text
    assert path.stat().st_uid == rig.workspace.stat().st_uid


async def test_host_files_and_urls_are_not_fetched(
    rig: ToolRig, http_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, requests = http_server
    (tmp_path / "outside.png").write_bytes(png(MAGENTA))
    (rig.workspace / "escape.png").symlink_to(tmp_path / "outside.png")
    (rig.workspace / "inside.png").write_bytes(png(GREEN))
    inline = base64.b64encode(png(RED)).decode()
    html = f"""<html><head>
      <link rel="stylesheet" href="{base}/style.css">
      <style>@import url("{base}/import.css"); h1 {{ background: url({base}/bg.png); }}</style>
      </head><body><h1>Safe</h1>
      <img src="file:///etc/passwd"> <img src="{base}/x.png"> <img src="http://127.0.0.1:1/x.png">
      <img src="escape.png"> <img src="file://{tmp_path}/outside.png">
      <img src="inside.png"> <img src="data:image/png;base64,{inline}">
      </body></html>"""
    css = f"body {{ background-image: url({base}/page.png); }}"
    out = await make(rig, output="safe.pdf", html=html, css=css)
    assert requests == []
    image = pixels(rig.workspace / "output" / "safe.pdf")
    assert count_color(image, GREEN) > 1000  # a workspace image loads
    assert count_color(image, RED) > 1000  # a data: URI loads
    assert count_color(image, MAGENTA) == 0  # a symlink out of the workspace does not
    for refused in ("file:///etc/passwd", f"{base}/x.png", f"{base}/style.css", "escape.png"):
        assert refused in out.content
    assert str(rig.workspace) not in out.content
    assert "Safe" in text_of(rig.workspace / "output" / "safe.pdf")


async def test_template_with_variables(rig: ToolRig) -> None:
    template = (
        "<h1>Invoice {{ number }}</h1>{% for item in items %}"
        "<p>{{ item.name }}: {{ '%.2f' % item.price }} EUR</p>{% endfor %}<p>{{ note }}</p>"
    )
    variables = {
        "number": "2024-017",
        "items": [{"name": "Widget", "price": 9.5}, {"name": "Gadget", "price": 12}],
        "note": "<b>thanks</b>",
    }
    await make(
        rig, output="docs/invoice.pdf", template=template, variables=variables, title="Invoice"
    )
    path = rig.workspace / "docs" / "invoice.pdf"
    text = text_of(path)
    assert "Invoice 2024-017" in text
    assert "Widget: 9.50 EUR" in text and "Gadget: 12.00 EUR" in text
    assert "<b>thanks</b>" in text  # escaped, so shown rather than interpreted
    assert pdfium.PdfDocument(path).get_metadata_dict()["Title"] == "Invoice"
    with pytest.raises(ToolError, match="undefined"):
        await make(rig, output="x.pdf", template="{{ nope }}")


async def test_source_file_with_relative_image(rig: ToolRig) -> None:
    (rig.workspace / "docs" / "img").mkdir(parents=True)
    (rig.workspace / "docs" / "img" / "logo.png").write_bytes(png(GREEN))
    (rig.workspace / "docs" / "report.md").write_text("# From a file\n\n![logo](img/logo.png)\n")
    await make(rig, output="from-file.pdf", source_file="docs/report.md")
    path = rig.workspace / "output" / "from-file.pdf"
    assert "From a file" in text_of(path)
    assert count_color(pixels(path), GREEN) > 1000
    (rig.workspace / "notes.txt").write_text("plain")
    with pytest.raises(ToolError, match="source_file"):
        await make(rig, output="x.pdf", source_file="notes.txt")


async def test_output_path_escapes_are_refused(rig: ToolRig, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (rig.workspace / "out").symlink_to(elsewhere)
    for output in ("../escape.pdf", "/tmp/escape.pdf", "out/escape.pdf"):
        with pytest.raises(ToolError):
            await make(rig, output=output, markdown="# x")
    assert list(elsewhere.iterdir()) == []
    assert not (rig.workspace.parent / "escape.pdf").exists()
    with pytest.raises(ToolError, match="output"):
        SPEC.validate({"output": "report.txt", "markdown": "# x"})
    with pytest.raises(ToolError, match="exactly one"):
        await make(rig, output="x.pdf", markdown="# x", html="<p>x</p>")


async def test_artifact_is_stored_once_per_step(rig: ToolRig) -> None:
    first = await make(rig, step_no=7, output="a.pdf", markdown="# Artifact")
    again = await make(rig, step_no=7, output="a.pdf", markdown="# Artifact")
    other = await make(rig, step_no=8, output="b.pdf", markdown="# Other")
    assert first.artifacts == again.artifacts == [artifact_id(rig.task_id, 7)]
    assert other.artifacts == [artifact_id(rig.task_id, 8)] != first.artifacts
    info = await rig.store.get(rig.task_id, first.artifacts[0])
    assert (info.media_type, info.name, info.step_no) == ("application/pdf", "a.pdf", 7)
    stored = rig.store.path(info).read_bytes()
    assert stored.startswith(b"%PDF") and info.size == len(stored)
    assert len(await rig.store.list(rig.task_id)) == 2


async def test_multi_page_document(rig: ToolRig) -> None:
    sections = [f"# Part {i}\n\n" + "Lorem ipsum dolor sit amet. " * 40 for i in range(1, 4)]
    breaks = '\n\n<div style="break-after: page"></div>\n\n'
    long_table = "| n | square |\n|---|---|\n" + "".join(f"| {n} | {n * n} |\n" for n in range(90))
    out = await make(rig, output="long.pdf", markdown=breaks.join(sections) + "\n\n" + long_table)
    path = rig.workspace / "output" / "long.pdf"
    pages = len(pdfium.PdfDocument(path))
    assert pages >= 4
    assert f"{pages} page(s)" in out.content
    text = text_of(path)
    assert all(f"Part {i}" in text for i in range(1, 4))
    assert f"{pages} / {pages}" in text


async def test_chart_rules(rig: ToolRig) -> None:
    line = {
        "id": "trend",
        "type": "line",
        "labels": [1, 2, 3],
        "series": [{"name": "a", "values": [1, 3, 2]}],
    }
    out = await make(rig, output="appended.pdf", markdown="# No placement", charts=[line])
    assert "appended" in out.content and "trend" in out.content
    assert count_color(pixels(rig.workspace / "output" / "appended.pdf"), C0) > 200
    too_many = [{**BAR_CHART, "id": f"c{i}"} for i in range(21)]
    with pytest.raises(ToolError, match="charts"):
        SPEC.validate({"output": "x.pdf", "markdown": "x", "charts": too_many})
    with pytest.raises(ToolError, match="limit is 20"):
        await SPEC.handler(rig.context(), {"output": "x.pdf", "markdown": "x", "charts": too_many})
    with pytest.raises(ToolError, match="undefined chart"):
        await make(rig, output="x.pdf", markdown="![x](chart:missing)", charts=[BAR_CHART])
    short = {**BAR_CHART, "series": [{"name": "s", "values": [1]}]}
    with pytest.raises(ToolError, match="1 values for 4 labels"):
        await make(rig, output="x.pdf", markdown="x", charts=[short])
    pie = {**BAR_CHART, "type": "pie", "series": [{"name": "a", "values": [1] * 4}] * 2}
    with pytest.raises(ToolError, match="one series"):
        await make(rig, output="x.pdf", markdown="x", charts=[pie])
    big = "x" * (2 * 1024 * 1024 + 1)
    with pytest.raises(ToolError, match="limit"):
        await make(rig, output="x.pdf", markdown=big)
    assert not (rig.workspace / "output" / "x.pdf").exists()
