"""Valid inputs and final answers of the built-in specialist and QA agents, for their tests."""

from __future__ import annotations

from typing import Any

DOMAINS = ("workflow_automation", "data_analytics", "security_audit", "integration_helper")
SPECIALIST = "cape-ai-domain-specialist"
QA_AGENTS = ("qa-manager", "explorer", "executor")
CATEGORIES = {SPECIALIST: "specialist", "qa-manager": "qa", "explorer": "qa", "executor": "qa"}
# The built-ins' current versions (1.1.0: they declare their capabilities).
VERSIONS = dict.fromkeys(CATEGORIES, "1.1.0")


def specialist_input(domain: str) -> dict[str, Any]:
    """A request to the specialist in `domain`, with free-form context."""
    return {
        "query": f"Help me with {domain.replace('_', ' ')} for our nightly report agent",
        "domain": domain,
        "context": {"team_size": 4, "environment": "staging", "systems": ["GitHub", "Slack"]},
    }


def specialist_answer(domain: str) -> dict[str, Any]:
    """A final answer matching the specialist's output schema."""
    return {
        "domain": domain,
        "playbook_steps": [
            {"step": "Map the process", "detail": "List the trigger, inputs and outputs."},
            {"step": "Pick the trigger", "detail": "A schedule at 02:00 Africa/Johannesburg."},
        ],
        "insights": ["The report needs an owner who answers approvals."],
        "confidence": 0.72,
        "resources": [
            {"title": "Concepts: Approvals", "path": "docs/concepts.md#approvals"},
            {"title": "Schedules: Fields", "path": "docs/schedules.md#fields"},
        ],
    }


QA_INPUTS: dict[str, dict[str, Any]] = {
    "qa-manager": {
        "target_url": "https://staging.example.com",
        "environment": "staging",
        "suite": "smoke",
        "checks": [{"path": "/login", "expect": "Sign in"}],
        "notify": ["qa@example.com"],
    },
    "explorer": {"url": "https://app.example.com", "depth": 2, "focus": "checkout"},
    "executor": {"path": "src/app", "command": "echo 3 passed", "suite": "tests/unit"},
}

QA_ANSWERS: dict[str, dict[str, Any]] = {
    "qa-manager": {
        "status": "degraded",
        "summary": "The home page answers; /login does not show 'Sign in'.",
        "findings": [
            {
                "severity": "medium",
                "title": "Login text missing",
                "detail": "/login shows an empty form without 'Sign in'.",
                "url": "https://staging.example.com/login",
            }
        ],
        "next_actions": ["Frontend team: check the login page's translations."],
    },
    "explorer": {
        "pages": [
            {
                "url": "https://app.example.com/",
                "title": "Shop",
                "elements": [
                    {"kind": "link", "label": "Cart", "target": "/cart"},
                    {"kind": "button", "label": "Search"},
                ],
            }
        ],
        "flows": [{"name": "checkout", "steps": ["Open /", "Press Cart", "Press Pay"]}],
        "risks": [{"severity": "high", "description": "Payment form", "url": "/cart"}],
    },
    "executor": {
        "passed": 3,
        "failed": 1,
        "skipped": 0,
        "failures": [{"name": "tests/unit/test_a.py::test_b", "message": "assert 1 == 2"}],
        "report_path": "output/test-report.md",
    },
}

# Invalid inputs and the field the 422 must name.
BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    (SPECIALIST, {"query": "help", "domain": "cooking"}, "input.domain"),
    (SPECIALIST, {"domain": "security_audit"}, "input.query"),
    (SPECIALIST, {"query": "", "domain": "security_audit"}, "input.query"),
    (SPECIALIST, {"query": "x" * 4001, "domain": "security_audit"}, "input.query"),
    (SPECIALIST, {"query": "help", "domain": "data_analytics", "mood": "x"}, "input.mood"),
    ("qa-manager", {"target_url": "ftp://x.example", "environment": "staging"}, "input.target_url"),
    ("qa-manager", {"target_url": "https://x.example"}, "input.environment"),
    ("qa-manager", {**QA_INPUTS["qa-manager"], "suite": "everything"}, "input.suite"),
    ("explorer", {"url": "https://x.example", "depth": 6}, "input.depth"),
    ("explorer", {"depth": 2}, "input.url"),
    ("executor", {"command": "pytest"}, "input.path"),
    ("executor", {"repo": "not a repo"}, "input.repo"),
]
