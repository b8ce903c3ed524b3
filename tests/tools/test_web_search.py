"""web_search against a SearXNG-shaped server on loopback; limiter and cache on a fake clock."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.tools import web_search
from activities.tools.base import ToolError
from activities.tools.ratelimit import SearchState
from tests.tools.conftest import ToolRig

SPEC = web_search.TOOLS[0]


class Handler(BaseHTTPRequestHandler):
    """SearXNG's `/search?q=&format=json`, under prefixes that pick a behaviour."""

    hits: Counter[str] = Counter()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        mode = parts.path.split("/")[1]
        query = parse_qs(parts.query)
        self.hits[mode] += 1
        status, body = 200, b""
        if mode == "ok":
            assert query["format"] == ["json"]
            q = query["q"][0]
            results = [
                {
                    "title": f"{q} result {n}",
                    "url": f"https://example.com/{n}",
                    "content": f"about {n}",
                }
                for n in range(1, 26)
            ]
            results.insert(1, {"title": "no url", "content": "skipped"})
            body = json.dumps({"query": q, "results": results}).encode()
        elif mode == "empty":
            body = json.dumps({"query": "x", "results": [], "unresponsive_engines": []}).encode()
        elif mode == "fail":
            status, body = 500, b"internal error"
        elif mode == "badjson":
            body = b"<html>not json</html>"
        elif mode == "noresults":
            body = b'{"answers": []}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def searx() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class FakeClock:
    """A monotonic clock that only moves when told to, or when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    web_search.reset_search_state(SearchState.create(clock=fake, sleep=fake.sleep))
    Handler.hits.clear()
    yield fake
    web_search.reset_search_state()


def use(rig: ToolRig, searx: str, mode: str, **update: Any) -> None:
    settings = {"search_backend": "searxng", "searxng_url": f"{searx}/{mode}/", **update}
    rig.settings = rig.settings.model_copy(update=settings)


async def search(rig: ToolRig, query: str, **args: Any) -> Any:
    return await SPEC.handler(rig.context(), SPEC.validate({"query": query, **args}))


async def test_results_are_listed_recorded_and_cached(
    rig: ToolRig, searx: str, clock: FakeClock
) -> None:
    use(rig, searx, "ok")
    out = await search(rig, "Temporal  workflows", max_results=3)
    assert out.content.splitlines()[:4] == [
        "Results for 'Temporal workflows':",
        "1. Temporal workflows result 1",
        "   https://example.com/1",
        "   about 1",
    ]
    assert "3. Temporal workflows result 3" in out.content
    assert "4." not in out.content
    [(kind, record)] = out.records
    assert kind == "web-search"
    assert record["query"] == "Temporal workflows"
    assert record["backend"] == "searxng"
    assert record["cached"] is False
    assert [r["url"] for r in record["results"]] == [f"https://example.com/{n}" for n in (1, 2, 3)]

    again = await search(rig, "  temporal WORKFLOWS ", max_results=3)
    assert Handler.hits["ok"] == 1
    assert again.records[0][1]["cached"] is True
    assert again.records[0][1]["results"] == record["results"]

    await search(rig, "temporal workflows", max_results=4)  # another size is another key
    assert Handler.hits["ok"] == 2
    assert clock.slept == []


async def test_cache_entries_expire(rig: ToolRig, searx: str, clock: FakeClock) -> None:
    use(rig, searx, "ok", search_cache_seconds=60.0)
    await search(rig, "expiry")
    clock.now += 59
    assert (await search(rig, "expiry")).records[0][1]["cached"] is True
    clock.now += 2
    assert (await search(rig, "expiry")).records[0][1]["cached"] is False
    assert Handler.hits["ok"] == 2


async def test_rate_limit_waits_briefly_or_refuses(
    rig: ToolRig, searx: str, clock: FakeClock
) -> None:
    use(rig, searx, "ok", search_per_minute=1)
    await search(rig, "first")
    with pytest.raises(ToolError, match=r"rate limit reached \(1 per 60 s.*retry in about 60 s"):
        await search(rig, "second")
    assert (await search(rig, "first")).records[0][1]["cached"] is True  # hits skip the limit
    clock.now += 56
    out = await search(rig, "third")
    assert clock.slept == [pytest.approx(4.0)]
    assert out.records[0][1]["cached"] is False
    assert Handler.hits["ok"] == 2


async def test_no_results_is_a_normal_answer(rig: ToolRig, searx: str, clock: FakeClock) -> None:
    use(rig, searx, "empty")
    out = await search(rig, "zzqx")
    assert out.content.startswith("No results for 'zzqx'")
    assert out.records == [
        ("web-search", {"query": "zzqx", "backend": "searxng", "results": [], "cached": False})
    ]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "SearXNG answered HTTP 500"),
        ("badjson", "SearXNG returned invalid JSON"),
        ("noresults", "without a results list"),
    ],
)
async def test_broken_backends_are_tool_errors(
    rig: ToolRig, searx: str, clock: FakeClock, mode: str, message: str
) -> None:
    use(rig, searx, mode)
    with pytest.raises(ToolError, match=message):
        await search(rig, "anything")
    with pytest.raises(ToolError, match=message):  # failures are not cached
        await search(rig, "anything")
    assert Handler.hits[mode] == 2


async def test_backend_down_is_a_tool_error(rig: ToolRig, clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    use(rig, f"http://127.0.0.1:{port}", "ok")
    with pytest.raises(ToolError, match="cannot reach the SearXNG server"):
        await search(rig, "anything")


async def test_unconfigured_searxng_is_a_tool_error(rig: ToolRig, clock: FakeClock) -> None:
    rig.settings = rig.settings.model_copy(update={"search_backend": "searxng", "searxng_url": ""})
    with pytest.raises(ToolError, match="searxng_url"):
        await search(rig, "anything")


async def test_ddgs_without_internet_is_a_tool_error(rig: ToolRig, clock: FakeClock) -> None:
    rig.settings = rig.settings.model_copy(update={"search_backend": "ddgs"})
    with pytest.raises(ToolError, match=r"web search (failed \(ddgs\)|timed out)"):
        await search(rig, "capecontrol offline test")


def test_schema_rejects_bad_arguments() -> None:
    for bad in (
        {"query": ""},
        {"query": "x" * 401},
        {"query": "x", "max_results": 0},
        {"query": "x", "max_results": 21},
        {"query": "x", "engine": "google"},
        {},
    ):
        with pytest.raises(ToolError, match="invalid arguments"):
            SPEC.validate(bad)
    assert SPEC.validate({"query": "x", "max_results": 20})
