"""The lock's rules without a server: grant order, fences, expiry, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

from cape.contracts.locks import AcquireInput, LockState, lock_workflow_id, valid_resource
from workflows import lock_queue as rules

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def tokens() -> Callable[[], str]:
    numbers = count(1)
    return lambda: f"t{next(numbers)}"


def test_waiters_are_ordered_by_priority_then_arrival() -> None:
    state = LockState("team", "r")
    for holder, priority in [("b", "normal"), ("c", "low"), ("d", "high"), ("e", "normal"),
                             ("f", "critical"), ("g", "high")]:  # fmt: skip
        rules.enqueue(state, AcquireInput(holder, priority=priority, wait_seconds=60), NOW)
    assert [w.holder for w in state.waiters] == ["f", "d", "g", "b", "e", "c"]
    assert rules.queued(state, "e")[0] == 5
    assert rules.queued(state, "nobody") == (0, None)


def test_each_grant_takes_the_next_fence_and_expiry_frees_the_place() -> None:
    state = LockState("team", "r")
    token = tokens()
    first = rules.grant(state, "a", "client", "normal", 10, NOW, token())
    rules.enqueue(state, AcquireInput("b", wait_seconds=5), NOW)
    rules.enqueue(state, AcquireInput("c", wait_seconds=60), NOW)
    assert rules.grant_waiters(state, NOW, token) == []
    assert rules.next_deadline(state) == NOW + timedelta(seconds=5)  # b stops waiting first
    lapsed, given_up = rules.expire(state, NOW + timedelta(seconds=10))
    assert [g.holder for g in lapsed] == ["a"] and [w.holder for w in given_up] == ["b"]
    [second] = rules.grant_waiters(state, NOW + timedelta(seconds=10), token)
    assert (second.holder, second.fence, first.fence) == ("c", 2, 1)
    assert rules.by_token(state, first.token, NOW) is None  # released: stale
    assert rules.by_token(state, second.token, NOW + timedelta(seconds=69)) is second
    assert rules.by_token(state, second.token, NOW + timedelta(seconds=70)) is None  # expired


def test_resource_names_and_workflow_ids() -> None:
    assert valid_resource("device:42") and valid_resource("repo@main/x") is False
    assert not valid_resource("") and not valid_resource("-x") and not valid_resource("a" * 201)
    assert lock_workflow_id("t1", "r") != lock_workflow_id("t2", "r")
    assert lock_workflow_id("a:b", "c") != lock_workflow_id("a", "b:c")
