"""Workspace snapshots: a full one, then only what changed; restores give back the exact tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from activities.snapshot_plan import SnapshotTooLarge, read_header, scan
from activities.workspace import restore_snapshot, save_snapshot
from tests.tools.conftest import ToolRig


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` (but `.venv`): file contents, `dir`, or `-> link target`."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (Path(folder) == root and d == ".venv")]
        for name in [*dirs, *files]:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = path.read_bytes().hex()[:64] + f" ({path.stat().st_size})"
    return found


def populate(ws: Path) -> None:
    (ws / "big.bin").write_bytes(os.urandom(2_000_000))
    (ws / "keep.txt").write_text("keep")
    (ws / "change.txt").write_text("before")
    (ws / "gone.txt").write_text("gone")
    (ws / "dir_to_file").mkdir()
    (ws / "dir_to_file" / "inner.txt").write_text("inner")
    (ws / "file_to_dir").write_text("a file")
    (ws / "sub" / "deep").mkdir(parents=True)
    (ws / "sub" / "deep" / "a.txt").write_text("a")
    (ws / "link").symlink_to("keep.txt")
    (ws / ".venv").mkdir()
    (ws / ".venv" / "python").write_text("not snapshotted")


def change(ws: Path) -> None:
    (ws / "change.txt").write_text("after!")  # same size as before
    (ws / "gone.txt").unlink()
    shutil.rmtree(ws / "dir_to_file")
    (ws / "dir_to_file").write_text("now a file")
    (ws / "file_to_dir").unlink()
    (ws / "file_to_dir").mkdir()
    (ws / "file_to_dir" / "x.txt").write_text("x")
    (ws / "link").unlink()
    (ws / "link").symlink_to("change.txt")
    (ws / "sub" / "new.txt").write_text("new")


async def test_a_later_snapshot_stores_only_changes_and_restores_exactly(rig: ToolRig) -> None:
    ws, store, task = rig.workspace, rig.store, rig.task_id
    populate(ws)
    first_tree = tree(ws)
    first = await save_snapshot(store, task, 1, ws, rig.settings)
    change(ws)
    second_tree = tree(ws)
    second = await save_snapshot(store, task, 2, ws, rig.settings)

    full, delta = await store.get(task, first), await store.get(task, second)
    assert full.size > 2_000_000 and delta.size < 50_000, (full.size, delta.size)
    header = read_header(store.path(delta))
    assert header is not None and header["base"] == first

    # A fork's seed is a copy under another id: it still finds the full snapshot it adds to.
    await store.put(task, "fork-seed.tar.gz", store.path(delta), artifact_id=f"seed-{task}")
    for snap, expected in (
        (second, second_tree),
        (first, first_tree),
        (f"seed-{task}", second_tree),
    ):
        target = ws.parent / f"restored-{snap}"
        await restore_snapshot(store, task, snap, target)
        assert tree(target) == expected
        assert not (target / ".venv").exists()


async def test_a_snapshot_is_full_again_once_most_of_the_workspace_changed(rig: ToolRig) -> None:
    ws, store, task = rig.workspace, rig.store, rig.task_id
    (ws / "data.bin").write_bytes(os.urandom(500_000))
    first = await save_snapshot(store, task, 1, ws, rig.settings)
    (ws / "data.bin").write_bytes(os.urandom(500_000))
    second = await save_snapshot(store, task, 2, ws, rig.settings)
    header = read_header(store.path(await store.get(task, second)))
    assert header is not None and header["base"] is None and second != first


async def test_a_workspace_over_the_bounds_is_refused_clearly(rig: ToolRig) -> None:
    for n in range(12):
        (rig.workspace / f"f{n}.txt").write_text("x")
    few = rig.settings.model_copy(update={"workspace_snapshot_max_files": 10})
    with pytest.raises(SnapshotTooLarge, match="CAPE_WORKSPACE_SNAPSHOT_MAX_FILES"):
        await save_snapshot(rig.store, rig.task_id, 1, rig.workspace, few)
    (rig.workspace / "big.bin").write_bytes(b"\0" * (2 * 2**20))
    small = rig.settings.model_copy(update={"workspace_snapshot_max_mb": 1})
    with pytest.raises(SnapshotTooLarge, match="1 MiB"):
        await save_snapshot(rig.store, rig.task_id, 1, rig.workspace, small)
    assert await rig.store.snapshots(rig.task_id) == []


async def test_an_unreadable_last_snapshot_makes_the_next_one_full(rig: ToolRig) -> None:
    ws, store, task = rig.workspace, rig.store, rig.task_id
    (ws / "data.bin").write_bytes(os.urandom(200_000))
    first = await save_snapshot(store, task, 1, ws, rig.settings)
    store.path(await store.get(task, first)).write_bytes(b"damaged")
    (ws / "small.txt").write_text("small")
    second = await save_snapshot(store, task, 2, ws, rig.settings)
    header = read_header(store.path(await store.get(task, second)))
    assert header is not None and header["base"] is None
    target = ws.parent / "restored"
    await restore_snapshot(store, task, second, target)
    assert tree(target) == tree(ws)


async def test_links_that_point_anywhere_restore_as_links_and_nothing_is_written_through_them(
    rig: ToolRig, tmp_path: Path
) -> None:
    ws, store, task = rig.workspace, rig.store, rig.task_id
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "etc").symlink_to("/etc")  # `ln -s /etc etc` by the agent
    (ws / "up").symlink_to("../../../outside")
    (ws / "keep.txt").write_text("keep")
    expected = tree(ws)
    snap = await save_snapshot(store, task, 1, ws, rig.settings)

    target = ws.parent / "restored"
    await restore_snapshot(store, task, snap, target)
    assert tree(target) == expected
    assert (
        os.readlink(target / "etc") == "/etc" and os.readlink(target / "up") == "../../../outside"
    )
    assert list(outside.iterdir()) == []


def test_a_link_swapped_for_a_folder_during_the_scan_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parallel step replaces `link` with a folder right after the scan's stat saw a link
    # (the containment race test's racer does this in a loop): readlink then fails with
    # EINVAL on the real file system, and the scan reads the entry again.
    (tmp_path / "link").symlink_to("/etc")
    real_stat, swapped = os.stat, []

    def stat_then_swap(name: object, *args: object, **kwargs: object) -> os.stat_result:
        info = real_stat(name, *args, **kwargs)  # type: ignore[arg-type]
        if name == "link" and not swapped:
            swapped.append(True)
            (tmp_path / "link").unlink()
            (tmp_path / "link").mkdir()
        return info

    monkeypatch.setattr(os, "stat", stat_then_swap)
    entries = scan(tmp_path, 100, 2**20)
    assert swapped and entries["link"][0] == "d" and entries["link"][5] is None
