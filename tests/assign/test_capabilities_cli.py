"""`cape run --capability` and `cape capabilities` against the real API, as real processes."""

from __future__ import annotations

import json

from cli.testing.fake_llm import FakeLLMServer
from tests.assign.support import DONE, capability, capable_agent, scripted
from tests.cape.test_cli_tasks import cape
from tests.conftest import Api
from worker.group import WorkerGroup


async def test_cape_run_by_capability_and_cape_capabilities(
    api: Api, worker: WorkerGroup, fake_llm: FakeLLMServer
) -> None:
    cap = capability()
    agent = await capable_agent(api, "cli", [cap], complexity={"min": 2, "max": 6})
    model = scripted(fake_llm, DONE)
    ran = await cape(api.url, api.key, "run", "go", "--capability", cap, "--complexity", "3",
                     "--model", model)  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert f"({agent}, model {model})" in ran.stdout, ran.output
    listed = await cape(api.url, api.key, "capabilities", cap)
    assert listed.exit_code == 0, listed.output
    [header, row] = listed.stdout.splitlines()
    assert header.split()[:3] == ["CAPABILITY", "RANK", "AGENT"], listed.stdout
    assert row.split()[:5] == [cap, "1", f"{agent}@1.0.0", "2-6", "available"], row
    assert "100% of 1" in row, row
    every = await cape(api.url, api.key, "capabilities", "--json")
    assert every.exit_code == 0, every.output
    assert cap in [c["name"] for c in json.loads(every.stdout)]
    both = await cape(api.url, api.key, "run", "go", "--capability", cap, "--agent", agent)
    assert both.exit_code == 2 and "not both" in both.stderr, both.output
    unknown = await cape(api.url, api.key, "run", "go", "--capability", "nobody-has-this")
    assert unknown.exit_code != 0 and "nobody-has-this" in unknown.output, unknown.output
