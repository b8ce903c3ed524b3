"""The live view of a task: its events rendered as they arrive, or printed as JSONL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from cli.api_client import ApiClient
from cli.formatting import error_text, one_line, total_tokens
from cli.sse import MAX_RECONNECTS, EventStream
from cli.terminal import echo, json_text
from cli.tree_view import child_line, message_line, tree_lines

TOOL_ARGS_CHARS = 120
TOOL_RESULT_CHARS = 200


NOTICES: dict[str, Callable[[dict[str, Any]], str]] = {
    "task-paused": lambda d: f"paused{': ' + d['note'] if d.get('note') else ''}",
    "task-resumed": lambda d: "resumed",
    "task-retried": lambda d: f"retried from {d.get('from_step')}",
    "workspace-restored": lambda d: f"workspace restored from {d.get('snapshot')}",
    "artifact-created": lambda d: f"artifact {d.get('name')} ({d.get('media_type')})",
    "citation": lambda d: f"source: {d.get('title') or ''} {d.get('url')}".strip(),
    "lock-waiting": lambda d: str(d.get("reason") or f"waiting for lock {d.get('resource')}"),
    "lock-acquired": lambda d: f"lock {d.get('resource')} acquired (fence {d.get('fence')})",
}


@dataclass
class Renderer:
    """Turns event envelopes into a readable, live view on stdout."""

    open_line: tuple[str, int] | None = None  # ("label" | "text", step) when not at column 0
    labels: dict[int, str] = field(default_factory=dict)
    streamed: set[int] = field(default_factory=set)
    tokens: dict[int, int] = field(default_factory=dict)
    final_status: str | None = None

    def break_line(self) -> None:
        """End a line left open by a step start or streamed text."""
        if self.open_line is not None:
            echo()
            self.open_line = None

    def line(self, text: str) -> None:
        """Write a whole line."""
        self.break_line()
        echo(text)

    def note(self, text: str) -> None:
        """Write a side note (reconnects) to stderr."""
        self.break_line()
        echo(text, err=True)

    def _label(self, step: int | None, data: dict[str, Any]) -> str:
        if step is None:
            return str(data.get("name") or "step")
        name = data.get("name") or self.labels.get(step, "step")
        self.labels.setdefault(step, str(name))
        return f"[{step}] {name}"

    def _step_end(self, step: int | None, data: dict[str, Any], outcome: str) -> None:
        if step is not None and self.open_line == ("label", step):
            echo(f" {outcome}")
            self.open_line = None
        else:
            self.line(f"{self._label(step, data)} ... {outcome}")

    def handle(self, envelope: dict[str, Any]) -> None:
        """Render one event envelope."""
        kind = str(envelope.get("type", ""))
        data = envelope.get("data") or {}
        raw_step = envelope.get("step_id")
        step = (
            int(raw_step) if isinstance(raw_step, str | int) and str(raw_step).isdigit() else None
        )
        if kind == "step-started":
            self.break_line()
            attempt = int(data.get("attempt") or 1)
            retry = f" (attempt {attempt})" if attempt > 1 else ""
            echo(f"{self._label(step, data)} ...{retry}", nl=False)
            self.open_line = ("label", step) if step is not None else None
            if step is None:
                echo()
        elif kind == "token-delta":
            text = str(data.get("text", ""))
            if step is None or self.open_line != ("text", step):
                self.break_line()
            if step is not None:
                self.streamed.add(step)
                self.open_line = ("text", step)
            echo(text, nl=False)
            if step is None or text.endswith("\n"):
                self.open_line = None
        elif kind == "assistant-message":
            content = data.get("content")
            if content and step not in self.streamed:
                self.line(str(content))
        elif kind == "tool-call":
            args = one_line(str(data.get("arguments") or ""), TOOL_ARGS_CHARS)
            self.line(f"    -> {data.get('name')} {args}".rstrip())
        elif kind == "tool-result":
            status = "ok" if data.get("ok") else "error"
            # A failed call's content already reads "error: ..." (what the model sees).
            text = str(data.get("content") or "").removeprefix(f"{status}: ")
            content = one_line(text, TOOL_RESULT_CHARS)
            self.line(f"    <- {status}: {content}".rstrip())
        elif kind == "tool-output-delta":
            for text in str(data.get("text", "")).splitlines():
                self.line(f"    | {one_line(text, TOOL_RESULT_CHARS)}")
        elif kind in NOTICES:
            self.line(f"  [{NOTICES[kind](data)}]")
        elif kind == "message":
            self.line(message_line(data))
        elif kind.startswith("child-"):
            self.line(child_line(kind, data))
        elif kind == "usage":
            if step is not None:
                self.tokens[step] = self.tokens.get(step, 0) + total_tokens(data)
        elif kind == "step-finished":
            status = str(data.get("status") or "succeeded")
            outcome = "done" if status == "succeeded" else status
            if step is not None and self.tokens.get(step):
                outcome += f" ({self.tokens[step]} tokens)"
            self._step_end(step, data, outcome)
        elif kind == "step-retrying":
            error = error_text(data.get("error"))
            self._step_end(step, data, f"attempt {data.get('attempt')} failed ({error}); retrying")
        elif kind == "step-failed":
            self._step_end(step, data, f"failed: {error_text(data.get('error'))}")
        elif kind in ("task-succeeded", "task-failed", "task-canceled", "task-timed-out"):
            self.final(
                str(data.get("status") or kind.removeprefix("task-")),
                data.get("output"),
                data.get("error"),
            )

    def final(self, status: str, output: Any, error: Any) -> None:
        """Print the final status and the answer (or the error)."""
        self.final_status = status
        self.break_line()
        summary = []
        if self.labels:
            summary.append(f"{max(self.labels)} steps")
        if total := sum(self.tokens.values()):
            summary.append(f"{total} tokens")
        echo()
        echo(f"{status}" + (f" ({', '.join(summary)})" if summary else ""))
        answer = output.get("answer") if isinstance(output, dict) else None
        if answer:
            echo(str(answer))
        elif output:
            echo(json_text(output))
        if error:
            echo(f"error: {error_text(error)}")

    def gap(self, data: dict[str, Any]) -> None:
        """Say that some events are no longer kept."""
        self.note(f"(events {data.get('first')}-{data.get('last')} are no longer kept)")


def _show_tree(api: ApiClient, task: dict[str, Any], renderer: Renderer) -> None:
    # A task of a delegation tree ends with the whole tree: who else ran, how it went.
    if not task.get("children") and task.get("relation") != "delegated":
        return
    tree = api.request("GET", f"/v1/tasks/{task['id']}/tree")
    renderer.line("")
    renderer.line("delegation tree:")
    for line in tree_lines(tree, mark=str(task["id"])):
        renderer.line(f"  {line}")


def follow_task(api: ApiClient, task_id: str, since: int = 0, as_json: bool = False) -> str:
    """Stream a task's events until `end`, rendered live or as JSONL.

    Args:
        api: The API client.
        task_id: The task to follow.
        since: Start after this event sequence number.
        as_json: Print raw event envelopes one per line instead of the live view.

    Returns:
        The task's final status.
    """
    renderer = Renderer()

    def reconnecting(attempt: int, seq: int, why: str) -> None:
        renderer.note(
            f"(connection lost: {why}; reconnecting from event {seq}, "
            f"attempt {attempt}/{MAX_RECONNECTS})"
        )

    stream = EventStream(api, task_id, last_seq=since, on_reconnect=reconnecting)
    try:
        for message in stream.messages():
            if message.comment is not None or not message.data:
                continue
            try:
                payload = json.loads(message.data)
            except ValueError:
                renderer.note(f"(skipped an event that is not JSON: {message.data[:80]!r})")
                continue
            if as_json:
                echo(json_text(payload, compact=True))
            if message.event == "end":
                status = str((payload.get("data") or {}).get("status") or "unknown")
                if not as_json:
                    task = api.request("GET", f"/v1/tasks/{task_id}")
                    if renderer.final_status is None:
                        renderer.final(status, task.get("output"), task.get("error"))
                    _show_tree(api, task, renderer)
                renderer.break_line()
                return status
            if as_json:
                continue
            if message.event == "gap":
                renderer.gap(payload.get("data") or {})
            else:
                renderer.handle(payload)
    except KeyboardInterrupt:
        renderer.note(
            f"stopped following; the task keeps running. Resume with "
            f"`cape tasks follow {task_id} --since {stream.last_seq}`"
        )
        raise click.exceptions.Exit(130) from None
    renderer.break_line()
    return "unknown"  # pragma: no cover - messages() returns only after `end` or raises
