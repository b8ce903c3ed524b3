"""The degraded mode (bubblewrap unusable): what it refuses and what it tells the operator.

Without namespaces a run is only the worker's child with rlimits and a uid switch: as a root
worker every task runs as the same sandbox uid (one task reads and writes another's workspace,
the app database and artifacts are readable, loopback services are reachable); as a non-root
worker it runs as the worker itself (its environment, with the API keys, is readable through
`/proc/$PPID/environ`), with no pids limit and nothing to kill a `setsid` daemon. That is no
containment, so tools that run code the agent controls are refused there, with the reason and
the fix, unless the operator opts in with `CAPE_SANDBOX_MODE=unsafe-rlimits` (a trusted,
single-user setup: nothing is contained then).
"""

from __future__ import annotations

UNSAFE_MODE = "unsafe-rlimits"
SECURITY_DOC = "docs/security.md"
FIX = (
    "Fix: let the worker create unprivileged user namespaces so bubblewrap works (under Docker: "
    f"the worker settings of docker-compose.yml, see {SECURITY_DOC}); or, only for a trusted "
    f"single-user setup, set CAPE_SANDBOX_MODE={UNSAFE_MODE} (commands then run NOT contained)."
)


class SandboxRefused(RuntimeError):
    """This worker cannot isolate a command, so it does not run it; the message says why."""


def refused(why: str) -> SandboxRefused:
    """The refusal of a run that needs isolation, with the reason `why` and the fix."""
    return SandboxRefused(
        f"refused: this worker cannot isolate commands ({why}), so tools that run code "
        f"(shell, python, pip_install, the git tools) are disabled. {FIX}"
    )


def startup_warning(mode: str, why: str) -> str:
    """What a worker (and `cape dev`) says at start when runs will not be under bubblewrap."""
    if mode == UNSAFE_MODE:
        return (
            f"CAPE_SANDBOX_MODE={UNSAFE_MODE}: shell, python, pip_install and the git tools run "
            "WITHOUT containment (no namespaces: every task's commands share one uid, see the "
            "host network and can read what that uid can read, including the worker's "
            f"environment when the worker is not root). Only for a trusted single-user setup; {why}"
        )
    return (
        f"the sandbox cannot isolate commands here ({why}): shell, python, pip_install and the "
        f"git tools will be refused. {FIX}"
    )
