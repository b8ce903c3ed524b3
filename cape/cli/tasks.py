"""`cape run` and `cape tasks ...`: start, list, inspect, follow, cancel and wait for tasks.

These commands talk to the HTTP API only (never to the database or Temporal), so they work the
same against `cape dev` and a deployed API.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
# The API pings idle streams every 15 s by default; a silent connection this long is dead.
STREAM_READ_TIMEOUT = 90.0
MAX_RECONNECTS = 5
MAX_WAIT_PER_REQUEST = 300.0  # the API's upper bound for `/wait?timeout=`
TOOL_ARGS_CHARS = 120
TOOL_RESULT_CHARS = 200
PROMPT_CHARS = 40
TERMINAL = frozenset({"succeeded", "failed", "canceled", "timed_out", "rejected"})


# --- errors ---------------------------------------------------------------------------------


class CliError(click.ClickException):
    """An expected failure, shown as `error: <message>` without a traceback (exit code 1)."""

    def show(self, file: Any = None) -> None:
        """Print `error: <message>` to stderr (click calls this)."""
        click.echo(f"error: {self.format_message()}", err=True)


class ApiError(CliError):
    """An error response of the API: `{"error": {"code", "message", "details"}}`."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.details = details

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Build the error from a 4xx/5xx response, JSON error body or not."""
        try:
            body = response.json()
            error = body["error"]
            return cls(
                response.status_code,
                str(error.get("code") or f"http_{response.status_code}"),
                str(error.get("message") or response.reason_phrase),
                error.get("details"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            text = " ".join(response.text.split())[:200] or response.reason_phrase
            return cls(response.status_code, f"http_{response.status_code}", text)

    def show(self, file: Any = None) -> None:
        """Print the error, its field details and, for 401, where keys come from."""
        super().show(file)
        for line in _detail_lines(self.details):
            click.echo(f"  {line}", err=True)
        if self.status == 401:
            click.echo(
                f"  hint: pass --api-key, set CAPE_API_KEY, or run `cape dev` "
                f"(it writes {_dev_key_path()})",
                err=True,
            )


def _detail_lines(details: Any) -> list[str]:
    if details is None or details == "" or details == [] or details == {}:
        return []
    if isinstance(details, list):
        lines = []
        for item in details:
            if isinstance(item, dict) and "message" in item:
                where = item.get("field") or item.get("loc") or ""
                lines.append(f"{where}: {item['message']}" if where else str(item["message"]))
            else:
                lines.append(str(item))
        return lines
    if isinstance(details, dict):
        return [f"{key}: {value}" for key, value in details.items()]
    return [str(details)]


def _unreachable(url: str) -> CliError:
    return CliError(f"cannot reach the CapeControl API at {url} — is `cape dev` running?")


# --- the API client -------------------------------------------------------------------------


def _dev_key_path() -> Path:
    return Path(os.environ.get("CAPE_DATA_DIR") or ".cape") / "dev-api-key"


def resolve_api_key(explicit: str | None) -> str | None:
    """The API key to send: `--api-key`/CAPE_API_KEY, else the key `cape dev` wrote.

    Args:
        explicit: The value of `--api-key` (click already read CAPE_API_KEY into it).

    Returns:
        The key, or None when there is none (the API then answers `unauthorized`).
    """
    if explicit:
        return explicit.strip()
    try:
        return _dev_key_path().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class ApiClient:
    """A small synchronous client of the CapeControl HTTP API."""

    def __init__(self, url: str, key: str | None) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise CliError(f"invalid API URL {url!r}: it must start with http:// or https://")
        headers = {"Accept": "application/json", "User-Agent": "cape-cli"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            self.http = httpx.Client(
                base_url=self.url,
                headers=headers,
                timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        except httpx.InvalidURL as exc:
            raise CliError(f"invalid API URL {url!r}: {exc}") from None

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a request and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: Path under the API URL, e.g. `/v1/tasks`.
            params: Query parameters; None values are left out.
            body: JSON body, if any.
            headers: Extra headers.
            timeout: Read timeout in seconds (default 30).

        Returns:
            The response's JSON.

        Raises:
            ApiError: The API answered with an error.
            CliError: The API could not be reached or did not answer.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        read = httpx.Timeout(timeout or REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
        try:
            response = self.http.request(
                method, path, params=query, json=body, headers=headers, timeout=read
            )
        except httpx.ConnectError:
            raise _unreachable(self.url) from None
        except httpx.TimeoutException:
            raise CliError(f"the CapeControl API at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise CliError(f"request to {self.url} failed: {exc}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.url}{path} did not answer with JSON") from None


def api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add `--api-url` and `--api-key` and pass an `ApiClient` as the first argument."""

    @click.option(
        "--api-url",
        envvar="CAPE_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="Base URL of the API ($CAPE_API_URL).",
    )
    @click.option(
        "--api-key",
        envvar="CAPE_API_KEY",
        default=None,
        help="API key (default: $CAPE_API_KEY, else the key `cape dev` wrote in the data dir).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, api_url: str, api_key: str | None, **kwargs: Any) -> None:
        api = ApiClient(api_url, resolve_api_key(api_key))
        try:
            func(api, *args, **kwargs)
        finally:
            api.close()

    return wrapper


# --- formatting -----------------------------------------------------------------------------


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _when(value: Any) -> str:
    stamp = _parse_time(value)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def _duration(start: Any, end: Any) -> str:
    first, last = _parse_time(start), _parse_time(end)
    if first is None or last is None:
        return "-"
    seconds = (last - first).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _tokens(usage: Any) -> int:
    if isinstance(usage, dict):
        return int(usage.get("total_tokens") or 0)
    return 0


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        if kind and message:
            return f"{kind}: {message}"
        return str(message or kind or error)
    return str(error)


def _table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = [headers, *rows]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body
    ]


