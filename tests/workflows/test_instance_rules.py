"""The instance workflow's bookkeeping without a server: inbox order, repeats, errors, controls."""

from __future__ import annotations

from cape.contracts.instances import Delivery, InstanceConfig, InstanceState, Running
from workflows import instance_rules as rules


def _state(**config: int) -> InstanceState:
    return InstanceState(InstanceConfig("team", "inst_1", "n", "agent", "^1", "me", **config))


def _delivery(event_id: str, at: str) -> Delivery:
    return Delivery(event_id, "deploy.x", at, "deploy.*")


def test_the_inbox_keeps_publish_order_and_drops_repeats() -> None:
    state = _state()
    assert rules.accept(state, _delivery("e1", "2026-01-01T00:00:01"))
    assert rules.accept(state, _delivery("e3", "2026-01-01T00:00:03"))
    assert rules.accept(state, _delivery("e2", "2026-01-01T00:00:02"))  # routed late
    assert [d.event_id for d in state.inbox] == ["e1", "e2", "e3"]
    assert not rules.accept(state, _delivery("e2", "2026-01-01T00:00:02"))
    state.inbox.pop(0)
    state.running.append(Running("task_1", "e1", "2026-01-01T00:00:04"))
    assert not rules.accept(state, _delivery("e1", "2026-01-01T00:00:01"))  # running
    assert state.counters.received == 3


def test_may_start_respects_flags_and_max_concurrent() -> None:
    state = _state(max_concurrent=2)
    assert not rules.may_start(state)  # nothing in the inbox
    for n in range(3):
        rules.accept(state, _delivery(f"e{n}", f"2026-01-01T00:00:0{n}"))
    assert rules.may_start(state)
    state.running = [Running("t0", "e0", ""), Running("t1", "e1", "")]
    assert not rules.may_start(state)
    state.running = []
    rules.control(state, "pause")
    assert not rules.may_start(state) and state.status == "paused"
    rules.control(state, "resume")
    assert rules.may_start(state) and state.status == "idle"


def test_failures_in_a_row_are_an_error_that_recover_clears() -> None:
    state = _state(failure_limit=2)
    first, second = Running("t1", "e1", ""), Running("t2", "e2", "")
    state.running = [first, second]
    rules.finished(state, first, "failed", "boom")
    assert state.error is None and state.status == "running"
    rules.finished(state, second, "failed", "boom again")
    assert state.status == "error" and "2 tasks failed in a row" in (state.error or "")
    assert "t2 for event e2: boom again" in (state.error or "")
    assert rules.refusal(state, "recover") is None
    rules.control(state, "recover")
    assert state.error is None and state.counters.consecutive_failures == 0
    assert rules.refusal(state, "recover") is not None  # not in error any more
    rules.finished(state, Running("t3", "e3", ""), "canceled", None)
    assert state.counters.canceled == 1 and state.counters.consecutive_failures == 0


def test_stop_drops_the_inbox_and_refuses_everything_but_stop() -> None:
    state = _state()
    rules.accept(state, _delivery("e1", "2026-01-01T00:00:01"))
    rules.control(state, "stop")
    assert state.inbox == [] and state.status == "stopped"
    assert not rules.accept(state, _delivery("e2", "2026-01-01T00:00:02"))
    assert rules.refusal(state, "resume") is not None
    assert rules.refusal(state, "stop") is None
    assert rules.refusal(state, "explode") == "unknown action 'explode'"
