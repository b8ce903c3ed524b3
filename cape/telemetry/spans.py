"""The spans CapeControl adds to Temporal's: a model call and a sandboxed run (and its metrics).

Attributes follow the OpenTelemetry GenAI conventions (`gen_ai.*`) where they exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from cape.sandbox.types import SandboxResult
from cape.telemetry.metrics import SANDBOX_KILLS, SANDBOX_RUNS
from cape.telemetry.tracing import span

if TYPE_CHECKING:
    from opentelemetry.trace import Span


@asynccontextmanager
async def llm_span(provider: str, model: str) -> AsyncIterator[Span | None]:
    """`chat <model>`, around one streamed completion (its HTTP call is a child span)."""
    with span(
        f"chat {model}",
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
        },
    ) as current:
        yield current


def note_tokens(current: Span | None, prompt: int, completion: int) -> None:
    """Put a finished call's token counts on its span."""
    if current is not None:
        current.set_attribute("gen_ai.usage.input_tokens", prompt)
        current.set_attribute("gen_ai.usage.output_tokens", completion)


def note_run(current: Span | None, exit_code: int | None, killed: str | None) -> None:
    """Put how a sandboxed run ended on its span."""
    if current is not None:
        current.set_attribute("cape.sandbox.exit_code", -1 if exit_code is None else exit_code)
        if killed:
            current.set_attribute("cape.sandbox.killed", killed)


async def observed_run(program: str, level: str, run: Awaitable[SandboxResult]) -> SandboxResult:
    """Await a sandboxed run as a `sandbox.run` span, counting it and its kill reason."""
    attributes = {"cape.sandbox.program": program, "cape.sandbox.level": level}
    with span("sandbox.run", **attributes) as current:
        result = await run
        note_run(current, result.exit_code, result.killed_reason)
    SANDBOX_RUNS.labels(level).inc()
    if result.killed_reason:
        SANDBOX_KILLS.labels(result.killed_reason).inc()
    return result