def _prompt(task: dict[str, Any]) -> str:
    data = task.get("input") or {}
    text = data.get("title") or data.get("prompt") or ""
    return _one_line(str(text), PROMPT_CHARS)


def _exit_code(status: str | None) -> int:
    return 0 if status == "succeeded" else 1


# --- SSE ------------------------------------------------------------------------------------


@dataclass
class SseMessage:
    """One Server-Sent Events message (or a `:` comment, with `comment` set)."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comment: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Split an SSE body into messages; comments come out as their own messages.

    Args:
        lines: The body's lines, without line endings.

    Yields:
        Each message when its blank line arrives (a message cut short is never yielded).
    """
    event, msg_id, retry = "", None, None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or event:
                yield SseMessage(event or "message", "\n".join(data), msg_id, retry)
            elif retry is not None:
                yield SseMessage(event="", retry=retry)
            event, data, msg_id, retry = "", [], None, None
            continue
        if line.startswith(":"):
            yield SseMessage(event="", comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            msg_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)


@dataclass
class EventStream:
    """A task's event stream that reconnects with `Last-Event-ID` when the connection drops."""

    api: ApiClient
    task_id: str
    last_seq: int = 0
    max_reconnects: int = MAX_RECONNECTS
    retry_seconds: float = 1.0
    on_reconnect: Callable[[int, int, str], None] = field(default=lambda attempt, seq, why: None)

    def messages(self) -> Iterator[SseMessage]:
        """Every message up to and including `end`, across reconnections.

        Yields:
            Data messages, `gap`/`end` control messages and ping comments.

        Raises:
            ApiError: The API refused the stream (unknown task, bad key...).
            CliError: The API is unreachable, or the stream kept dropping.
        """
        failures = 0
        connected = False
        path = f"/v1/tasks/{self.task_id}/events"
        timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT, read=STREAM_READ_TIMEOUT)
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_seq > 0:
                headers["Last-Event-ID"] = str(self.last_seq)
            try:
                with self.api.http.stream("GET", path, headers=headers, timeout=timeout) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        error = ApiError.from_response(resp)
                        if not (connected and resp.status_code >= 500):
                            raise error
                        why = str(error.message)
                    else:
                        connected = True
                        for message in parse_sse(resp.iter_lines()):
                            if message.retry is not None:
                                self.retry_seconds = message.retry / 1000
                            if message.id is not None and message.id.isdigit():
                                self.last_seq = int(message.id)
                            if message.id is not None or message.comment is not None:
                                failures = 0  # the connection works: start counting afresh
                            if message.event or message.comment is not None:
                                yield message
                            if message.event == "end":
                                return
                        why = "the server closed the stream"
            except httpx.ConnectError:
                if not connected:
                    raise _unreachable(self.api.url) from None
                why = "cannot connect"
            except httpx.TransportError as exc:
                why = str(exc) or type(exc).__name__
            failures += 1
            if failures > self.max_reconnects:
                raise CliError(
                    f"lost the event stream of task {self.task_id} ({why}); resume with "
                    f"`cape tasks follow {self.task_id} --since {self.last_seq}`"
                )
            self.on_reconnect(failures, self.last_seq, why)
            time.sleep(min(self.retry_seconds * 2 ** (failures - 1), 10.0))


