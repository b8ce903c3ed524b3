"""LockWorkflow: one long-lived workflow per (team, resource), as Temporal's mutex samples.

It holds the holder, its lease, the fence counter and the waiters in grant order (priority,
then arrival). Acquire, renew and release are updates (a stale token is rejected by the
validator, so it never enters the history); leases and waits run out on workflow timers; a
holder that is a task is watched by an activity and released when its workflow ends. The
state goes to the `locks` table through an activity after each change (coalesced), and the
run continues-as-new with its state before its history grows long.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.locks import LockActivities
    from cape.contracts.locks import (
        ACQUIRE_UPDATE,
        LOCK_STATE_QUERY,
        LOCK_WORKFLOW,
        PRIORITY_RANK,
        QUEUE_FULL,
        RELEASE_UPDATE,
        RENEW_UPDATE,
        STALE_TOKEN,
        WITHDRAW_UPDATE,
        AcquireInput,
        AcquireReply,
        Grant,
        HolderKind,
        LockState,
        ReleaseInput,
        RenewInput,
        SaveInput,
        WatchInput,
        WithdrawInput,
        WithdrawReply,
    )
    from workflows import lock_queue as rules

SAVE_TIMEOUT = timedelta(seconds=30)
SAVE_EVERY = timedelta(seconds=0.5)
WATCH_HEARTBEAT = timedelta(seconds=10)


@workflow.defn(name=LOCK_WORKFLOW)
class LockWorkflow:
    """An exclusive lock (capacity 1) or a counting semaphore, with leases and fences."""

    @workflow.init
    def __init__(self, state: LockState) -> None:
        self.state = state
        self.changed = True  # a new run saves its copy first
        self.wake = False  # a change since the loop last looked: deadlines may have moved
        self.watches: dict[int, asyncio.Task[None]] = {}

    @workflow.run
    async def run(self, state: LockState) -> None:
        """Serve leases and timers until the history is long, then continue as new."""
        for held in self.state.holders:
            self._watch(held)
        saved = datetime.min.replace(tzinfo=workflow.now().tzinfo)
        while True:
            # The copy is written at most every SAVE_EVERY: a busy lock's changes coalesce.
            self.wake = False
            save_at = saved + SAVE_EVERY
            deadline = rules.next_deadline(self.state)
            if self.changed:
                deadline = save_at if deadline is None else min(deadline, save_at)
            timeout = None if deadline is None else deadline - workflow.now()
            if timeout is None or timeout > timedelta(0):
                with contextlib.suppress(TimeoutError):  # a lease, a wait or a save is due
                    await workflow.wait_condition(
                        lambda: self.wake or self._should_continue(),
                        timeout=timeout,
                    )
            self._tick(workflow.now())
            if self.changed and (workflow.now() >= save_at or self._should_continue()):
                self.changed = False
                saved = workflow.now()
                self.state.version += 1
                await workflow.execute_activity_method(
                    LockActivities.save_lock,
                    SaveInput(copy.deepcopy(self.state)),
                    start_to_close_timeout=SAVE_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                )
            if self._should_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.state)

    @workflow.query(name=LOCK_STATE_QUERY)
    def lock_state(self) -> LockState:
        """The state now: holders (with tokens: the API never shows them), the queue."""
        return self.state

    @workflow.update(name=ACQUIRE_UPDATE)
    def acquire(self, inp: AcquireInput) -> AcquireReply:
        """Grant now, or queue (never blocks: the caller polls `lock_state` for its grant).

        A holder that holds the lock gets its grant again; one that waits keeps its place.
        """
        now = workflow.now()
        if inp.capacity and inp.capacity != self.state.capacity:
            # A task's agent semaphore carries its `max_concurrent`: a changed spec resizes it.
            self.state.capacity = inp.capacity
            self._touch()
        self._tick(now)
        if (held := rules.holding(self.state, inp.holder)) is not None:
            return AcquireReply("granted", grant=held)
        _, waiter = rules.queued(self.state, inp.holder)
        if waiter is None:
            if not self.state.waiters and len(self.state.holders) < self.state.capacity:
                given = rules.grant(
                    self.state, inp.holder, inp.kind, inp.priority, inp.ttl_seconds, now,
                    self._token(),
                )  # fmt: skip
                self._granted([given])
                return AcquireReply("granted", grant=given)
            if inp.wait_seconds <= 0:
                return AcquireReply("timed_out")
            rules.enqueue(self.state, inp, now)
        else:  # asked again: waits until the later of both deadlines
            later = now + timedelta(seconds=inp.wait_seconds)
            waiter.wait_until = rules.stamp(max(rules.parse(waiter.wait_until), later))
        self._touch()
        return self._reply(inp.holder)

    @acquire.validator
    def _check_acquire(self, inp: AcquireInput) -> None:
        if inp.priority not in PRIORITY_RANK or inp.kind not in {k.value for k in HolderKind}:
            raise ValueError(f"bad priority {inp.priority!r} or holder kind {inp.kind!r}")
        if inp.ttl_seconds <= 0 or inp.wait_seconds < 0 or inp.capacity < 0:
            raise ValueError("ttl_seconds must be > 0, wait_seconds and capacity >= 0")
        known = rules.holding(self.state, inp.holder) or rules.queued(self.state, inp.holder)[1]
        if known is None and inp.wait_seconds > 0 and len(self.state.waiters) >= inp.max_waiters:
            raise ApplicationError(
                f"{len(self.state.waiters)} requests already wait for this lock "
                f"(at most {inp.max_waiters})",
                type=QUEUE_FULL,
                non_retryable=True,
            )

    @workflow.update(name=RENEW_UPDATE)
    def renew(self, inp: RenewInput) -> Grant:
        """Extend the lease of a live token from now; its fence stays."""
        now = workflow.now()
        grant = rules.by_token(self.state, inp.token, now)
        assert grant is not None  # the validator refused any other token
        grant.ttl_seconds = inp.ttl_seconds or grant.ttl_seconds
        grant.expires_at = rules.stamp(now + timedelta(seconds=grant.ttl_seconds))
        self._touch()
        return grant

    @renew.validator
    def _check_renew(self, inp: RenewInput) -> None:
        self._check_token(inp.token)
        if inp.ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")

    @workflow.update(name=RELEASE_UPDATE)
    def release(self, inp: ReleaseInput) -> Grant:
        """Give a live lease back; the next waiter is granted at once."""
        grant = rules.by_token(self.state, inp.token, workflow.now())
        assert grant is not None
        self._drop(grant, inp.reason)
        return grant

    @release.validator
    def _check_release(self, inp: ReleaseInput) -> None:
        self._check_token(inp.token)

    @workflow.update(name=WITHDRAW_UPDATE)
    def withdraw(self, inp: WithdrawInput) -> WithdrawReply:
        """Leave the queue at once (the next waiter moves up); a grant given meanwhile is released.

        Unknown holders are a no-op (`unknown`): asking twice is safe.
        """
        if rules.withdraw(self.state, inp.holder) is not None:
            workflow.logger.info("request withdrawn", extra={"holder": inp.holder})
            self._touch()
            # The withdrawn request may have stood before requests that fit now.
            self._granted(rules.grant_waiters(self.state, workflow.now(), self._token))
            return WithdrawReply("withdrawn")
        if (held := rules.holding(self.state, inp.holder)) is not None:
            self._drop(held, inp.reason)
            return WithdrawReply("released", grant=held)
        return WithdrawReply("unknown")

    def _check_token(self, token: str) -> None:
        if rules.by_token(self.state, token, workflow.now()) is None:
            raise ApplicationError(
                "the token is not the lock's current lease (released, expired or never granted)",
                type=STALE_TOKEN,
                non_retryable=True,
            )

    def _token(self) -> str:
        return workflow.uuid4().hex

    def _touch(self) -> None:
        self.changed = self.wake = True

    def _should_continue(self) -> bool:
        info = workflow.info()
        # Well before Temporal's own suggestion (10,240 events): a short history replays
        # quickly when a worker picks the lock up from scratch.
        limit = self.state.history_limit
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _reply(self, holder: str) -> AcquireReply:
        if (held := rules.holding(self.state, holder)) is not None:
            return AcquireReply("granted", grant=held)
        place, waiter = rules.queued(self.state, holder)
        if waiter is None:
            return AcquireReply("timed_out")
        return AcquireReply("waiting", position=place, wait_until=waiter.wait_until)

    def _tick(self, now: datetime) -> None:
        """Expire leases and waits that ran out, then grant what is free."""
        lapsed, given_up = rules.expire(self.state, now)
        for grant in lapsed:
            self._unwatch(grant)
            workflow.logger.info("lease expired", extra={"holder": grant.holder})
        if lapsed or given_up:
            self._touch()
        self._granted(rules.grant_waiters(self.state, now, self._token))

    def _granted(self, grants: list[Grant]) -> None:
        for grant in grants:
            self._watch(grant)
            self._touch()

    def _drop(self, grant: Grant, reason: str) -> None:
        self.state.holders = [g for g in self.state.holders if g.fence != grant.fence]
        self._unwatch(grant)
        workflow.logger.info("lock released", extra={"holder": grant.holder, "reason": reason})
        self._touch()
        self._granted(rules.grant_waiters(self.state, workflow.now(), self._token))

    def _watch(self, grant: Grant) -> None:
        if grant.kind == HolderKind.TASK.value and grant.fence not in self.watches:
            self.watches[grant.fence] = asyncio.create_task(self._follow(grant))

    def _unwatch(self, grant: Grant) -> None:
        if (watch := self.watches.pop(grant.fence, None)) is not None:
            watch.cancel()

    async def _follow(self, grant: Grant) -> None:
        """Release `grant` when its holder's workflow ends (for whatever reason)."""
        try:
            await workflow.execute_activity_method(
                LockActivities.watch_holder,
                WatchInput(grant.holder, grant.fence),
                start_to_close_timeout=timedelta(days=1),
                heartbeat_timeout=WATCH_HEARTBEAT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
        except (ActivityError, asyncio.CancelledError):
            return  # released meanwhile, or the watch failed: the lease still bounds it
        self.watches.pop(grant.fence, None)
        if any(g.fence == grant.fence for g in self.state.holders):
            self._drop(grant, "holder-ended")
