"""Client CPU of one streamed chat-completions call through the `openai` SDK, tools two ways.

Run: python bench/llm_call.py [--calls 150] [--pairs 3] [--agent engineer]

The project's scripted OpenAI-compatible server runs on its own thread in this process; the
calls run on the main thread, whose CPU (`time.thread_time`) is the client's alone: request
building, HTTP, and parsing the streamed chunks into the SDK's models. Each call sends a
system and a user message and the agent's tools, and reads a 7-chunk answer to the end.
`typed` passes the tools as the SDK's typed `tools=` argument, which its TypedDict transform
walks (every JSON schema in them) at every call; `as sent` passes them in `extra_body`, as the
LLM step does (`activities/llm.py`). The two alternate `--pairs` times; prints each figure and
the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/llm_call.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
import yaml  # noqa: E402

from activities.tools.registry import openai_tools  # noqa: E402
from bench.pairs import alternate, medians  # noqa: E402
from cli.testing.fake_llm import FakeLLMServer, Script, ScriptedToolCall, Turn  # noqa: E402

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are an engineer who runs commands carefully. " * 10},
    {"role": "user", "content": "Run `echo ok` and tell me what it printed."},
]


async def call(client: openai.AsyncOpenAI, tools: list[dict[str, Any]], typed: bool) -> int:
    """One streamed call read to its end; the number of chunks."""
    if typed:
        stream = await client.chat.completions.create(
            model="script:bench-llm",
            messages=MESSAGES,
            tools=cast(Any, tools),
            stream=True,
        )
    else:
        stream = await client.chat.completions.create(
            model="script:bench-llm", messages=MESSAGES, extra_body={"tools": tools}, stream=True
        )
    return len([chunk async for chunk in stream])


async def measure(
    client: openai.AsyncOpenAI, tools: list[dict[str, Any]], typed: bool, n: int
) -> float:
    """Main-thread CPU milliseconds per call over `n` calls."""
    started = time.thread_time()
    for _ in range(n):
        await call(client, tools, typed)
    return (time.thread_time() - started) * 1000 / n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150, help="calls per figure")
    parser.add_argument("--pairs", type=int, default=3, help="typed/as-sent alternations")
    parser.add_argument("--agent", default="engineer", help="a built-in agent: its tools")
    args = parser.parse_args()
    spec = ROOT / "cape" / "registry" / "builtin" / f"{args.agent}.yaml"
    tools = openai_tools(yaml.safe_load(spec.read_text())["tools"])
    turn = Turn(tool_calls=[ScriptedToolCall(name="shell", arguments={"command": "echo ok"})])
    total = args.calls * (2 * args.pairs + 1) + 10
    script = Script(name="bench-llm", turns=[turn] * total)
    with FakeLLMServer(scripts=[script]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="bench")
        await measure(client, tools, True, 10)  # connections, imports, first-use caches
        runs = {
            name: functools.partial(measure, client, tools, name == "typed", args.calls)
            for name in ("typed", "as sent")
        }
        figures = await alternate(runs, args.pairs, "ms client CPU per call", digits=2)
        await client.close()
    sys.stdout.write(
        f"{len(tools)} tools ({args.agent}), {args.calls} calls, median of {args.pairs}: "
        f"{medians(figures, digits=2)}\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
