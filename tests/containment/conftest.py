"""Containment tests: canaries the agent must never reach, and a racer acting as the agent.

`canary` is a root-only file outside every workspace (mode 0600, owned by root) and a file in
another task's workspace; `leaked` looks for either's text in files, archives and git objects.
`racing` runs `racer.py` (renameat2 exchange in a loop) while a host-side call runs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import struct
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cape.settings import Settings
from tests.tools.conftest import rig, tool_settings

__all__ = ["Canary", "canary", "rig", "tool_settings"]

RACER = Path(__file__).with_name("racer.py")
TRIES = 20  # a race the product loses once in a few tries fails the test all but surely


@dataclass
class Canary:
    """Host data the agent must not see or change."""

    host_dir: Path  # root-only directory outside the workspaces
    host_file: Path  # in host_dir, mode 0600
    other_file: Path  # in another task's workspace
    texts: tuple[bytes, bytes]

    def owners(self) -> dict[Path, tuple[int, int]]:
        """(uid, gid) of every canary path, to compare before and after."""
        paths = [self.host_dir, *self.host_dir.rglob("*"), self.other_file]
        return {p: (p.lstat().st_uid, p.lstat().st_gid) for p in paths}

    def leaked(self, data: bytes) -> bool:
        """Whether `data` holds either canary text."""
        return any(text in data for text in self.texts)


@pytest.fixture
def canary(tool_settings: Settings, tmp_path: Path) -> Canary:
    """A root-only host file and another task's workspace file, with unique texts."""
    if os.geteuid() != 0:
        pytest.skip("containment of root's host-side work needs root (as in CI)")
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir(mode=0o700)
    texts = (f"HOST-CANARY-{uuid.uuid4().hex}".encode(), f"OTHER-TASK-{uuid.uuid4().hex}".encode())
    host_file = host_dir / "secret.txt"
    host_file.write_bytes(texts[0] + b"\n")
    host_file.chmod(0o600)
    other = tool_settings.workspace_root / "other-task"
    other.mkdir(parents=True)
    other_file = other / "secret.txt"
    other_file.write_bytes(texts[1] + b"\n")
    return Canary(host_dir, host_file, other_file, texts)


@contextlib.contextmanager
def racing(first: Path, second: Path) -> Iterator[None]:
    """Exchange `first` and `second` (renameat2) in a separate process until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, str(RACER), str(first), str(second)], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"racing\n"
        yield
    finally:
        proc.kill()
        proc.wait()


def tar_members(data: bytes) -> Iterator[bytes]:
    """The contents of every regular file in a (gzip'd) tar."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile() and (handle := tar.extractfile(member)) is not None:
                yield handle.read()


def files_under(top: Path) -> Iterator[Path]:
    """Every regular file under `top`, links not followed."""
    for path in top.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def crafted_index(names: list[str]) -> bytes:
    """A git index (version 2) listing `names` as changed files, `../` paths included.

    Git refuses such paths when it writes an index itself, but reads one as it finds it: this is
    what an agent writes into `.git/index` to make a commit read files around the work tree.
    """
    entries = b""
    for name in sorted(n.encode() for n in names):
        raw = struct.pack(">10I", 0, 0, 0, 0, 0, 0, 0o100644, 0, 0, 0) + bytes(20)
        raw += struct.pack(">H", len(name)) + name
        entries += raw + b"\0" * (8 - len(raw) % 8)
    data = b"DIRC" + struct.pack(">II", 2, len(names)) + entries
    return data + hashlib.sha1(data).digest()


def git_objects(repo: Path) -> bytes:
    """Every object of `repo`, uncompressed (run by the test, not the product)."""
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)}
    done = subprocess.run(
        ["git", "--git-dir", str(repo / ".git"), "cat-file", "--batch-all-objects", "--batch"],
        env=env,
        capture_output=True,
        check=True,
    )
    return done.stdout
