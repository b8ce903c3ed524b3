"""The tool step: run one tool call the model made."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.llm import parse_arguments
from activities.recorder import StepRecorder
from activities.tools.files import HANDLERS, ToolError
from activities.types import ToolInput, ToolResult
from cape.domain import Channel, EventType, StepStatus

log = structlog.get_logger(__name__)
MODEL_OUTPUT_CHARS = 16 * 1024


class ToolActivities:
    """Tool runs, built in the worker with the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.recorder = StepRecorder(sessions)

    @activity.defn(name="run_tool")
    async def run_tool(self, inp: ToolInput) -> ToolResult:
        """Run the call; a tool error is returned to the model, not raised."""
        ref, call = inp.step, inp.call
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id, step_no=ref.step_no
        )
        done = await self.recorder.begin(ref, {"tool": call.name, "arguments": call.arguments})
        if done is not None:
            return ToolResult(ok=done["ok"], content=done["content"])
        try:
            handler = HANDLERS.get(call.name)
            if handler is None:
                raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(HANDLERS)}")
            try:
                args = parse_arguments(call)
            except ValueError as exc:
                raise ToolError(f"arguments are not valid JSON: {exc}") from None
            # File I/O off the event loop: a large write must not stall other activities.
            content = await asyncio.to_thread(handler, Path(inp.workspace), args)
            result = ToolResult(ok=True, content=_clip(content))
        except ToolError as exc:
            result = ToolResult(ok=False, content=f"error: {exc}")
        except OSError as exc:
            result = ToolResult(ok=False, content=f"error: {exc.strerror or exc}")
        status = StepStatus.SUCCEEDED if result.ok else StepStatus.FAILED
        output = {"tool_call_id": call.id, "ok": result.ok, "content": result.content}
        if not result.ok:
            output["error"] = {"type": "ToolError", "message": result.content}
            log.info("tool error returned to the model", tool=call.name, error=result.content)
        data = {"id": call.id, "name": call.name, "ok": result.ok, "content": result.content}
        await self.recorder.finish(
            ref, output, status=status, events=[(Channel.TOOLS, EventType.TOOL_RESULT, data)]
        )
        return result


def _clip(text: str) -> str:
    if len(text) <= MODEL_OUTPUT_CHARS:
        return text
    half = MODEL_OUTPUT_CHARS // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
