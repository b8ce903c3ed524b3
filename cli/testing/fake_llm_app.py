"""The fake LLM's ASGI app: OpenAI Chat Completions answered from scripts.

``POST /v1/chat/completions`` answers from a script picked by the model (``script:<name>``),
streamed or not; any other model gets the deterministic demo agent (:mod:`cli.testing.demo`).
``GET /v1/models`` lists the scripts. ``/_scripts/{name}`` lets tests register scripts and read
call counts over HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cli.testing.demo import demo_turn
from cli.testing.fake_llm_wire import completion_body, error_body, stream_chunks
from cli.testing.scripts import (
    DEMO_MODEL,
    SCRIPT_PREFIX,
    Fault,
    Script,
    ScriptRegistry,
    Turn,
    turn_index,
)


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code), status_code=status)


def _fault(fault: Fault) -> JSONResponse:
    response = _error(
        fault.status, fault.message, "rate_limit_exceeded" if fault.status == 429 else None
    )
    seconds = fault.retry_after
    if seconds is not None:
        response.headers["retry-after"] = (
            str(int(seconds)) if seconds.is_integer() else str(seconds)
        )
    return response


def _chunk_json(chunk: dict[str, Any]) -> str:
    r"""The chunk as JSON; a script's lone surrogate goes out as its `\udXXX` escape."""
    text = json.dumps(chunk, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(chunk)  # what a real server sends: the surrogate escaped
    return text


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def create_app(registry: ScriptRegistry, *, chunk_size: int = 8) -> Starlette:
    """The fake LLM as an ASGI app serving the scripts of ``registry``.

    Args:
        registry: Where scripts are looked up and calls counted.
        chunk_size: Characters per streamed text or arguments delta.

    Returns:
        The Starlette application.
    """

    async def chat_completions(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "the body must be a JSON object with a `messages` list")
        model = str(body.get("model") or DEMO_MODEL)
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        index = turn_index(messages)
        if model.startswith(SCRIPT_PREFIX):
            name = model.removeprefix(SCRIPT_PREFIX)
            script = registry.get(name)
            if script is None:
                return _error(404, f"The model `{model}` does not exist", "model_not_found")
            previous = registry.record_call(name, index)
            registry.note_headers(name, request.headers)
            if index >= len(script.turns):
                return _error(400, f"script {name} has no turn {index}")
            turn = script.turns[index]
            if previous < len(turn.faults):
                return _fault(turn.faults[previous])
        else:
            registry.record_call(model, index)
            tools = body.get("tools")
            offered = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
            turn = demo_turn(messages, offered, body.get("response_format"))
        if not body.get("stream"):
            if turn.delay_seconds > 0:
                await asyncio.sleep(turn.delay_seconds)
            return JSONResponse(completion_body(model, turn, index, messages))
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events = _events(model, turn, index, messages, chunk_size, include_usage)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def models(request: Request) -> Response:
        ids = [f"{SCRIPT_PREFIX}{name}" for name in registry.names()] + [DEMO_MODEL]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "cape"} for i in ids]
        return JSONResponse({"object": "list", "data": data})

    async def put_script(request: Request) -> Response:
        name = request.path_params["name"]
        body = await _json(request)
        if isinstance(body, dict):
            body.setdefault("name", name)
        try:
            script = Script.model_validate(body)
        except ValidationError as exc:
            return _error(422, str(exc))
        if script.name != name:
            return _error(400, f"script name {script.name!r} does not match the path {name!r}")
        registry.add(script)
        return JSONResponse({"name": name, "turns": len(script.turns)})

    async def script_calls(request: Request) -> Response:
        by_turn = registry.calls(request.path_params["name"])
        return JSONResponse(
            {"total": sum(by_turn.values()), "by_turn": {str(k): v for k, v in by_turn.items()}}
        )

    async def delete_script(request: Request) -> Response:
        name = request.path_params["name"]
        if not registry.remove(name):
            return _error(404, f"no script named {name}")
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/_scripts/{name}", put_script, methods=["PUT"]),
            Route("/_scripts/{name}", delete_script, methods=["DELETE"]),
            Route("/_scripts/{name}/calls", script_calls, methods=["GET"]),
        ]
    )


async def _events(
    model: str,
    turn: Turn,
    index: int,
    messages: list[dict[str, Any]],
    chunk_size: int,
    include_usage: bool,
) -> AsyncIterator[str]:
    if turn.delay_seconds > 0:
        await asyncio.sleep(turn.delay_seconds)
    chunks = stream_chunks(
        model, turn, index, messages, chunk_size=chunk_size, include_usage=include_usage
    )
    for chunk in chunks:
        yield f"data: {_chunk_json(chunk)}\n\n"
    yield "data: [DONE]\n\n"
