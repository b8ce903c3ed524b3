"""Locks across a host's worker processes (`cape.filelock`): one holder at a time, none left over.

`flock` locks belong to an open file description, so two opens in this one process contend
exactly as two worker processes do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from cape.filelock import held, taken

HOLD_IN_CHILD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


async def test_a_second_holder_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    entered = asyncio.Event()

    async def second() -> None:
        async with held(tmp_path):
            entered.set()

    async with held(tmp_path):  # a directory, as a workspace is
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.3)  # several of the waiter's polls
        assert not entered.is_set()
    await asyncio.wait_for(waiter, 10)
    assert entered.is_set()


async def test_a_cancelled_waiter_leaves_nothing_held(tmp_path: Path) -> None:
    async with held(tmp_path):
        waiter = asyncio.create_task(held(tmp_path).__aenter__())
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    async with asyncio.timeout(10), held(tmp_path):
        pass  # the cancelled waiter's descriptor is closed: the lock is free


def test_only_one_process_takes_the_sweep_lock_and_a_dead_holder_frees_it(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "data" / "workspace-sweep.lock"
    with taken(lock) as first:
        assert first and lock.exists()
        with taken(lock) as second:
            assert not second
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_CHILD, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with taken(lock) as mine:
            assert not mine  # another process holds it
    finally:
        child.kill()
        child.wait()
    with taken(lock) as mine:
        assert mine  # the kernel released the dead holder's lock
    assert os.path.exists(lock)
