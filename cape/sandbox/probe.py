"""Does bubblewrap work here, for this user? Asked once per process and remembered.

The probe runs the real sandbox command line (same mounts, same namespaces, same privilege
drop) around `true`, so "works" means "a run will work", not just "bwrap is installed". As
root it also tries the workspace portal (a private mount namespace; a container without
CAP_SYS_ADMIN has none): without it, runs bind the workspace by its own path, which works when
the sandbox user can search its parents.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass

import structlog

from cape.sandbox import bwrap
from cape.sandbox.rlimits import Identity, make_preexec

log = structlog.get_logger(__name__)

PROBE_SECONDS = 10.0


@dataclass(frozen=True)
class Probe:
    """Whether bwrap can run sandboxes as this identity, and why not."""

    works: bool
    detail: str = ""
    portal: bool = False  # the workspace can be bound through `bwrap.portal()`


_cache: dict[tuple[int | None, int | None], Probe] = {}


async def probe(identity: Identity, uid: int, gid: int) -> Probe:
    """Run `bwrap ... true` as `identity` once per process; later calls return the result.

    Concurrent first calls may each run the probe; the host answers them alike.
    """
    key = (identity.uid, identity.gid)
    if key not in _cache:
        _cache[key] = await _run(identity, uid, gid)
        found = _cache[key]
        log.info("sandbox probe", bwrap=found.works, detail=found.detail or None)
    return _cache[key]


async def _run(identity: Identity, uid: int, gid: int) -> Probe:
    if shutil.which("bwrap") is None:
        return Probe(False, "bwrap is not installed (Debian package bubblewrap)")
    if identity.uid is not None:
        target = bwrap.portal()
        with_portal = await _try(identity, uid, gid, (target, target))
        if with_portal.works:
            return Probe(True, portal=True)
        log.warning("sandbox workspace portal unusable", detail=with_portal.detail)
    return await _try(identity, uid, gid, None)


async def _try(identity: Identity, uid: int, gid: int, portal: tuple[str, str] | None) -> Probe:
    command = bwrap.build(["true"], workspace=None, cwd=".", uid=uid, gid=gid, tmp_bytes=1 << 20)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin"},
            pass_fds=command.fds,
            start_new_session=True,
            preexec_fn=make_preexec(procs_files=[], rlimits=[], identity=identity, portal=portal),
        )
    except (OSError, subprocess.SubprocessError) as error:
        return Probe(False, f"bwrap could not start: {error}")
    finally:
        command.close()
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), PROBE_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Probe(False, f"bwrap did not finish `true` within {PROBE_SECONDS:g}s")
    if proc.returncode != 0:
        text = out.decode("utf-8", "replace").strip()[:500]
        return Probe(False, f"bwrap failed (exit {proc.returncode}): {text}")
    return Probe(True)
