"""The lock's rules on its state, as plain functions of a clock: grant order, leases, deadlines.

Deterministic (the workflow passes `workflow.now()` and its own uuid source), so the same
rules run in the workflow and in unit tests without a server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cape.contracts.locks import PRIORITY_RANK, AcquireInput, Grant, LockPriority, LockState, Waiter


def stamp(moment: datetime) -> str:
    """A workflow time as the ISO 8601 string the state keeps."""
    return moment.isoformat()


def parse(value: str) -> datetime:
    """The moment an ISO 8601 string of the state names."""
    return datetime.fromisoformat(value)


def holding(state: LockState, holder: str) -> Grant | None:
    """The grant `holder` holds now, if any."""
    return next((g for g in state.holders if g.holder == holder), None)


def by_token(state: LockState, token: str, now: datetime) -> Grant | None:
    """The live grant whose token is `token` (an expired lease is stale, like a released one)."""
    grant = next((g for g in state.holders if g.token == token), None)
    return grant if grant is not None and parse(grant.expires_at) > now else None


def queued(state: LockState, holder: str) -> tuple[int, Waiter | None]:
    """`holder`'s 1-based place in the queue and its entry; (0, None) when not waiting."""
    for place, waiter in enumerate(state.waiters, start=1):
        if waiter.holder == holder:
            return place, waiter
    return 0, None


def withdraw(state: LockState, holder: str) -> Waiter | None:
    """Take `holder`'s request out of the queue; the request, None when it was not waiting."""
    _, waiter = queued(state, holder)
    if waiter is not None:
        state.waiters.remove(waiter)
    return waiter


def _rank(waiter: Waiter) -> tuple[int, int]:
    return PRIORITY_RANK[LockPriority(waiter.priority)], waiter.arrival


def enqueue(state: LockState, inp: AcquireInput, now: datetime) -> Waiter:
    """Add a waiter behind every waiter of its priority or a higher one (arrival order)."""
    state.arrivals += 1
    waiter = Waiter(
        holder=inp.holder, kind=inp.kind, priority=inp.priority, ttl_seconds=inp.ttl_seconds,
        arrival=state.arrivals, since=stamp(now),
        wait_until=stamp(now + timedelta(seconds=inp.wait_seconds)),
    )  # fmt: skip
    place = next((i for i, w in enumerate(state.waiters) if _rank(w) > _rank(waiter)), None)
    state.waiters.insert(len(state.waiters) if place is None else place, waiter)
    return waiter


def grant(
    state: LockState, holder: str, kind: str, priority: str, ttl: float, now: datetime, token: str
) -> Grant:
    """Give the lock to `holder` with the next fence and a lease of `ttl` seconds."""
    state.fence += 1
    given = Grant(
        holder=holder, kind=kind, token=token, fence=state.fence, priority=priority,
        granted_at=stamp(now), expires_at=stamp(now + timedelta(seconds=ttl)), ttl_seconds=ttl,
    )  # fmt: skip
    state.holders.append(given)
    return given


def grant_waiters(state: LockState, now: datetime, token: Callable[[], str]) -> list[Grant]:
    """Grant free places to the first waiters in order; the grants made."""
    made = []
    while state.waiters and len(state.holders) < state.capacity:
        first = state.waiters.pop(0)
        made.append(
            grant(state, first.holder, first.kind, first.priority, first.ttl_seconds, now, token())
        )
    return made


def expire(state: LockState, now: datetime) -> tuple[list[Grant], list[Waiter]]:
    """Drop leases that ran out and waiters whose wait is over; what was dropped."""
    lapsed = [g for g in state.holders if parse(g.expires_at) <= now]
    given_up = [w for w in state.waiters if parse(w.wait_until) <= now]
    if lapsed:
        state.holders = [g for g in state.holders if g not in lapsed]
    if given_up:
        state.waiters = [w for w in state.waiters if w not in given_up]
    return lapsed, given_up


def next_deadline(state: LockState) -> datetime | None:
    """The next moment a lease runs out or a waiter stops waiting."""
    moments = [parse(g.expires_at) for g in state.holders]
    moments += [parse(w.wait_until) for w in state.waiters]
    return min(moments, default=None)