# --- the live view --------------------------------------------------------------------------


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
            click.echo()
            self.open_line = None

    def line(self, text: str) -> None:
        """Write a whole line."""
        self.break_line()
        click.echo(text)

    def note(self, text: str) -> None:
        """Write a side note (reconnects) to stderr."""
        self.break_line()
        click.echo(text, err=True)

    def _label(self, step: int | None, data: dict[str, Any]) -> str:
        if step is None:
            return str(data.get("name") or "step")
        name = data.get("name") or self.labels.get(step, "step")
        self.labels.setdefault(step, str(name))
        return f"[{step}] {name}"

    def _step_end(self, step: int | None, data: dict[str, Any], outcome: str) -> None:
        if step is not None and self.open_line == ("label", step):
            click.echo(f" {outcome}")
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
            click.echo(f"{self._label(step, data)} ...{retry}", nl=False)
            self.open_line = ("label", step) if step is not None else None
            if step is None:
                click.echo()
        elif kind == "token-delta":
            text = str(data.get("text", ""))
            if step is None or self.open_line != ("text", step):
                self.break_line()
            if step is not None:
                self.streamed.add(step)
                self.open_line = ("text", step)
            click.echo(text, nl=False)
            if step is None or text.endswith("\n"):
                self.open_line = None
        elif kind == "assistant-message":
            content = data.get("content")
            if content and step not in self.streamed:
                self.line(str(content))
        elif kind == "tool-call":
            args = _one_line(str(data.get("arguments") or ""), TOOL_ARGS_CHARS)
            self.line(f"    -> {data.get('name')} {args}".rstrip())
        elif kind == "tool-result":
            status = "ok" if data.get("ok") else "error"
            content = _one_line(str(data.get("content") or ""), TOOL_RESULT_CHARS)
            self.line(f"    <- {status}: {content}".rstrip())
        elif kind == "usage":
            if step is not None:
                self.tokens[step] = self.tokens.get(step, 0) + _tokens(data)
        elif kind == "step-finished":
            status = str(data.get("status") or "succeeded")
            outcome = "done" if status == "succeeded" else status
            if step is not None and self.tokens.get(step):
                outcome += f" ({self.tokens[step]} tokens)"
            self._step_end(step, data, outcome)
        elif kind == "step-retrying":
            error = _error_text(data.get("error"))
            self._step_end(step, data, f"attempt {data.get('attempt')} failed ({error}); retrying")
        elif kind == "step-failed":
            self._step_end(step, data, f"failed: {_error_text(data.get('error'))}")
        elif kind in ("task-succeeded", "task-failed", "task-canceled"):
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
        click.echo()
        click.echo(f"{status}" + (f" ({', '.join(summary)})" if summary else ""))
        answer = output.get("answer") if isinstance(output, dict) else None
        if answer:
            click.echo(str(answer))
        elif output:
            click.echo(json.dumps(output, indent=2, ensure_ascii=False))
        if error:
            click.echo(f"error: {_error_text(error)}")

    def gap(self, data: dict[str, Any]) -> None:
        """Say that some events are no longer kept."""
        self.note(f"(events {data.get('first')}-{data.get('last')} are no longer kept)")


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
                click.echo(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
            if message.event == "end":
                status = str((payload.get("data") or {}).get("status") or "unknown")
                if not as_json and renderer.final_status is None:
                    task = api.request("GET", f"/v1/tasks/{task_id}")
                    renderer.final(status, task.get("output"), task.get("error"))
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


def _exit(code: int) -> NoReturn:
    raise click.exceptions.Exit(code)


# --- commands -------------------------------------------------------------------------------


@click.command()
@click.argument("prompt")
@click.option("--agent", default="assistant", show_default=True, help="Agent to run.")
@click.option("--title", default=None, help="Short title of the task.")
@click.option("--model", default=None, help="Model (default: the server's default model).")
@click.option("--max-steps", type=click.IntRange(1, 200), default=None, help="Max LLM turns.")
@click.option("--idempotency-key", default=None, help="Repeat-safe key: same key, same task.")
@click.option("--follow/--no-follow", default=True, help="Stream progress until the task ends.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON / JSONL).")
@api_command
def run(
    api: ApiClient,
    prompt: str,
    agent: str,
    title: str | None,
    model: str | None,
    max_steps: int | None,
    idempotency_key: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Start a task from PROMPT, print its id, then follow it to the end.

    Exits 0 when the task succeeded and 1 when it failed or was canceled. With --no-follow it
    prints only the id (or the task as JSON with --json); with --json and following, the output
    is the task's events as JSONL.
    """
    task_input: dict[str, Any] = {"prompt": prompt}
    if title:
        task_input["title"] = title
    body: dict[str, Any] = {"agent": agent, "input": task_input}
    if model:
        body["model"] = model
    if max_steps is not None:
        body["max_steps"] = max_steps
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    task = api.request("POST", "/v1/tasks", body=body, headers=headers)
    task_id = str(task["id"])
    if not follow:
        if as_json:
            _echo_json(task)
        else:
            click.echo(task_id)
        return
    if not as_json:
        click.echo(f"task {task_id} ({task.get('agent')}, model {task.get('model')})")
    _exit(_exit_code(follow_task(api, task_id, as_json=as_json)))


@click.group()
def tasks() -> None:
    """List, inspect, follow, cancel and wait for tasks."""


@tasks.command("ls")
@click.option("--status", default=None, help="Only tasks in this status (e.g. running).")
@click.option("--agent", default=None, help="Only tasks of this agent.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--all", "fetch_all", is_flag=True, help="Follow pages to list every task.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@api_command
def ls(
    api: ApiClient,
    status: str | None,
    agent: str | None,
    limit: int,
    fetch_all: bool,
    as_json: bool,
) -> None:
    """List your tasks, newest first (--limit per page; --all for every page)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"status": status, "agent": agent, "limit": limit, "cursor": cursor}
        page = api.request("GET", "/v1/tasks", params=params)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not fetch_all or not cursor:
            break
    if as_json:
        _echo_json({"items": items, "next_cursor": cursor})
        return
    if not items:
        click.echo("no tasks")
        return
    rows = [
        [
            str(t["id"]),
            str(t["status"]),
            str(t["agent"]),
            str(t.get("model") or "-"),
            _when(t.get("created_at")),
            str(_tokens(t.get("usage")) or "-"),
            _prompt(t),
        ]
        for t in items
    ]
    headers = ["ID", "STATUS", "AGENT", "MODEL", "CREATED", "TOKENS", "PROMPT"]
    for line in _table(headers, rows):
        click.echo(line)
    if cursor:
        click.echo("(more tasks: use --all, or --limit up to 100)", err=True)


def _show_task(task: dict[str, Any]) -> None:
    usage = task.get("usage") or {}
    fields = [
        ("id", task["id"]),
        ("status", task["status"]),
        ("agent", f"{task['agent']} (version {task.get('agent_version', '-')})"),
        ("model", f"{task.get('model')}, max {task.get('max_steps')} steps"),
        ("created", _when(task.get("created_at"))),
        ("started", _when(task.get("started_at"))),
        (
            "finished",
            f"{_when(task.get('finished_at'))} "
            f"(took {_duration(task.get('started_at'), task.get('finished_at'))})"
            if task.get("finished_at")
            else "-",
        ),
        (
            "tokens",
            f"{usage.get('total_tokens', 0)} (prompt {usage.get('prompt_tokens', 0)}, "
            f"completion {usage.get('completion_tokens', 0)})",
        ),
        ("prompt", _one_line(str((task.get("input") or {}).get("prompt", "")), 200)),
    ]
    if live := task.get("live"):
        current = live.get("current_step") or "-"
        fields.append(
            ("now", f"{current} (step {live.get('steps')}, {live.get('llm_turns')} turns)")
        )
    for name, value in fields:
        click.echo(f"{name + ':':<10}{value}")
    output = task.get("output")
    if isinstance(output, dict) and output.get("answer"):
        click.echo("answer:")
        for line in str(output["answer"]).splitlines():
            click.echo(f"  {line}")
    elif output:
        click.echo(f"output:   {json.dumps(output, ensure_ascii=False)}")
    if task.get("error"):
        click.echo(f"error:    {_error_text(task['error'])}")


def _show_steps(steps: list[dict[str, Any]]) -> None:
    if not steps:
        click.echo("steps: none yet")
        return
    click.echo("steps:")
    rows = [
        [
            str(s["step_no"]),
            str(s["name"]),
            str(s["kind"]),
            str(s["status"]),
            str(s.get("attempt", "-")),
            _duration(s.get("started_at"), s.get("finished_at")),
            str(_tokens(s.get("usage")) or "-"),
        ]
        for s in steps
    ]
    headers = ["#", "NAME", "KIND", "STATUS", "ATTEMPT", "TIME", "TOKENS"]
    lines = _table(headers, rows)
    click.echo(f"  {lines[0]}")
    for step, line in zip(steps, lines[1:], strict=True):
        click.echo(f"  {line}")
        if step.get("error"):
            click.echo(f"      error: {_one_line(_error_text(step['error']), 200)}")


@tasks.command()
@click.argument("task_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print {task, steps} as JSON.")
@api_command
def show(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Show a task and its steps."""
    task = api.request("GET", f"/v1/tasks/{task_id}")
    steps = api.request("GET", f"/v1/tasks/{task_id}/steps")
    if as_json:
        _echo_json({"task": task, "steps": steps})
        return
    _show_task(task)
    _show_steps(steps)


@tasks.command("follow")
@click.argument("task_id", metavar="ID")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Start after this event.")
@click.option("--json", "as_json", is_flag=True, help="Print raw event envelopes as JSONL.")
@api_command
def follow_command(api: ApiClient, task_id: str, since: int, as_json: bool) -> None:
    """Stream a task's progress live until it ends (exit 0 if it succeeded, else 1).

    Reconnects with Last-Event-ID when the connection drops.
    """
    _exit(_exit_code(follow_task(api, task_id, since=since, as_json=as_json)))


@tasks.command()
@click.argument("task_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@api_command
def cancel(api: ApiClient, task_id: str, as_json: bool) -> None:
    """Ask a task to stop; it ends as `canceled` once its current step is interrupted."""
    task = api.request("POST", f"/v1/tasks/{task_id}/cancel")
    if as_json:
        _echo_json(task)
    else:
        click.echo(f"cancel requested for {task_id} (status: {task['status']})")


@tasks.command()
@click.argument("task_id", metavar="ID")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@api_command
def wait(api: ApiClient, task_id: str, timeout: float, as_json: bool) -> None:
    """Wait for a task to end and print its status and answer.

    Exits 0 if it succeeded, 1 if it ended otherwise, 2 if it was still running at --timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = max(deadline - time.monotonic(), 0.1)
        chunk = min(remaining, MAX_WAIT_PER_REQUEST)
        task = api.request(
            "GET",
            f"/v1/tasks/{task_id}/wait",
            params={"timeout": round(chunk, 3)},
            timeout=chunk + REQUEST_TIMEOUT,
        )
        if task["status"] in TERMINAL or time.monotonic() >= deadline:
            break
    if as_json:
        _echo_json(task)
    else:
        click.echo(f"{task_id}: {task['status']}")
        output = task.get("output")
        if isinstance(output, dict) and output.get("answer"):
            click.echo(str(output["answer"]))
        if task.get("error"):
            click.echo(f"error: {_error_text(task['error'])}")
    if task["status"] not in TERMINAL:
        _exit(2)
    _exit(_exit_code(str(task["status"])))


COMMANDS = [tasks, run]
