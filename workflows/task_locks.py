"""TaskLocks: the locks of AgentTaskWorkflow, held from before its first step to its end.

The spec's `locks:`, its `max_concurrent` (a counting semaphore `agent:<name>`) and a trigger's
`concurrency_key` all arrive as `AgentTaskInput.locks`. They are acquired one by one in sorted
order (two tasks needing the same two locks never each hold one and wait for the other),
through activities (a workflow cannot send another an update), renewed at half their lease
while held, carried across continue-as-new, and released when the task ends, however it
ends. The lock's own watch of a holder task releases them too if the task is terminated.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reassign import ReassignActivities
    from activities.task_locks import TaskLockActivities
    from cape.contracts.locks import AcquireReply, Grant, TaskLockInput, TaskLockLease
    from cape.contracts.records import TaskError
    from cape.contracts.task_input import Alternative, HeldLock, LockRequest, ReassignInput
    from cape.domain import Channel, EventType, TaskStatus
    from workflows.bookkeeping import Bookkeeping
    from workflows.types import AgentTaskInput

# Tasks that declare locks acquire them before the first step (issue 16).
TASK_LOCKS_PATCH = "task-locks"
# A task that ends while it waits for a lock leaves the lock's queue at once.
WITHDRAW_PATCH = "task-lock-withdraw"
# Assigned by capability with every candidate busy: wait on each one's semaphore (issue 17).
FIRST_FREE_PATCH = "task-first-free-agent"
LOCK_CALL_TIMEOUT = timedelta(seconds=30)
WAIT_TIMEOUT = timedelta(days=366)  # the heartbeat, not this, notices a dead worker
WHY = {
    "locks": "the agent's locks",
    "max_concurrent": "the agent's max_concurrent",
    "concurrency_key": "the trigger's concurrency_key",
}


class TaskLocks(Bookkeeping):
    """Acquire, renew and release the task's locks; their fences go to its tools."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list[HeldLock] = []
        self._renewer: asyncio.Task[None] | None = None
        self._asking: list[TaskLockInput] = []  # requests not granted yet (queued, maybe)

    @property
    def _fences(self) -> dict[str, int] | None:
        """The fences of the locks held, for the tools (None when the task holds none)."""
        return {held.resource: held.fence for held in self._held} or None

    async def _acquire_locks(self, inp: AgentTaskInput) -> None:
        """Acquire every lock of `inp` in resource order, waiting in each lock's queue."""
        if not inp.locks or not workflow.patched(TASK_LOCKS_PATCH):
            return
        adopted = {held.resource for held in inp.held_locks}
        if adopted:  # granted to the run before (a reassigned task's semaphore)
            self._hold_locks(list(inp.held_locks))
        wanted = {req.resource: req for req in inp.locks}
        for resource in sorted(wanted.keys() - adopted):
            req = wanted[resource]
            if (
                req.why == "max_concurrent"
                and inp.alternatives
                and workflow.patched(FIRST_FREE_PATCH)
            ):
                await self._acquire_first_free(inp, req)
            else:
                await self._acquire_one(inp, wanted[resource])
            # Renewed from its grant on: the next lock's queue may take longer than a lease.
            self._hold_locks(self._held)
        self._state.waiting_for = None

    def _lock_ask(self, inp: AgentTaskInput, req: LockRequest) -> TaskLockInput:
        tuning = inp.tuning
        return TaskLockInput(
            inp.task_id, req.resource, req.capacity, inp.lock_priority,
            tuning.lock_ttl_seconds, tuning.lock_wait_seconds,
        )  # fmt: skip

    async def _lock_request(self, ask: TaskLockInput) -> AcquireReply:
        self._asking.append(ask)  # from here on the lock may hold a place for the task
        return await workflow.execute_activity_method(
            TaskLockActivities.request_lock,
            ask,
            start_to_close_timeout=LOCK_CALL_TIMEOUT,
            retry_policy=self._bookkeeping_retry(),
            summary=f"lock: {ask.resource}",
        )

    async def _acquire_one(self, inp: AgentTaskInput, req: LockRequest) -> None:
        ask = self._lock_ask(inp, req)
        reply = await self._lock_request(ask)
        grant = reply.grant
        why = WHY.get(req.why, req.why)
        if grant is None:
            reason = f"waiting for lock {req.resource} ({why}), position {reply.position}"
            self._state.waiting_for = reason
            self._show_progress(reason)
            data = {"resource": req.resource, "position": reply.position, "why": req.why,
                    "reason": reason}  # fmt: skip
            await self._event(
                Channel.LIFECYCLE, EventType.LOCK_WAITING, data, f"lock-waiting:{req.resource}"
            )
            grant = await self._lock_wait_grant(ask)
        self._asking.remove(ask)
        await self._lock_took(req, grant, reply.grant is None)

    async def _lock_took(self, req: LockRequest, grant: Grant, waited: bool, **more: Any) -> None:
        self._held.append(
            HeldLock(req.resource, grant.token, grant.fence, req.why, grant.expires_at)
        )
        self._state.lock_fences[req.resource] = grant.fence
        data = {"resource": req.resource, "fence": grant.fence, "why": req.why,
                "waited": waited, **more}  # fmt: skip
        await self._event(
            Channel.LIFECYCLE, EventType.LOCK_ACQUIRED, data, f"lock-acquired:{req.resource}"
        )

    async def _lock_wait_grant(self, ask: TaskLockInput, until_stopped: bool = False) -> Grant:
        """Wait for the grant of `ask`; `until_stopped`: a cancel waits for the wait to stop."""
        tuning = self._task.tuning
        # One of several waits is withdrawn once it has stopped: never queued again after.
        cancel = workflow.ActivityCancellationType
        how = cancel.WAIT_CANCELLATION_COMPLETED if until_stopped else cancel.TRY_CANCEL
        return await workflow.execute_activity_method(
            TaskLockActivities.await_lock,
            ask,
            start_to_close_timeout=WAIT_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=tuning.heartbeat_timeout_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=tuning.retry_initial_seconds),
                maximum_interval=timedelta(seconds=10),
            ),
            cancellation_type=how,
            summary=f"wait for lock: {ask.resource}",
        )

    async def _acquire_first_free(self, inp: AgentTaskInput, req: LockRequest) -> None:
        """Wait on the semaphore of the task's agent and of each alternative; take the first.

        The other requests are withdrawn (a grant that came too is given back). A grant of an
        alternative moves the task there (`reassign_task`) and the task continues as new on
        that agent, holding that semaphore; an alternative the task's input does not fit is
        given back and skipped.
        """
        options: list[tuple[Alternative | None, TaskLockInput]] = [(None, self._lock_ask(inp, req))]
        for other in inp.alternatives:
            also = LockRequest(f"agent:{other.agent}", other.capacity, "max_concurrent")
            options.append((other, self._lock_ask(inp, also)))
        while True:
            replies = [await self._lock_request(ask) for _, ask in options]
            granted = {i: r.grant for i, r in enumerate(replies) if r.grant is not None}
            waited = not granted
            if waited:
                granted = await self._lock_first_grant(req, options, replies)
            if not granted:  # every wait stopped without a grant: ask again
                for _, ask in options:
                    self._asking.remove(ask)
                continue
            win = min(granted)
            for i, (_, ask) in enumerate(options):
                self._asking.remove(ask)
                if i != win:
                    await self._lock_withdraw(ask)
            alt, ask = options[win]
            grant = granted[win]
            if alt is None:
                await self._lock_took(req, grant, waited)
                return
            moved = await workflow.execute_activity_method(
                ReassignActivities.reassign,
                ReassignInput(inp.task_id, inp.agent, inp.agent_version, alt,
                              f"{ask.resource} freed up first (every candidate was busy)"),
                start_to_close_timeout=LOCK_CALL_TIMEOUT,
                retry_policy=self._bookkeeping_retry(),
                summary=f"reassign to {alt.agent}",
            )  # fmt: skip
            if moved is None:  # the input does not fit that agent: give its slot back
                await self._lock_withdraw(ask)
                options = [o for o in options if o[1] is not ask]
                continue
            await self._lock_move(inp, moved, alt, ask, grant, waited)

    async def _lock_first_grant(
        self,
        req: LockRequest,
        options: list[tuple[Alternative | None, TaskLockInput]],
        replies: list[AcquireReply],
    ) -> dict[int, Grant]:
        """Wait in every queue until one grants; the grants made by the time all stopped."""
        names = ", ".join(ask.resource for _, ask in options[1:])
        reason = (f"waiting for lock {req.resource} ({WHY[req.why]}), position "
                  f"{replies[0].position}, or for {names}: the first to free up")  # fmt: skip
        self._state.waiting_for = reason
        self._show_progress(reason)
        data = {
            "resource": req.resource,
            "position": replies[0].position,
            "why": req.why,
            "reason": reason,
            "alternatives": [ask.resource for _, ask in options[1:]],
        }
        await self._event(
            Channel.LIFECYCLE, EventType.LOCK_WAITING, data, f"lock-waiting:{req.resource}"
        )  # fmt: skip
        asks = [ask for _, ask in options]
        waits = [asyncio.create_task(self._lock_wait_grant(a, until_stopped=True)) for a in asks]
        try:
            await workflow.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        granted: dict[int, Grant] = {}
        for i, wait in enumerate(waits):
            try:
                granted[i] = await wait
            except (ActivityError, asyncio.CancelledError):
                continue  # stopped before its grant (the withdraw also gives back a late one)
        return granted

    async def _lock_withdraw(self, ask: TaskLockInput) -> None:
        await workflow.execute_activity_method(
            TaskLockActivities.withdraw_lock,
            ask,
            start_to_close_timeout=LOCK_CALL_TIMEOUT,
            retry_policy=self._bookkeeping_retry(),
            summary=f"withdraw lock request: {ask.resource}",
        )

    async def _lock_move(
        self,
        inp: AgentTaskInput,
        moved: AgentTaskInput,
        alt: Alternative,
        ask: TaskLockInput,
        grant: Grant,
        waited: bool,
    ) -> None:
        """Continue as new on `alt`'s agent, holding its semaphore; give back the rest."""
        req = LockRequest(ask.resource, ask.capacity, "max_concurrent")
        await self._lock_took(req, grant, waited, reassigned_to=alt.agent)
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        held = [h for h in self._held if h.resource == ask.resource]
        for other in self._held:  # the first agent's own locks: the new run takes its own
            if other.resource != ask.resource:
                await workflow.execute_activity_method(
                    TaskLockActivities.release_lock,
                    TaskLockLease(inp.task_id, other.resource, other.token, reason="reassigned"),
                    start_to_close_timeout=LOCK_CALL_TIMEOUT,
                    retry_policy=self._bookkeeping_retry(),
                    summary=f"release lock: {other.resource}",
                )
        workflow.logger.info("reassigned to %s", alt.agent)
        # A delegated child keeps the sub-folder of its parent's workspace it was given (the
        # activity builds the agent's input from the row, which does not hold it). No patch:
        # it is None for every task but such a child, and only the argument of the same
        # continue-as-new command changes.
        workflow.continue_as_new(
            replace(moved, held_locks=held, lock_priority=inp.lock_priority,
                    shared_workspace=inp.shared_workspace)
        )  # fmt: skip

    def _hold_locks(self, held: list[HeldLock]) -> None:
        """Keep `held` (acquired, or carried from the run before) renewed until the end."""
        self._held = held
        self._state.lock_fences = {h.resource: h.fence for h in held}
        if held and self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        """Renew every lease once half its length is left.

        The expiry is carried across continue-as-new, so a run that began late in a lease
        renews it at once rather than a half lease after its own start.
        """
        ttl = self._task.tuning.lock_ttl_seconds
        while self._held:
            due = min(_renew_at(held, ttl) for held in self._held)
            if (wait := due - workflow.now()) > timedelta(0):
                await workflow.sleep(wait)
            for held in list(self._held):
                if _renew_at(held, ttl) > workflow.now():
                    continue
                expires = await workflow.execute_activity_method(
                    TaskLockActivities.renew_lock,
                    TaskLockLease(self._task.task_id, held.resource, held.token, ttl),
                    start_to_close_timeout=LOCK_CALL_TIMEOUT,
                    retry_policy=self._bookkeeping_retry(),
                )
                if not expires:  # its fence is stale now: a fence check refuses the task's writes
                    workflow.logger.warning("lock %s was lost (lease gone)", held.resource)
                    self._held = [h for h in self._held if h is not held]
                    self._state.lock_fences.pop(held.resource, None)
                    continue
                held.expires_at = expires

    async def _finish(
        self,
        status: TaskStatus,
        output: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> None:
        """Record the end, then give every lock back (the next waiter starts at once)."""
        await super()._finish(status, output, error)
        await self._withdraw_requests()
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        for held in self._held:
            await workflow.execute_activity_method(
                TaskLockActivities.release_lock,
                TaskLockLease(self._task.task_id, held.resource, held.token, reason=str(status)),
                start_to_close_timeout=LOCK_CALL_TIMEOUT,
                retry_policy=self._bookkeeping_retry(),
                summary=f"release lock: {held.resource}",
            )
        self._held = []

    async def _withdraw_requests(self) -> None:
        """Leave the queue of every lock still asked for (canceled or ended while waiting).

        Without it the request kept its place until granted, and every waiter behind it
        waited for its turn too. A grant given meanwhile is released by the lock itself.
        """
        asking, self._asking = self._asking, []
        if not asking or not workflow.patched(WITHDRAW_PATCH):
            return
        for ask in asking:
            await self._lock_withdraw(ask)


def _renew_at(held: HeldLock, ttl: float) -> datetime:
    """When to renew `held`: half a lease before it runs out (at once if its expiry is unknown)."""
    if not held.expires_at:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(held.expires_at) - timedelta(seconds=ttl / 2)
