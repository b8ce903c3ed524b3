"""The pid file of `cape dev`: which processes run for a data dir, so leftovers can be found.

`<data dir>/cape-dev.pid` holds JSON: `cape dev`'s own pid and identity, and each child's.
A clean stop removes it. When `cape dev` finds one at start, the previous run stopped
uncleanly: a child that is still alive *and* is still the same process (same start time and
command line, see `cli.procinfo.process_identity`) is stopped; a live `cape dev` on the same
data dir is an error. A reused pid never matches, so no stranger is ever signalled.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from cape.errors import RuntimeFailure
from cli.procinfo import process_identity

log = structlog.get_logger(__name__)
FILE_NAME = "cape-dev.pid"


class AlreadyRunning(RuntimeFailure):
    """Another `cape dev` runs on the same data dir."""


class PidFile:
    """Reads and writes `<data dir>/cape-dev.pid`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME

    def write(self, children: Mapping[str, int]) -> None:
        """Record this process and `children` (name to pid), replacing the file atomically."""
        me = os.getpid()
        record = {
            "pid": me,
            "identity": process_identity(me),
            "children": [
                {"name": name, "pid": pid, "identity": process_identity(pid)}
                for name, pid in children.items()
            ],
        }
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        partial.replace(self.path)

    def read(self) -> dict[str, Any] | None:
        """The recorded processes, or None when there is no (readable) file."""
        try:
            record = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable pid file ignored", path=str(self.path), error=str(exc))
            return None
        return record if isinstance(record, dict) else None

    def remove(self) -> None:
        """Forget the file (a clean stop)."""
        self.path.unlink(missing_ok=True)

    def clear_leftovers(self, say: Callable[[str], None], stop_timeout: float = 10.0) -> list[int]:
        """Stop the children an unclean stop of `cape dev` left running on this data dir.

        Args:
            say: Receives one line per stopped process.
            stop_timeout: Seconds each may take to stop on SIGTERM before SIGKILL.

        Returns:
            The pids that were stopped.

        Raises:
            AlreadyRunning: The `cape dev` that wrote the file still runs.
        """
        record = self.read()
        if record is None:
            return []
        pid = record.get("pid")
        if _is_same(pid, record.get("identity")) and pid != os.getpid():
            raise AlreadyRunning(
                f"cape dev is already running on this data dir (pid {pid}); stop it first "
                "or pass another --data-dir"
            )
        stopped = []
        for entry in record.get("children", []):
            child = entry.get("pid")
            if isinstance(child, int) and _is_same(child, entry.get("identity")):
                stop_process(child, entry.get("identity"), stop_timeout)
                say(
                    f"Stopped {entry.get('name', 'a child')} (pid {child}), left running by an "
                    f"unclean stop of cape dev on {self.path.parent}."
                )
                stopped.append(child)
        self.remove()
        return stopped


def _is_same(pid: object, identity: object) -> bool:
    return isinstance(pid, int) and bool(identity) and process_identity(pid) == identity


def stop_process(pid: int, identity: str | None, timeout: float) -> None:
    """SIGTERM `pid`, then SIGKILL if it still runs after `timeout` seconds (same identity)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while process_identity(pid) == identity:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            return
