"""Host-side work on the workspace while the agent swaps a directory or file for a symlink.

The racer exchanges a real entry with a symlink to the canary (renameat2 RENAME_EXCHANGE) as
fast as it can, in its own process, while the worker snapshots, writes a PDF, notes progress
or reads a template, source or attachment. Each is tried many times; the canary must never be
read, written or chowned.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from activities.tools.base import ToolError
from activities.tools.email import _attachments
from activities.tools.pdf import TOOLS as PDF_TOOLS
from activities.tools.pdf import _Fetcher
from activities.tools.templates import read_workspace_text
from activities.workspace import note_progress, tar_workspace
from tests.containment.conftest import TRIES, Canary, racing, tar_members
from tests.tools.conftest import ToolRig

READ_TRIES = 3000  # reads are quick: many more tries for the same odds
APPEND_TRIES = 20000  # the note's window is a few microseconds


def _decoy(rig: ToolRig, canary: Canary, name: str, decoys: int = 0) -> tuple[Path, Path]:
    """`name` (a directory holding a file named like the canary) and `link` to the canary's dir.

    `decoys` empty files, listed before the canary's name, exist on both sides: a walk that
    listed the real directory finds them through the symlink too, and reads on to the canary.
    """
    real = rig.workspace / name
    real.mkdir(exist_ok=True)
    (real / canary.host_file.name).write_text("an ordinary workspace file\n")
    for n in range(decoys):
        (real / f"a-{n:05d}").touch()
        (canary.host_dir / f"a-{n:05d}").touch(mode=0o600)
    link = rig.workspace / "link"
    link.symlink_to(canary.host_dir)
    return real, link


def _file_decoy(rig: ToolRig, canary: Canary, name: str, target: Path) -> tuple[Path, Path]:
    real = rig.workspace / name
    real.write_text("# an ordinary workspace file\n")
    link = rig.workspace / f"link-{name}"
    link.symlink_to(target)
    return real, link


def test_snapshot_never_archives_a_swapped_in_host_file(
    rig: ToolRig, canary: Canary, tmp_path: Path
) -> None:
    real, link = _decoy(rig, canary, "data", decoys=200)
    archive = tmp_path / "snap.tar.gz"
    before = canary.owners()
    with racing(real, link):
        for _ in range(TRIES):
            try:
                tar_workspace(rig.workspace, archive)
            except OSError:  # an entry that vanished mid-walk may fail a snapshot, not leak
                continue
            assert not any(canary.leaked(m) for m in tar_members(archive.read_bytes()))
    assert canary.owners() == before


async def test_create_pdf_never_writes_outside(rig: ToolRig, canary: Canary) -> None:
    real, link = _decoy(rig, canary, "output")
    listing = sorted(os.listdir(canary.host_dir))
    before = canary.owners()
    spec = PDF_TOOLS[0]
    ctx = rig.context()
    with racing(real, link):
        for n in range(TRIES):
            args = spec.validate({"output": f"report-{n}.pdf", "markdown": "# Report\n"})
            with contextlib.suppress(ToolError):  # refusing a swapped path is fine
                await spec.handler(ctx, args)
            assert sorted(os.listdir(canary.host_dir)) == listing
    assert canary.owners() == before


def test_progress_note_never_appends_to_a_host_file(rig: ToolRig, canary: Canary) -> None:
    real, link = _file_decoy(rig, canary, "README.md", canary.host_file)
    content = canary.host_file.read_bytes()
    before = canary.owners()
    with racing(real, link):
        for n in range(APPEND_TRIES):
            note_progress(rig.workspace, f"step {n}")
    assert canary.host_file.read_bytes() == content
    assert canary.owners() == before


def test_template_source_attachment_and_pdf_image_reads_stay_inside(
    rig: ToolRig, canary: Canary
) -> None:
    real, link = _file_decoy(rig, canary, "doc.md", canary.host_file)
    fetcher = _Fetcher(rig.workspace.resolve(), {})
    url = real.resolve().as_uri()
    reads = [
        lambda: read_workspace_text(rig.workspace, "doc.md", 10_000).encode(),
        lambda: b"".join(data for _, _, data in _attachments(rig.workspace, ["doc.md"])),
        lambda: bytes(fetcher.fetch(url).content),
    ]
    with racing(real, link):
        for _ in range(READ_TRIES):
            for read in reads:
                try:
                    data = read()
                except Exception:  # refusing a swapped path is fine
                    continue
                assert not canary.leaked(data)
