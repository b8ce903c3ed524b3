"""The LLM step: one streamed chat completion with tool calling."""

from __future__ import annotations

import time
from typing import Any, cast

import openai
import structlog
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessageParam,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.conversation import load_messages
from activities.heartbeat import heartbeating
from activities.llm_errors import classify
from activities.recorder import Event, StepRecorder
from activities.tools.registry import openai_tools, tools
from activities.types import LlmInput, LlmResult, StepRef, ToolCall, Usage
from cape.contracts.failures import Failure
from cape.contracts.records import StepError
from cape.contracts.steps import ChatMessage, LlmStepOutput, read_llm
from cape.domain import Channel, EventType
from cape.llm.pricing import PriceTable
from cape.llm.providers import ProviderNotConfigured, Providers, UnknownProvider
from cape.safe_text import clean_text
from cape.telemetry.spans import llm_span, note_tokens

log = structlog.get_logger(__name__)


class _Accumulator:
    """Assembles streamed chunks and hands out coalesced text deltas."""

    def __init__(self, coalesce_seconds: float) -> None:
        self.text: list[str] = []
        self.pending: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason = "stop"
        self.usage = Usage()
        self._coalesce = coalesce_seconds
        self._last_flush = time.monotonic()

    def feed(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage is not None:
            self.usage = Usage(
                chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens
            )
        for choice in chunk.choices:
            if choice.delta.content:
                self.text.append(choice.delta.content)
                self.pending.append(choice.delta.content)
            for tc in choice.delta.tool_calls or []:
                call = self.calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def take_delta(self, force: bool = False) -> str | None:
        due = time.monotonic() - self._last_flush >= self._coalesce
        if not self.pending or not (force or due):
            return None
        delta, self.pending = clean_text("".join(self.pending)), []
        self._last_flush = time.monotonic()
        return delta

    def result(self) -> LlmResult:
        # A model may send lone surrogates ("\ud800" in its JSON): no database could store them.
        calls = [
            ToolCall(
                id=clean_text(c["id"]) or f"call_{i}",
                name=clean_text(c["name"]),
                arguments=clean_text(c["arguments"]) or "{}",
            )
            for i, c in sorted(self.calls.items())
        ]
        text = clean_text("".join(self.text)) or None
        return LlmResult(text, calls, self.finish_reason, self.usage)


class LlmActivities:
    """LLM calls, built in the worker with the database and the provider."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession],
        provider: Providers,
        coalesce_seconds: float,
        prices: PriceTable,
    ) -> None:
        self.reads = reads
        self.recorder = StepRecorder(sessions)
        self.provider = provider
        tools()  # load the tool modules now, not in the event loop at the first turn
        self.coalesce_seconds = coalesce_seconds
        self.prices = prices

    @activity.defn(name="call_llm")
    async def call_llm(self, inp: LlmInput) -> LlmResult:
        """Run one model turn, streaming coalesced token deltas into the event log."""
        ref = inp.step
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id, step_no=ref.step_no
        )
        done = await self.recorder.begin(ref, {"model": inp.model, "provider": inp.provider})
        if done is not None:
            return _from_output(read_llm(done))
        async with self.reads() as session:
            messages = await load_messages(session, ref.task_id, inp.system_prompt, ref.step_no)
        tools = openai_tools(inp.tools)
        acc = _Accumulator(self.coalesce_seconds)
        try:
            client = self.provider.client(inp.provider)
        except UnknownProvider as exc:
            # Fails at once: no retry can give the worker a provider or its key.
            kind = (
                Failure.PROVIDER_NOT_CONFIGURED
                if isinstance(exc, ProviderNotConfigured)
                else Failure.PROVIDER_UNKNOWN
            )
            error = ApplicationError(exc.message, type=kind, non_retryable=True)
            await self.recorder.fail(ref, {"type": kind, "message": exc.message}, retrying=False)
            raise error from exc
        try:
            async with heartbeating(), llm_span(inp.provider, inp.model) as traced:
                stream = await client.chat.completions.create(
                    model=inp.model,
                    messages=cast(list[ChatCompletionMessageParam], messages),
                    # The tools are sent as they are: the SDK's TypedDict transform walked every
                    # JSON schema in them at every call (about 40% of the call's client CPU
                    # with the engineer's 19 tools: docs/performance.md, sixth round) to return
                    # them unchanged, since nothing in a tool definition is aliased.
                    extra_body={"tools": tools} if tools else None,
                    temperature=inp.temperature if inp.temperature is not None else openai.omit,
                    max_tokens=inp.max_tokens or openai.omit,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async for chunk in stream:
                    acc.feed(chunk)
                    await self._flush(ref, acc)
                note_tokens(traced, acc.usage.prompt_tokens, acc.usage.completion_tokens)
        except openai.OpenAIError as exc:
            error, retryable = classify(exc)
            retrying = retryable and not _last_attempt()
            log.warning("llm call failed", error=error.message, retrying=retrying)
            failed: StepError = {"type": error.type or Failure.UNTYPED, "message": error.message}
            await self.recorder.fail(ref, failed, retrying=retrying)
            raise error from exc
        result = acc.result()
        cost = self.prices.cost(
            inp.model, result.usage.prompt_tokens, result.usage.completion_tokens
        )
        result.usage.cost_usd = cost or 0.0
        # The last delta goes out in the step's final transaction, not one of its own.
        tail = acc.take_delta(force=True)
        events = _events(result, inp, priced=cost is not None)
        if tail is not None:
            events.insert(0, (Channel.MESSAGES, EventType.TOKEN_DELTA, _delta(tail)))
        await self.recorder.finish(ref, _to_output(result), usage=result.usage, events=events)
        return result

    async def _flush(self, ref: StepRef, acc: _Accumulator, force: bool = False) -> None:
        delta = acc.take_delta(force)
        if delta is not None:
            await self.recorder.emit(ref, Channel.MESSAGES, EventType.TOKEN_DELTA, _delta(delta))


def _delta(text: str) -> dict[str, Any]:
    # The attempt lets a client drop the partial text of an attempt that was retried.
    return {"text": text, "attempt": activity.info().attempt}


def _last_attempt() -> bool:
    info = activity.info()
    limit = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return limit > 0 and info.attempt >= limit


def _events(result: LlmResult, inp: LlmInput, priced: bool) -> list[Event]:
    usage = {**result.usage.__dict__, "model": inp.model, "provider": inp.provider}
    usage["priced"] = priced
    events: list[Event] = [
        (Channel.MESSAGES, EventType.ASSISTANT_MESSAGE, {"content": result.content}),
        *(
            (
                Channel.TOOLS,
                EventType.TOOL_CALL,
                {"id": c.id, "name": c.name, "arguments": c.arguments},
            )
            for c in result.tool_calls
        ),
        (Channel.USAGE, EventType.USAGE, usage),
    ]
    return events


def _to_output(result: LlmResult) -> LlmStepOutput:
    message: ChatMessage = {"role": "assistant", "content": result.content}
    if result.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in result.tool_calls
        ]
    usage = result.usage
    return {
        "message": message,
        "finish_reason": result.finish_reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": usage.cost_usd,
        },
    }


def _from_output(output: LlmStepOutput) -> LlmResult:
    message = output["message"]
    calls = [
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls", [])
    ]
    return LlmResult(
        message.get("content"), calls, output["finish_reason"], Usage(**output["usage"])
    )
