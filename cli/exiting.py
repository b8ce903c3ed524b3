"""Leaving the process once the Temporal SDK's native runtime is loaded (sdk-python #300).

The SDK's Rust threads outlive the event loop; when CPython finalizes while one of them still
holds a thread state, the process aborts in `PyGILState_Release` (SIGABRT, status -6) after
its work is done. A command that finished must not turn into a crash for the caller, so a
process that loaded the runtime runs its exit handlers itself and leaves without finalizing.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys

_BRIDGE = "temporalio.bridge.temporal_sdk_bridge"


def runtime_loaded() -> bool:
    """Whether this process loaded the Temporal SDK's native runtime."""
    return _BRIDGE in sys.modules


def exit_now(code: int) -> None:
    """Run the exit handlers, flush, and leave with `code` without interpreter teardown."""
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to tell
            stream.flush()
    os._exit(code)


def exit_status(exc: SystemExit) -> int:
    """The status `SystemExit` would give, printing a message code as Python itself does."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")  # what the interpreter prints for sys.exit(message)
    return 1
