"""Server-Sent Events for the CLI: parsing a stream, and a task's stream that reconnects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from cli.api_client import (
    CONNECT_TIMEOUT,
    REQUEST_TIMEOUT,
    ApiClient,
    ApiError,
    CliError,
    unreachable,
)

# The API pings idle streams every 15 s by default; a silent connection this long is dead.
STREAM_READ_TIMEOUT = 90.0
MAX_RECONNECTS = 5


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
                    raise unreachable(self.api.url) from None
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
