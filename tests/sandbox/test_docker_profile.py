"""The worker's seccomp profile (deploy/seccomp-bwrap.json) lets the full sandbox run.

There is no Docker engine here, so the profile is applied the way the engine would apply it: a
seccomp filter loaded before the worker starts and inherited by everything it runs. Under it,
the real sandbox (bubblewrap, `sandbox_mode=bwrap`, so no silent degrading) runs a command in
its own namespaces, as root and as the image's unprivileged `cape` user, while the kernel
interfaces the profile refuses stay refused. A profile that also refused `mount` (as Docker's
default effectively does for bubblewrap) makes the same run fail: the check can tell.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "deploy" / "seccomp-bwrap.json"
HELPER = Path(__file__).with_name("seccomp_exec.py")
IMAGE_UID = 10001  # the Dockerfile's `cape` user

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap"
)

# Runs under the filter: one sandboxed command, then a syscall the profile refuses.
UNDER_FILTER = """
import asyncio, ctypes, json, sys
from pathlib import Path
from cape.sandbox.launcher import Sandbox
from cape.settings import Settings

async def main() -> None:
    settings = Settings(data_dir=Path(sys.argv[1]), sandbox_mode="bwrap")
    sandbox = Sandbox(settings)
    workspace = settings.workspace_root / "task"
    sandbox.prepare_workspace(workspace)
    found = {}
    try:
        run = await sandbox.run(
            ["sh", "-c", "echo inside > made; cat made; ls /proc | grep -c '^[0-9]'"],
            workspace=workspace, limits=sandbox.limits(),
        )
        found.update(level=run.isolation.level, output=run.output, ok=run.ok)
    except RuntimeError as error:
        found["refused"] = str(error)
    seccomp = ctypes.CDLL("libseccomp.so.2")
    keyctl = seccomp.seccomp_syscall_resolve_name(b"keyctl")
    libc = ctypes.CDLL(None, use_errno=True)
    # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): fine without the filter.
    result = libc.syscall(keyctl, 0, -3, 0)
    found["keyctl_errno"] = ctypes.get_errno() if result < 0 else 0
    print(json.dumps(found))

asyncio.run(main())
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's 0700 tmp dir: the unprivileged variant must reach it.
    path = Path(tempfile.mkdtemp(prefix="cape-seccomp-"))
    os.chown(path, IMAGE_UID, IMAGE_UID)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_under(profile: Path, data_dir: Path, uid: int | None) -> dict[str, Any]:
    options = [str(profile), *(["--uid", str(uid)] if uid is not None else [])]
    command = [sys.executable, str(HELPER), *options, "--", sys.executable, "-c", UNDER_FILTER]
    env = {"PATH": os.environ["PATH"], "HOME": str(data_dir), "CAPE_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [*command, str(data_dir)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def world_reachable(path: Path) -> bool:
    """Whether any user can run `path` (every parent searchable, the file readable)."""
    real = path.resolve()
    parents_ok = all(p.stat().st_mode & 0o001 for p in real.parents)
    return parents_ok and real.stat().st_mode & 0o005 == 0o005


@pytest.mark.parametrize("uid", [None, IMAGE_UID], ids=["root worker", "cape worker"])
def test_the_full_sandbox_runs_under_the_worker_profile(data_dir: Path, uid: int | None) -> None:
    if uid is not None and not world_reachable(Path(sys.executable)):
        pytest.skip(f"{sys.executable} is out of reach of uid {uid} (the root variant still ran)")
    found = run_under(PROFILE, data_dir, uid)
    assert found.get("ok") and found["level"] == "bwrap", found
    inside, processes = found["output"].split()
    assert inside == "inside" and int(processes) <= 5, found  # its own pid namespace: a handful
    assert found["keyctl_errno"] == errno.EPERM, found


def test_a_profile_that_refuses_mount_breaks_the_sandbox(data_dir: Path, tmp_path: Path) -> None:
    profile = json.loads(PROFILE.read_text())
    profile["syscalls"].append({"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
    stricter = tmp_path / "no-mount.json"
    stricter.write_text(json.dumps(profile))
    found = run_under(stricter, data_dir, None)
    assert "bubblewrap is unusable" in found.get("refused", ""), found
