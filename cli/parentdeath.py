"""Children that never outlive their supervisor, even when it is SIGKILLed.

Two mechanisms, since neither covers every case alone:

- Linux: `PR_SET_PDEATHSIG`, set in the child between fork and exec (`die_with_parent`). The
  kernel signals the child when the *thread* that forked it exits, so the supervisor must
  start children from its main thread (which lives as long as the process). It is kept
  across exec of the `temporal` Go binary too.
- Anywhere: a pipe (`ParentLink`) whose read end each child inherits while only the
  supervisor holds the write end. A `cape` child watches it (`watch_parent`); its end of file
  means the supervisor is gone, however it died.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import structlog

PR_SET_PDEATHSIG = 1
PARENT_FD_ENV = "CAPE_SUPERVISOR_FD"
log = structlog.get_logger(__name__)


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `sig` when this process dies (Linux).

    Args:
        sig: The signal the child gets. SIGKILL: a child stuck in shutdown cannot linger.

    Returns:
        The function to pass as `subprocess.Popen(preexec_fn=...)`, or None off Linux.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before fork: the child runs as little Python as possible.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig)
        # The parent may have died before prctl took effect: then no signal would come.
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


class ParentLink:
    """The supervisor's side of the pipe whose end of file tells children it is gone."""

    def __init__(self) -> None:
        # os.pipe() fds are not inheritable: only children given `pass_fds` get the read end,
        # and no child ever holds the write end (else it would never see end of file).
        self.read_fd, self._write_fd = os.pipe()

    @property
    def pass_fds(self) -> tuple[int, ...]:
        """The fds a child keeps open (for `subprocess.Popen(pass_fds=...)`)."""
        return (self.read_fd,)

    def env(self) -> dict[str, str]:
        """The environment variable that tells a `cape` child which fd to watch."""
        return {PARENT_FD_ENV: str(self.read_fd)}

    def close(self) -> None:
        """Close both ends (children still watching see end of file)."""
        for fd in (self.read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def watch_parent(grace_seconds: float = 15.0) -> bool:
    """In a child: stop this process when its supervisor goes away.

    Reads the fd named by `CAPE_SUPERVISOR_FD` (removed from the environment so grandchildren
    do not inherit the duty) on a daemon thread. At end of file it sends itself SIGTERM, for
    the usual graceful stop, and exits outright if that takes longer than `grace_seconds`.

    Args:
        grace_seconds: How long the graceful stop may take.

    Returns:
        Whether a watch was started (False when not run by a supervisor).
    """
    value = os.environ.pop(PARENT_FD_ENV, None)
    if not value or not value.isdigit():
        return False
    fd = int(value)

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            return  # not our pipe after all (a stale variable): nothing to watch
        log.warning("supervisor gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return True
