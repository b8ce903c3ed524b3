"""A run's output: streamed to a callback (coalesced), logged in full (capped), head+tail kept.

The model sees at most `output_chars` bytes: the first half and the last half of everything
printed, with a "[... N bytes cut ...]" marker between. The log file gets every byte up to
`cap_bytes` and then a marker; past that the launcher kills the run ("output limit"), so
endless output can neither fill the disk nor the memory. The callback gets decoded text at
most every `interval` seconds, so a flood becomes a few events per second, not thousands.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

LOG_BATCH = 256 * 1024


def _trim_end(data: bytes) -> bytes:
    """`data` without a multi-byte UTF-8 character cut off at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: keep it only if its sequence is complete
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def _trim_start(data: bytes) -> bytes:
    """`data` without the continuation bytes of a character that began before it."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] < 0xC0:
        skip += 1
    return data[skip:]


class OutputCollector:
    """Takes the raw chunks of one run's merged stdout+stderr."""

    def __init__(
        self,
        *,
        output_chars: int,
        cap_bytes: int,
        on_output: Callable[[str], Awaitable[None]] | None,
        log_path: Path | None,
        interval: float = 0.1,
    ) -> None:
        self.head_limit = output_chars // 2
        self.tail_limit = output_chars - self.head_limit
        self.cap_bytes = cap_bytes
        self.on_output = on_output
        self.log_path = log_path
        self.interval = interval
        self.total = 0  # every byte printed
        self.capped = False
        self._head = bytearray()
        self._tail = bytearray()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._last_emit = float("-inf")
        self._log: BinaryIO | None = None
        self._log_buffer = bytearray()

    async def open(self) -> None:
        """Create the log file (truncating it)."""
        if self.log_path is not None:
            self._log = await asyncio.to_thread(open, self.log_path, "wb")

    def feed(self, chunk: bytes) -> bool:
        """Take a chunk; False once the output is over the cap (the run must be killed)."""
        room = max(0, self.cap_bytes - self.total)
        self.total += len(chunk)
        kept = chunk[:room]
        if kept:
            if self._log is not None:
                self._log_buffer += kept
            if self.on_output is not None:
                self._pending.append(self._decoder.decode(kept))
        if len(self._head) < self.head_limit:
            take = self.head_limit - len(self._head)
            self._head += chunk[:take]
            chunk = chunk[take:]
        if chunk and self.tail_limit:
            self._tail += chunk
            if len(self._tail) > 2 * self.tail_limit + 65536:
                del self._tail[: len(self._tail) - self.tail_limit]
        if self.total > self.cap_bytes:
            self.capped = True
        return not self.capped

    def due(self) -> float | None:
        """When `flush` has something to do (loop time), or None."""
        if self._pending or self._log_buffer:
            return self._last_emit + self.interval
        return None

    async def flush(self, now: float, *, force: bool = False) -> None:
        """Send pending text to the callback and the log, unless that was done < interval ago."""
        if not force and now < self._last_emit + self.interval:
            if len(self._log_buffer) >= LOG_BATCH:
                await self._write_log()
            return
        self._last_emit = now
        await self._write_log()
        text = "".join(self._pending)
        self._pending.clear()
        if text and self.on_output is not None:
            await self.on_output(text)

    async def _write_log(self) -> None:
        if self._log is not None and self._log_buffer:
            data = bytes(self._log_buffer)
            self._log_buffer.clear()
            await asyncio.to_thread(self._log.write, data)

    async def close(self, now: float, *, emit: bool = True) -> None:
        """Flush everything (to the callback too, if `emit`), mark a capped log, close the file."""
        try:
            if not emit:
                self._pending.clear()
                self.on_output = None
            elif self.on_output is not None:
                self._pending.append(self._decoder.decode(b"", final=True))
            await self.flush(now, force=True)
        finally:
            log, self._log = self._log, None
            if log is not None:
                if self.capped:
                    marker = f"\n[... output limit of {self.cap_bytes} bytes reached; killed ...]\n"
                    await asyncio.to_thread(log.write, marker.encode())
                await asyncio.to_thread(log.close)

    def render(self) -> tuple[str, bool]:
        """The output the model sees and whether anything was cut from its middle."""
        tail = bytes(self._tail[-self.tail_limit :]) if self.tail_limit else b""
        cut = self.total - len(self._head) - len(tail)
        if cut <= 0:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", "replace"), False
        head = _trim_end(bytes(self._head)).decode("utf-8", "replace")
        end = _trim_start(tail).decode("utf-8", "replace")
        return f"{head}\n[... {cut} bytes cut ...]\n{end}", True
