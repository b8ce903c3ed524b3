"""The retrieval step: the guide's answer built from the docs alone (no model configured)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.recorder import StepRecorder
from activities.types import RetrievalInput, RetrievalResult
from cape.contracts.failures import Failure
from cape.contracts.records import StepError
from cape.domain import Channel, EventType
from cape.errors import InvalidInput
from cape.kb import retrieval_answer

log = structlog.get_logger(__name__)


class GuideActivities:
    """Answers from the documentation, built in the worker with the database."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], docs_dir: Path | None = None
    ) -> None:
        self.recorder = StepRecorder(sessions)
        self.docs_dir = docs_dir  # None: the repository's docs/

    @activity.defn(name="answer_from_docs")
    async def answer_from_docs(self, inp: RetrievalInput) -> RetrievalResult:
        """Answer `inp.query` from the best doc passages and record it as the task's step."""
        ref = inp.step
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id, step_no=ref.step_no
        )
        step_input: dict[str, Any] = {
            "query": inp.query,
            "context": inp.context,
            "format": inp.format,
            "top_k": inp.top_k,
        }
        done = await self.recorder.begin(ref, step_input)
        if done is not None:
            return RetrievalResult(output=done)
        try:
            # The first call of a process builds the index from the doc files, and encodes them
            # when the docs changed (a minute): off the loop, heartbeating meanwhile.
            async with heartbeating():
                output = await asyncio.to_thread(
                    retrieval_answer, inp.query, inp.context, inp.format, inp.top_k, self.docs_dir
                )
        except InvalidInput as exc:
            error: StepError = {
                "type": Failure.INVALID_INPUT,
                "message": exc.message,
                "details": exc.details,
            }
            await self.recorder.fail(ref, error, retrying=False)
            raise ApplicationError(
                exc.message, error, type=Failure.INVALID_INPUT, non_retryable=True
            ) from exc
        log.info(
            "answered from the docs",
            confidence=output["confidence"],
            resources=len(output["resources"]),
        )
        message = {"content": output["answer"], "mode": "retrieval"}
        await self.recorder.finish(
            ref, output, events=[(Channel.MESSAGES, EventType.ASSISTANT_MESSAGE, message)]
        )
        return RetrievalResult(output=output)
