"""How the audit middleware names a write and finds the client's address, from real scopes."""

from __future__ import annotations

from api.middleware.audit import client_address, describe, outcome_of


def test_writes_are_named_by_their_route() -> None:
    assert describe("POST", "/v1/tasks", {}) == ("task.create", "task", "")
    assert describe("POST", "/v1/tasks/{task_id}/cancel", {"task_id": "t1"}) == (
        "task.cancel", "task", "t1",
    )  # fmt: skip
    assert describe("DELETE", "/v1/teams/{team_id}/members/{user_id}", {"team_id": "a",
                    "user_id": "b"}) == ("user.delete", "user", "a/b")  # fmt: skip
    assert describe("POST", "/v1/schedules/{schedule_id}/trigger", {"schedule_id": "s"})[0] == (
        "schedule.trigger"
    )
    assert describe("PATCH", "/v1/schedules/{schedule_id}", {"schedule_id": "s"})[0] == (
        "schedule.update"
    )
    assert describe("POST", "/v1/agents/import", {})[0] == "agent.import"
    assert describe("POST", "/v1/tasks/{task_id}/artifacts", {"task_id": "t"})[0] == (
        "artifact.create"
    )


def test_the_forwarded_address_counts_only_behind_a_trusted_proxy() -> None:
    scope = {
        "client": ("10.0.0.5", 4000),
        "headers": [(b"x-forwarded-for", b"198.51.100.7, 10.0.0.1")],
    }
    assert client_address(scope, trust_forwarded_for=False) == "10.0.0.5"
    assert client_address(scope, trust_forwarded_for=True) == "198.51.100.7"
    assert client_address({"client": None, "headers": []}, trust_forwarded_for=True) is None


def test_outcomes() -> None:
    assert [outcome_of(s) for s in (201, 403, 503)] == ["ok", "refused", "failed"]
