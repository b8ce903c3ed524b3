"""Declared secrets: installing needs them accepted and available; an installed agent's tools
get only the secrets its package declared (`sandbox_limits.secrets_allow`)."""

from __future__ import annotations

import uuid

import httpx
from pydantic import SecretStr

from cape.marketplace.secrets import missing_secrets
from cape.settings import Settings
from tests.harness import new_api_key, running_api
from tests.marketplace.support import agent, package


def test_an_unset_or_unknown_secret_is_named_with_where_to_set_it(settings: Settings) -> None:
    unset = settings.model_copy(update={"github_token": SecretStr("")})
    problems = missing_secrets(["GITHUB_TOKEN", "SLACK_TOKEN"], unset)
    assert [p["field"] for p in problems] == ["body.accept_permissions"] * 2
    assert (
        "GITHUB_TOKEN is not set: the operator must set CAPE_GITHUB_TOKEN" in problems[0]["message"]
    )
    assert "SLACK_TOKEN cannot be given to agents" in problems[1]["message"]
    configured = settings.model_copy(update={"github_token": SecretStr("ghp_x")})
    assert missing_secrets(["GITHUB_TOKEN"], configured) == []


async def test_an_installed_agent_gets_only_its_declared_secrets(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    configured = settings.model_copy(update={"github_token": SecretStr("ghp_test_token")})
    publisher = await new_api_key(settings, owner=f"sec-a-{tag}")
    admin = await new_api_key(settings, owner=f"sec-b-{tag}")
    github = package(
        f"gh-{tag}",
        agents=[agent(f"gh-{tag}-agent")],
        permissions={"tools": ["write_file"], "secrets": ["GITHUB_TOKEN"]},
        tests=[{"agent": f"gh-{tag}-agent", "input": {"prompt": "x"}, "expect_contains": "x"}],
    )
    slack = package(f"sl-{tag}", agents=[agent(f"sl-{tag}-agent")],
                    permissions={"tools": ["write_file"], "secrets": ["SLACK_TOKEN"]})  # fmt: skip
    a_auth, b_auth = {"Authorization": f"Bearer {publisher}"}, {"Authorization": f"Bearer {admin}"}
    async with running_api(configured) as url:  # noqa: SIM117 (the clients need its url)
        async with (
            httpx.AsyncClient(base_url=url, headers=a_auth) as a,
            httpx.AsyncClient(base_url=url, headers=b_auth) as b,
        ):
            for body in (github, slack):
                sent = await a.post("/v1/marketplace/packages", json=body)
                assert sent.status_code == 201, sent.text
            # Without CAPE_MARKETPLACE_TEST_MODEL the cases are not run, and the report says so.
            tests = next(s for s in sent.json()["report"] if s["step"] == "tests")
            assert tests["status"] == "skipped" and "no test cases" in tests["skipped"]
            got = await a.get(f"/v1/marketplace/packages/gh-{tag}")
            step = next(s for s in got.json()["versions"][0]["scan_report"] if s["step"] == "tests")
            assert "no test model is configured" in step["skipped"]
            assert got.json()["versions"][0]["tests"] == "none"
            unaccepted = await b.post(
                "/v1/marketplace/installs",
                json={"package": f"gh-{tag}", "accept_permissions": ["tool:write_file"]},
            )
            assert unaccepted.status_code == 422
            assert "secret:GITHUB_TOKEN" in unaccepted.json()["error"]["message"]
            refused = await b.post(
                "/v1/marketplace/installs",
                json={"package": f"sl-{tag}",
                      "accept_permissions": ["secret:SLACK_TOKEN", "tool:write_file"]},
            )  # fmt: skip
            assert refused.status_code == 422, refused.text
            assert "SLACK_TOKEN cannot be given to agents" in refused.json()["error"]["message"]
            assert (await b.get(f"/v1/marketplace/installs/sl-{tag}")).status_code == 404
            installed = await b.post(
                "/v1/marketplace/installs",
                json={"package": f"gh-{tag}",
                      "accept_permissions": ["secret:GITHUB_TOKEN", "tool:write_file"]},
            )  # fmt: skip
            assert installed.status_code == 201, installed.text
            name = installed.json()["installed"][0]["agents"][f"gh-{tag}-agent"]
            version = (await b.get(f"/v1/agents/{name}/versions/1.0.0")).json()
    assert version["spec"]["sandbox_limits"]["secrets_allow"] == ["GITHUB_TOKEN"]
