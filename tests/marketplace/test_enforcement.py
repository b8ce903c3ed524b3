"""What an installed agent's spec allows, as the tools enforce it: declared destinations for
`web_fetch` (every hop), declared pip packages for `pip_install`."""

from __future__ import annotations

import httpx
import pytest

from activities.tools.base import ToolError
from activities.tools.netguard import Policy, vet
from activities.tools.python import check_declared
from api.marketplace.agents import installed_name, installed_spec
from cape.marketplace.manifest import parse_manifest
from tests.marketplace.support import agent, manifest


def test_an_installed_spec_carries_the_declared_permissions() -> None:
    declared = parse_manifest(manifest("tools-pkg", permissions={
        "tools": ["write_file", "web_fetch", "pip_install"], "network": ["*.example.org"],
        "pip": ["six==1.16.0"],
    }))  # fmt: skip
    name = installed_name("team_b", "fetcher")
    assert name == installed_name("team_b", "fetcher") != installed_name("team_c", "fetcher")
    spec = installed_spec(agent("fetcher", tools=["web_fetch"]), name, "2.0.0", declared)
    assert spec["name"] == name and spec["version"] == "2.0.0"
    assert spec["sandbox_limits"] == {
        "network_allow": ["*.example.org"],
        "pip_allow": ["six"],
        "secrets_allow": [],
    }


async def test_web_fetch_refuses_a_host_not_declared_before_resolving_it() -> None:
    policy = Policy(allow_hosts=("docs.example.org", "*.example.net"))
    for url in ("https://evil.test/x", "https://example.org.evil.test/", "https://net/"):
        with pytest.raises(ToolError, match="not a destination this agent's package declared"):
            await vet(httpx.URL(url), policy)
    policy.check_host("a.b.example.net")
    policy.check_host("DOCS.example.org.")


def test_pip_install_refuses_a_package_not_declared() -> None:
    check_declared(["six==1.16.0"], ["six"])
    check_declared(["anything"], None)
    with pytest.raises(ToolError, match="not one this agent's package declared"):
        check_declared(["six==1.16.0", "requests"], ["six"])
    with pytest.raises(ToolError, match="declared: none"):
        check_declared(["six"], [])
