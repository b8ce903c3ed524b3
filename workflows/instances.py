"""InstanceWorkflow: one long-lived workflow per agent runtime instance (docs/instances.md).

It receives the events the instance subscribes to as signals (the routing activity's
signal-with-start), keeps them in an inbox in event order, and runs one task per event as an
abandoned child `AgentTaskWorkflow` (an ordinary task, its row prepared by an activity), at
most `max_concurrent` at once. An activity follows each task to its end, so a task started by
an earlier run is followed again after continue-as-new, which carries the inbox and the tasks
in flight. Pause, resume, stop and recover are updates; the state is a query and is copied to
the `agent_instances` row by an activity after each change (coalesced).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    # The child's result type is decoded when the child ends: its module must be imported
    # here, in the sandbox, for its annotations to resolve.
    import workflows.types  # noqa: F401
    from activities.instances import InstanceActivities
    from cape.contracts.instances import (
        CONTROL_UPDATE,
        DELIVER_SIGNAL,
        INSTANCE_CONFLICT,
        INSTANCE_STATE_QUERY,
        INSTANCE_WORKFLOW,
        AwaitInput,
        ControlAction,
        ControlInput,
        Delivery,
        InstanceState,
        PrepareInput,
        Running,
        SaveInput,
        instance_task_id,
    )
    from cape.contracts.task_input import AgentTaskInput
    from cape.tasks.start import task_start
    from workflows import instance_rules as rules
    from workflows.agent_task import AgentTaskWorkflow

SAVE_EVERY = timedelta(seconds=0.3)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))  # the database may be away a while


@workflow.defn(name=INSTANCE_WORKFLOW)
class InstanceWorkflow:
    """Runs one task per delivered event, in order, at most `max_concurrent` at once."""

    @workflow.init
    def __init__(self, state: InstanceState) -> None:
        self.state = state
        self.changed = True  # a new run saves its copy first
        self.wake = False
        self.work: dict[str, asyncio.Task[None]] = {}
        self.cancels: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, state: InstanceState) -> str:
        """Serve events until stopped (and its tasks are over), continuing as new when long."""
        for running in self.state.running:  # carried over from the previous run
            self.work[running.task_id] = asyncio.create_task(self._run(running, carried=True))
        saved = datetime.min.replace(tzinfo=workflow.now().tzinfo)
        while True:
            self.wake = False
            self._start_ready()
            save_at = saved + SAVE_EVERY
            over = self.state.stopped and not self.state.running
            if self.changed and (workflow.now() >= save_at or over or self._long()):
                self.changed = False
                saved = workflow.now()
                await self._save()
                continue  # changes made while saving are looked at before waiting
            if over:
                workflow.logger.info("instance stopped")
                return self.state.status.value
            if self._long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                # The tasks in flight go with the state: the next run follows them again.
                workflow.continue_as_new(self.state)
            timeout = (save_at - workflow.now()) if self.changed else None
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.wake or self._long(), timeout=timeout)

    @workflow.signal(name=DELIVER_SIGNAL)
    def deliver(self, delivery: Delivery) -> None:
        """An event the instance subscribes to (a repeat is dropped)."""
        if rules.accept(self.state, delivery):
            self._touch()

    @workflow.query(name=INSTANCE_STATE_QUERY)
    def instance_state(self) -> InstanceState:
        """The state now: flags, counters, the inbox and the tasks running."""
        return self.state

    @workflow.update(name=CONTROL_UPDATE)
    def control(self, inp: ControlInput) -> InstanceState:
        """Pause, resume, stop (cancel: cancel the running tasks too) or recover; the state."""
        rules.control(self.state, inp.action)
        if inp.action == ControlAction.STOP and inp.cancel:
            for running in self.state.running:
                if running.agent_version:  # started: its workflow exists
                    self.cancels.append(asyncio.create_task(self._cancel(running.task_id)))
        workflow.logger.info("instance %s by %s", inp.action, inp.by)
        self._touch()
        return self.state

    @control.validator
    def _check_control(self, inp: ControlInput) -> None:
        if (why := rules.refusal(self.state, inp.action)) is not None:
            raise ApplicationError(why, type=INSTANCE_CONFLICT, non_retryable=True)

    def _touch(self) -> None:
        self.changed = self.wake = True

    def _long(self) -> bool:
        info = workflow.info()
        limit = self.state.config.history_limit
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _start_ready(self) -> None:
        while rules.may_start(self.state):
            delivery = self.state.inbox.pop(0)
            task_id = instance_task_id(self.state.config.instance_id, delivery.event_id)
            running = Running(task_id, delivery.event_id, workflow.now().isoformat())
            self.state.running.append(running)
            self.work[task_id] = asyncio.create_task(self._run(running, delivery=delivery))
            self._touch()

    async def _save(self) -> None:
        self.state.version += 1
        # Without the inbox and the seen ids: every save's input stays in the history.
        light = replace(self.state, inbox=[], seen=[])
        await workflow.execute_activity_method(
            InstanceActivities.save_instance,
            SaveInput(copy.deepcopy(light), inbox_length=len(self.state.inbox)),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )

    async def _run(
        self, running: Running, delivery: Delivery | None = None, carried: bool = False
    ) -> None:
        """Prepare, start and follow the task of one event, then count how it ended."""
        if not running.agent_version:  # not started yet (or not known to be)
            if delivery is None:
                delivery = Delivery(running.event_id, "", running.started_at, "")
            if not await self._prepare_and_start(running, delivery, carried):
                return
        result = await workflow.execute_activity_method(
            InstanceActivities.await_task,
            AwaitInput(self.state.config.team_id, self.state.config.instance_id, running.task_id),
            start_to_close_timeout=timedelta(days=7),
            heartbeat_timeout=timedelta(seconds=self.state.config.heartbeat_seconds),
            retry_policy=RETRY,
        )
        rules.finished(self.state, running, result.outcome, result.error)
        self.work.pop(running.task_id, None)
        self._touch()

    async def _prepare_and_start(self, running: Running, delivery: Delivery, carried: bool) -> bool:
        """True when the task runs (or ran) and is to be followed."""
        config = self.state.config
        prep = await workflow.execute_activity_method(
            InstanceActivities.prepare_task,
            PrepareInput(config, delivery, running.task_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        if prep.outcome == "no_version":  # the event waits at the head of the inbox
            self._drop(running)
            self.state.inbox.insert(0, delivery)
            self.state.error = prep.reason
            return False
        if prep.outcome == "rejected":
            rules.finished(self.state, running, "failed", prep.reason)
            self._drop(running)
            return False
        if prep.outcome == "done":
            if not carried:
                self._drop(running)  # a repeated delivery of an event handled long ago
                return False
        elif prep.input is not None:
            await self._start_child(prep.input)
            self.state.counters.started += 1
        # Set once the child exists: a run after continue-as-new then only follows it.
        running.agent_version = self.state.agent_version = prep.agent_version
        self._touch()
        return True

    async def _start_child(self, inp: AgentTaskInput) -> None:
        start = task_start(inp, workflow.info().task_queue, self.state.config.team_id)
        # Started by an earlier attempt or run: the same task, followed, never a second one.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            child = await workflow.start_child_workflow(
                AgentTaskWorkflow.run,
                start.input,
                **start.child_options(),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            # Its end is followed by `await_task` (in this run or the next): the result the
            # handle gets here is read only so that a failure is not reported as unretrieved.
            child.add_done_callback(_retrieved)

    def _drop(self, running: Running) -> None:
        self.state.running = [r for r in self.state.running if r.task_id != running.task_id]
        self.work.pop(running.task_id, None)
        self._touch()

    async def _cancel(self, task_id: str) -> None:
        with contextlib.suppress(Exception):  # ended meanwhile: nothing to cancel
            await workflow.get_external_workflow_handle(task_id).cancel()


def _retrieved(child: asyncio.Future[Any]) -> None:
    if not child.cancelled():
        child.exception()
