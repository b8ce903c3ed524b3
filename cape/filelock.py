"""Locks across the processes of one host (`flock`): what two worker processes must not do at once.

`cape worker --processes N` runs N workers on one host, all on its host queue (`cli/workers.py`),
so per-process locks no longer cover a host's workspaces. The kernel releases an `flock` when
its descriptor closes, also when the holder dies: no lock outlives a killed worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

POLL_SECONDS = 0.05


@contextlib.asynccontextmanager
async def held(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on `path` (an existing file or directory) for the block.

    Waits by polling, so a waiter that is cancelled holds and leaves nothing behind.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def taken(path: Path) -> Iterator[bool]:
    """Try to take the lock file `path` (made when missing): True when this process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
