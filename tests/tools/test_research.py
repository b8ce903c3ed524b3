"""The research tool against a SearXNG-shaped search and pages served on loopback by the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from activities.tools import research, web_search
from activities.tools.base import ToolError, ToolOutput
from activities.tools.bibliography import date_parts
from activities.tools.registry import get_tool
from activities.tools.research_notes import Source, paragraphs, select
from tests.tools.conftest import ToolRig
from tests.tools.research_site import research_site

SPEC = research.TOOLS[0]
QUESTION = "what is durable execution for AI agents"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with research_site() as base:
        yield base


@pytest.fixture(autouse=True)
def fresh_search_state() -> Iterator[None]:
    web_search.reset_search_state()
    yield
    web_search.reset_search_state()


def use(rig: ToolRig, site: str, mode: str = "ok", **update: Any) -> None:
    rig.settings = rig.settings.model_copy(
        update={
            "search_backend": "searxng",
            "searxng_url": f"{site}/{mode}",
            "search_cache_seconds": 0.0,
            "fetch_allow_networks": ["127.0.0.1/32"],  # the test's pages are on loopback
            **update,
        }
    )


async def run(rig: ToolRig, step_no: int = 3, **args: Any) -> ToolOutput:
    return await SPEC.handler(rig.context(step_no), SPEC.validate({"query": QUESTION, **args}))


def records(out: ToolOutput, kind: str) -> list[dict[str, Any]]:
    return [data for k, data in out.records if k == kind]


async def test_notes_cite_numbered_sources_and_store_the_bibliography(
    rig: ToolRig, site: str
) -> None:
    use(rig, site)
    out = await run(rig, max_sources=3)
    text = out.content
    assert f"[1] Durable execution explained\n    {site}/durable" in text
    assert f"[2] Agents on workflows\n    {site}/agents" in text
    assert "[3]" not in text.split("Not read:")[0]  # only two distinct pages could be read
    # The relevant passages are kept, the aside and the page chrome are not.
    assert "survives process crashes" in text and "never pays twice" in text
    assert "cafeteria" not in text and "Copyright" not in text
    # The paragraph both articles share appears once.
    assert text.count("replays the history") == 1
    assert "Left out 1 passage(s) repeating one above." in text
    # What could not be read, and why.
    assert f"- {site}/mirror: the same text as [1]" in text
    assert f"{site}/report.pdf: {site}/report.pdf is application/pdf" in text
    assert f"- {site}/to-metadata: redirect to http://169.254.169.254" in text
    assert f"{site}/durable#history" not in text  # the same page as [1]
    assert "Stopped reading" not in text

    cited = records(out, "citation")
    numbered = [(c["number"], c["url"]) for c in cited]
    assert numbered == [(1, f"{site}/durable"), (2, f"{site}/agents")]
    assert all(c["status"] == 200 and c["media_type"] == "text/html" for c in cited)
    (summary,) = records(out, "research")
    assert summary["repeats"] == 1 and summary["stopped"] == ""
    assert summary["bibliography"] == {"markdown": out.artifacts[0], "csl_json": out.artifacts[1]}
    assert f"artifact {out.artifacts[0]} (bibliography.md" in text

    md_info, csl_info = [await rig.store.get(rig.task_id, a) for a in out.artifacts]
    assert (md_info.name, md_info.media_type) == ("bibliography.md", "text/markdown")
    assert csl_info.media_type == "application/vnd.citationstyles.csl+json"
    md = rig.store.path(md_info).read_text()
    assert f"# Bibliography: {QUESTION}" in md
    host = site.removeprefix("http://")  # the site's name, when the page gives none
    first_ref = f"[1] Ada Lovelace. “Durable execution explained”. {host}, 2024-05-01."
    assert f"{first_ref} <{site}/durable>" in md
    assert f"[2] “Agents on workflows”. {host}. <{site}/agents>" in md
    items = json.loads(rig.store.path(csl_info).read_text())
    assert [i["id"] for i in items] == ["ref1", "ref2"]
    first = items[0]
    assert first["type"] == "webpage" and first["URL"] == f"{site}/durable"
    assert first["author"] == [{"literal": "Ada Lovelace"}]
    assert first["issued"] == {"date-parts": [[2024, 5, 1]]}
    assert len(first["accessed"]["date-parts"][0]) == 3


async def test_a_retried_step_keeps_its_bibliography(rig: ToolRig, site: str) -> None:
    use(rig, site)
    first = await run(rig, step_no=5)
    again = await run(rig, step_no=5)
    assert again.artifacts == first.artifacts
    other = await run(rig, step_no=6)
    assert set(other.artifacts).isdisjoint(first.artifacts)


async def test_the_page_limit_is_the_smaller_of_the_call_and_the_operator(
    rig: ToolRig, site: str
) -> None:
    use(rig, site)
    out = await run(rig, max_sources=1)
    assert "Stopped reading: the page limit (1, max_sources) was reached" in out.content
    assert len(records(out, "citation")) == 1
    use(rig, site, research_max_pages=1)
    out = await run(rig, max_sources=3)
    assert "the page limit (1, CAPE_RESEARCH_MAX_PAGES) was reached" in out.content
    use(rig, site, "long", research_max_pages=5)  # two pages found, both read: no limit hit
    out = await run(rig)
    assert "Stopped reading" not in out.content
    use(rig, site, research_max_pages=1)
    out = await run(rig, max_sources=1)
    assert "the page limit (1, max_sources) was reached" in out.content


async def test_the_byte_limit_cuts_and_stops(rig: ToolRig, site: str) -> None:
    use(rig, site, "long", research_max_bytes=2048)
    out = await run(rig)
    assert f"[1] A long essay on durable execution\n    {site}/long (read in part" in out.content
    assert "(read in part: cut at the byte limit)" in out.content
    assert "Stopped reading: the byte limit (CAPE_RESEARCH_MAX_BYTES, 2048 bytes) is spent" in (
        out.content
    )
    (summary,) = records(out, "research")
    assert summary["bytes"] == 2048


async def test_the_time_limit_keeps_what_was_read(rig: ToolRig, site: str) -> None:
    use(rig, site, "slow", research_timeout_seconds=1.0)
    out = await run(rig)
    assert "[1] Durable execution explained" in out.content
    assert f"- {site}/slow: not read in time" in out.content
    assert "the time limit (CAPE_RESEARCH_TIMEOUT_SECONDS, 1 s) ran out" in out.content
    assert f"{site}/agents" not in out.content


async def test_loopback_is_refused_by_the_guard_unless_allowed(rig: ToolRig, site: str) -> None:
    use(rig, site, fetch_allow_networks=[])
    with pytest.raises(ToolError, match="research read no page") as caught:
        await run(rig)
    assert "loopback" in str(caught.value) or "private" in str(caught.value)


async def test_no_results_is_an_answer(rig: ToolRig, site: str) -> None:
    use(rig, site, "none")
    out = await run(rig)
    assert out.content.startswith("No search results for")
    assert out.artifacts == []


def test_schema_and_registry() -> None:
    assert get_tool("research") is SPEC
    with pytest.raises(ToolError, match="max_sources"):
        SPEC.validate({"query": "x", "max_sources": 11})
    with pytest.raises(ToolError, match="query"):
        SPEC.validate({"max_sources": 2})
    with pytest.raises(ToolError, match="Additional properties"):
        SPEC.validate({"query": "x", "urls": []})


def test_paragraphs_join_short_lines_and_select_prefers_the_question() -> None:
    text = "Menu\nHome\n" + "Durable execution survives crashes of the worker process. " * 2
    assert paragraphs(text)[0].startswith("Menu Home Durable")
    bananas = "Bananas are yellow fruit that grow in bunches on large plants."
    durable = "Durable execution survives a crash of the worker and resumes the run."
    weather = "Nothing here matches at all, only words about the weather today."
    sources = [Source("u1", "t", f"{bananas}\n{durable}", "now"), Source("u2", "t", weather, "now")]
    assert select("durable execution crash", sources, per_source=1) == 0
    assert sources[0].passages == [durable]
    # A source with nothing on the question still gives its lead paragraph.
    assert sources[1].passages == [weather]


@pytest.mark.parametrize(
    ("value", "parts"),
    [("2024-05-01", [2024, 5, 1]), ("2024-05", [2024, 5]), ("2024", [2024]), ("May 2024", None)],
)
def test_dates_for_csl(value: str, parts: list[int] | None) -> None:
    assert date_parts(value) == parts
