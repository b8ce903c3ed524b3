"""The built-in specialist and QA specs themselves: valid, rendered per input, citing real docs."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from cape.kb import default_docs_dir, load_passages
from cape.registry.builtin import load_builtin_specs
from cape.registry.spec import AgentSpec
from cape.registry.validate import input_problems
from tests.agents.builtin_examples import (
    CATEGORIES,
    DOMAINS,
    QA_ANSWERS,
    QA_INPUTS,
    SPECIALIST,
    VERSIONS,
    specialist_answer,
    specialist_input,
)

SPECS = {spec.name: spec for spec in load_builtin_specs()}
LEFTOVERS = ("None", "Undefined", "{{", "{%")  # what a template slip would leave in a prompt


def _spec(name: str) -> AgentSpec:
    return SPECS[name]


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_each_builtin_parses_with_its_category_and_a_version(name: str) -> None:
    spec = _spec(name)
    assert spec.version == VERSIONS[name]
    assert spec.category == CATEGORIES[name]
    assert spec.goals and spec.tags and spec.output_schema is not None


def test_the_specialist_has_four_domains_each_with_prompt_playbook_and_resources() -> None:
    domains = _spec(SPECIALIST).config["domains"]
    assert sorted(domains) == sorted(DOMAINS)
    assert _spec(SPECIALIST).input_schema["properties"]["domain"]["enum"] == list(DOMAINS)
    for domain, data in domains.items():
        assert data["title"] and len(data["prompt"]) > 100, domain
        assert len(data["playbook"]) >= 5, domain
        assert len(data["resources"]) >= 5, domain
    # Each domain's playbook is its own: no step is shared between two domains.
    steps = [step for data in domains.values() for step in data["playbook"]]
    assert len(steps) == len(set(steps))


def test_every_specialist_resource_is_a_real_docs_section() -> None:
    sections = {p.path: p.title for p in load_passages(default_docs_dir())}
    for domain, data in _spec(SPECIALIST).config["domains"].items():
        for resource in data["resources"]:
            # The title docs_search shows for the section, so citations read the same.
            assert sections.get(resource["path"]) == resource["title"], (domain, resource)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_prompt_carries_the_chosen_domain_only(domain: str) -> None:
    spec = _spec(SPECIALIST)
    domains = spec.config["domains"]
    prompt = spec.render_prompt(specialist_input(domain))
    chosen = domains[domain]
    assert chosen["prompt"].strip() in prompt
    for n, step in enumerate(chosen["playbook"], 1):
        assert f"{n}. {step}" in prompt
    for resource in chosen["resources"]:
        assert resource["path"] in prompt
    for other in set(DOMAINS) - {domain}:
        assert domains[other]["prompt"].strip() not in prompt
        assert not any(step in prompt for step in domains[other]["playbook"]), other
    assert f'"domain": "{domain}"' in prompt
    assert "- team_size: 4" in prompt and '- systems: ["GitHub", "Slack"]' in prompt
    assert not any(leftover in prompt for leftover in LEFTOVERS), prompt


def test_the_prompt_without_context_says_nothing_about_it() -> None:
    prompt = _spec(SPECIALIST).render_prompt({"query": "Audit us", "domain": "security_audit"})
    assert "The request: Audit us" in prompt and "Context from the user" not in prompt


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_specialist_examples_match_its_schemas(domain: str) -> None:
    spec = _spec(SPECIALIST)
    assert input_problems(spec.input_schema, specialist_input(domain)) == []
    assert spec.output_schema is not None
    jsonschema.validate(specialist_answer(domain), spec.output_schema)


@pytest.mark.parametrize("name", sorted(QA_INPUTS))
def test_the_qa_examples_match_their_schemas_and_render(name: str) -> None:
    spec = _spec(name)
    assert input_problems(spec.input_schema, QA_INPUTS[name]) == []
    assert spec.output_schema is not None
    jsonschema.validate(QA_ANSWERS[name], spec.output_schema)
    prompt = spec.render_prompt(QA_INPUTS[name])
    assert not any(leftover in prompt for leftover in LEFTOVERS), prompt


def test_the_qa_prompts_follow_their_input() -> None:
    manager = _spec("qa-manager")
    with_mail = manager.render_prompt(QA_INPUTS["qa-manager"])
    assert "https://staging.example.com" in with_mail and "Suite: smoke." in with_mail
    assert '/login: expect "Sign in"' in with_mail and "qa@example.com" in with_mail
    assert "do not send email" not in with_mail
    minimal = {"target_url": "https://prod.example.com", "environment": "production"}
    quiet = manager.render_prompt(minimal)
    assert "do not send email" in quiet and "Checks (" not in quiet and "Suite: smoke." in quiet
    assert "Suite: full." in manager.render_prompt({**minimal, "suite": "full"})

    explorer = _spec("explorer")
    shallow = explorer.render_prompt({"url": "https://app.example.com", "depth": 1})
    assert "Read the start page only" in shallow and "sitemap.xml" not in shallow
    deep = explorer.render_prompt(QA_INPUTS["explorer"])
    assert "depth of 2" in deep and "at most 20 pages" in deep and "about checkout first" in deep
    assert "at most 40 pages" in explorer.render_prompt({"url": "https://a.example", "depth": 5})

    executor = _spec("executor")
    local = executor.render_prompt(QA_INPUTS["executor"])
    assert "The folder src/app of the workspace" in local and "git_clone" not in local
    assert "Run exactly this command there: echo 3 passed" in local and "tests/unit" in local
    cloned = executor.render_prompt({"repo": "acme/shop", "ref": "main"})
    assert "Clone the GitHub repository acme/shop at main" in cloned
    assert "work in src/<name>/." in cloned and "--junitxml" in cloned


def _tools(spec: AgentSpec) -> dict[str, bool]:
    return {tool.name: tool.approval for tool in spec.tools}


def test_the_qa_tools_and_triggers() -> None:
    manager, explorer, executor = (_spec(n) for n in ("qa-manager", "explorer", "executor"))
    assert _tools(manager) == {
        "read_file": False,
        "write_file": False,
        "list_files": False,
        "web_fetch": False,
        "send_email": True,  # a person approves every email
    }
    assert set(_tools(explorer)) == {"web_fetch", "write_file", "read_file", "list_files"}
    assert set(_tools(executor)) == {
        "shell", "python", "pip_install", "git_clone", "read_file", "write_file", "list_files",
    }  # fmt: skip
    assert not any(_tools(explorer).values()) and not any(_tools(executor).values())

    def triggers(spec: AgentSpec) -> dict[str, Any]:
        return {t.event: t.filter for t in spec.triggers}

    assert triggers(manager) == {
        "deployment.completed": {"environment": "staging"},
        "schedule.qa-nightly": None,
    }
    assert triggers(explorer) == {
        "qa.explore-requested": None,
        "deployment.completed": {"environment": "staging", "ui_changed": True},
    }
    assert triggers(executor) == {
        "qa.tests-requested": None,
        "pull_request.opened": {"draft": False},
    }
