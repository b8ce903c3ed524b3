"""The instance workflow's bookkeeping, free of Temporal calls: inbox, counters, errors."""

from __future__ import annotations

from cape.contracts.instances import ControlAction, Delivery, InstanceState, Running

SEEN_LIMIT = 1000  # event ids remembered to drop a repeated delivery (the task id catches older)


def accept(state: InstanceState, delivery: Delivery) -> bool:
    """Put `delivery` in the inbox in event order; False for a repeat or a stopped instance."""
    if state.stopped:
        return False
    event_id = delivery.event_id
    if event_id in state.seen or any(r.event_id == event_id for r in state.running):
        return False
    if any(d.event_id == event_id for d in state.inbox):
        return False
    state.seen.append(event_id)
    del state.seen[:-SEEN_LIMIT]
    state.counters.received += 1
    # Events arrive about in order; one that was routed late goes before later ones queued.
    key = (delivery.published_at, event_id)
    place = len(state.inbox)
    while place > 0 and _key(state.inbox[place - 1]) > key:
        place -= 1
    state.inbox.insert(place, delivery)
    return True


def _key(delivery: Delivery) -> tuple[str, str]:
    return delivery.published_at, delivery.event_id


def may_start(state: InstanceState) -> bool:
    """Whether the next inbox event may start its task now."""
    if state.stopped or state.paused or state.error is not None or not state.inbox:
        return False
    return len(state.running) < state.config.max_concurrent


def finished(state: InstanceState, running: Running, outcome: str, error: str | None) -> None:
    """Count how the task of `running` ended; too many failures in a row are an error."""
    state.running = [r for r in state.running if r.task_id != running.task_id]
    counters = state.counters
    if outcome == "succeeded":
        counters.succeeded += 1
        counters.consecutive_failures = 0
    elif outcome == "canceled":
        counters.canceled += 1
    else:
        counters.failed += 1
        counters.consecutive_failures += 1
        limit = state.config.failure_limit
        if counters.consecutive_failures >= limit and state.error is None:
            state.error = (
                f"{counters.consecutive_failures} tasks failed in a row (the limit is {limit}); "
                f"the last, {running.task_id} for event {running.event_id}: {error or 'failed'}"
            )


def refusal(state: InstanceState, action: str) -> str | None:
    """Why `action` cannot be done now, or None."""
    if action not in {a.value for a in ControlAction}:
        return f"unknown action {action!r}"
    if state.stopped and action != ControlAction.STOP:
        return "the instance is stopped; create a new one"
    if action == ControlAction.RECOVER and state.error is None:
        return f"the instance is {state.status.value}, not in error: nothing to recover"
    return None


def control(state: InstanceState, action: str) -> None:
    """Apply a control action the validator accepted."""
    if action == ControlAction.PAUSE:
        state.paused = True
    elif action == ControlAction.RESUME:
        state.paused = False
    elif action == ControlAction.STOP:
        state.stopped = True
        state.inbox = []  # nothing more starts; the events stay in the event log
    elif action == ControlAction.RECOVER:
        state.error = None
        state.counters.consecutive_failures = 0
