"""Workspace file tools on real files: each tool's happy path and the ways out of the workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from activities.tools import files
from activities.tools.base import Placement, Risk, ToolError
from activities.tools.workspace_io import read_bytes
from tests.tools.conftest import ToolRig

SPECS = {spec.name: spec for spec in files.TOOLS}


async def call(rig: ToolRig, name: str, **args: Any) -> str:
    spec = SPECS[name]
    output = await spec.handler(rig.context(), spec.validate(args))
    return output.content


async def refused(rig: ToolRig, name: str, **args: Any) -> str:
    with pytest.raises(ToolError) as info:
        await call(rig, name, **args)
    return str(info.value)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace with a file the tools must never touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("secret")
    return path


def test_specs_keep_names_and_risks() -> None:
    assert set(SPECS) == {
        "write_file", "read_file", "list_files", "append_file", "delete_file", "patch_file",
    }  # fmt: skip
    assert {n for n, s in SPECS.items() if s.risk == Risk.READ} == {"read_file", "list_files"}
    assert all(s.placement == Placement.WORKSPACE for s in files.TOOLS)
    assert all(s.parameters["additionalProperties"] is False for s in files.TOOLS)
    with pytest.raises(ToolError, match="extra"):
        SPECS["read_file"].validate({"path": "a", "extra": 1})


async def test_write_read_roundtrip_creates_parents_owned_by_sandbox_user(rig: ToolRig) -> None:
    assert await call(rig, "write_file", path="notes/deep/a.md", content="héllo\n") == (
        "wrote 7 bytes to notes/deep/a.md"
    )
    assert await call(rig, "read_file", path="notes/deep/a.md") == "héllo\n"
    if os.geteuid() == 0:
        for path in ("notes", "notes/deep", "notes/deep/a.md"):
            info = (rig.workspace / path).stat()
            assert (info.st_uid, info.st_gid) == (
                rig.settings.sandbox_uid,
                rig.settings.sandbox_gid,
            )
    assert not [p for p in (rig.workspace / "notes/deep").iterdir() if p.name != "a.md"]


async def test_overwrite_keeps_the_mode(rig: ToolRig) -> None:
    script = rig.workspace / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o755)
    await call(rig, "write_file", path="run.sh", content="echo 2\n")
    assert script.read_text() == "echo 2\n" and script.stat().st_mode & 0o777 == 0o755


async def test_append_creates_then_appends(rig: ToolRig) -> None:
    assert await call(rig, "append_file", path="log.txt", content="a\n") == (
        "appended 2 bytes to log.txt (now 2 bytes)"
    )
    await call(rig, "append_file", path="log.txt", content="b\n")
    assert (rig.workspace / "log.txt").read_text() == "a\nb\n"


async def test_append_refuses_past_the_file_size_limit(rig: ToolRig) -> None:
    (rig.workspace / "big.txt").write_bytes(b"x" * (files.MAX_FILE_BYTES - 2))
    assert "at most" in await refused(rig, "append_file", path="big.txt", content="abc")
    assert (rig.workspace / "big.txt").stat().st_size == files.MAX_FILE_BYTES - 2


async def test_read_pages_by_lines_and_truncates_at_the_char_budget(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"tool_output_chars": 300})
    (rig.workspace / "lines.txt").write_text("".join(f"line {i:03}\n" for i in range(1, 101)))
    page = await call(rig, "read_file", path="lines.txt", offset=10, limit=3)
    assert page == (
        "line 010\nline 011\nline 012\n"
        "[... truncated: showed lines 10-12 of 100; read on with offset=13]"
    )
    first = await call(rig, "read_file", path="lines.txt")
    assert first.startswith("line 001\n") and "line 034\n" not in first
    assert first.endswith("showed lines 1-33 of 100; read on with offset=34]")
    last = await call(rig, "read_file", path="lines.txt", offset=99)
    assert last == "line 099\nline 100\n"
    assert "past the end" in await refused(rig, "read_file", path="lines.txt", offset=101)


async def test_read_shows_the_start_of_one_huge_line(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"tool_output_chars": 256})
    (rig.workspace / "wide.txt").write_text("y" * 1000 + "\nz\n")
    text = await call(rig, "read_file", path="wide.txt")
    assert text.startswith("y" * 256 + "\n[... truncated: line 1 is longer than 256 characters")
    assert text.endswith("read on with offset=2]")


async def test_read_refuses_binary_directories_fifos_and_missing_files(rig: ToolRig) -> None:
    (rig.workspace / "blob.bin").write_bytes(b"\x00\x01\x02")
    (rig.workspace / "dir").mkdir()
    os.mkfifo(rig.workspace / "pipe")
    assert "binary" in await refused(rig, "read_file", path="blob.bin")
    assert "directory" in await refused(rig, "read_file", path="dir")
    assert "not a regular file" in await refused(rig, "read_file", path="pipe")
    assert "no file" in await refused(rig, "read_file", path="missing.txt")
    assert (
        await call(rig, "write_file", path="empty.txt", content="") == "wrote 0 bytes to empty.txt"
    )
    assert await call(rig, "read_file", path="empty.txt") == "(empty file)"


async def test_list_shows_dirs_files_and_links_and_skips_reserved(rig: ToolRig) -> None:
    await call(rig, "write_file", path="p/src/app.py", content="print(1)\n")
    await call(rig, "write_file", path="p/README.md", content="hi")
    for hidden in (".venv/lib", ".cape", ".git/objects"):
        (rig.workspace / "p" / hidden).mkdir(parents=True)
    (rig.workspace / "p/.venv/lib/x.py").write_text("x")
    (rig.workspace / "p/etc").symlink_to("/etc")
    listing = await call(rig, "list_files", path="p")
    assert listing.splitlines() == [
        "p/README.md\t2",
        "p/etc -> /etc",
        "p/src/",
        "p/src/app.py\t9",
        "(not listed: p/.cape/, p/.git/, p/.venv/)",
    ]
    assert await call(rig, "list_files", path="p/src") == "p/src/app.py\t9"
    assert "p/src/app.py\t9" in await call(rig, "list_files")
    assert "symbolic link" in await refused(rig, "list_files", path="p/etc")
    assert "not a directory" in await refused(rig, "list_files", path="p/README.md")


async def test_list_stops_at_500_entries(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"tool_output_chars": 100_000})
    many = rig.workspace / "many"
    many.mkdir()
    for i in range(620):
        (many / f"f{i:04}").write_text("")
    lines = (await call(rig, "list_files", path="many")).splitlines()
    assert len(lines) == 501 and lines[-1] == "[... 120 more entries; list a subdirectory]"


async def test_delete_files_links_and_empty_dirs_but_not_the_root(
    rig: ToolRig, outside: Path
) -> None:
    await call(rig, "write_file", path="d/a.txt", content="a")
    (rig.workspace / "link").symlink_to(outside / "secret.txt")
    assert "not empty" in await refused(rig, "delete_file", path="d")
    assert await call(rig, "delete_file", path="d/a.txt") == "deleted d/a.txt"
    assert await call(rig, "delete_file", path="d") == "deleted directory d"
    assert await call(rig, "delete_file", path="link") == "deleted link"
    assert (outside / "secret.txt").read_text() == "secret"
    for root in (".", "d/..", "./"):
        assert "workspace root" in await refused(rig, "delete_file", path=root)
    assert rig.workspace.is_dir()
    assert "no file or directory" in await refused(rig, "delete_file", path="gone")


async def test_patch_with_edits(rig: ToolRig) -> None:
    await call(rig, "write_file", path="m.py", content="a = 1\nb = 2\nc = 3\n")
    edits = [{"old": "a = 1", "new": "a = 10"}, {"old": "c = 3\n", "new": "c = 30\nd = 4\n"}]
    assert await call(rig, "patch_file", path="m.py", edits=edits) == (
        "patched m.py: 2 edit(s) applied"
    )
    assert (rig.workspace / "m.py").read_text() == "a = 10\nb = 2\nc = 30\nd = 4\n"


async def test_patch_edit_mismatch_names_the_edit_and_changes_nothing(rig: ToolRig) -> None:
    await call(rig, "write_file", path="m.py", content="x = 1\nx = 1\naaa\n")
    edits = [{"old": "aaa", "new": "b"}, {"old": "nope", "new": "z"}]
    message = await refused(rig, "patch_file", path="m.py", edits=edits)
    assert "edit 2 of 2" in message and "matches 0 times" in message
    message = await refused(rig, "patch_file", path="m.py", edits=[{"old": "x = 1", "new": "y"}])
    assert "edit 1 of 1" in message and "matches 2 times" in message
    # Overlapping occurrences are ambiguous too.
    assert "matches 2 times" in await refused(
        rig, "patch_file", path="m.py", edits=[{"old": "aa", "new": "b"}]
    )
    assert (rig.workspace / "m.py").read_text() == "x = 1\nx = 1\naaa\n"
    assert "exactly one of" in await refused(rig, "patch_file", path="m.py")
    both = await refused(rig, "patch_file", path="m.py", edits=edits, diff="@@ -1 +1 @@")
    assert "exactly one of" in both


ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))

MULTI_HUNK = """\
diff --git a/f.txt b/f.txt
--- a/f.txt
+++ b/f.txt
@@ -2,3 +2,4 @@ context heading
 line 2
-line 3
+line three
+line 3.5
 line 4
@@ -14,3 +15,2 @@
 line 14
-line 15
 line 16
"""


async def test_patch_with_a_multi_hunk_diff(rig: ToolRig) -> None:
    (rig.workspace / "f.txt").write_text(ORIGINAL)
    assert await call(rig, "patch_file", path="f.txt", diff=MULTI_HUNK) == (
        "patched f.txt: 2 hunk(s) applied"
    )
    expected = ORIGINAL.replace("line 3\n", "line three\nline 3.5\n").replace("line 15\n", "")
    assert (rig.workspace / "f.txt").read_text() == expected


async def test_patch_diff_places_hunks_with_wrong_line_numbers_by_context(rig: ToolRig) -> None:
    (rig.workspace / "f.txt").write_text(ORIGINAL)
    shifted = (
        "@@ -9,2 +9,2 @@\n line 12\n-line 13\n+line 13!\n\n@@ -1,1 +1,2 @@\n-line 17\n+x\n+y\n"
    )
    await call(rig, "patch_file", path="f.txt", diff=shifted)
    expected = ORIGINAL.replace("line 13\n", "line 13!\n").replace("line 17\n", "x\ny\n")
    assert (rig.workspace / "f.txt").read_text() == expected


async def test_patch_diff_rejects_a_hunk_that_does_not_match(rig: ToolRig) -> None:
    (rig.workspace / "f.txt").write_text(ORIGINAL)
    bad = MULTI_HUNK.replace(" line 16\n", " line 61\n")
    message = await refused(rig, "patch_file", path="f.txt", diff=bad)
    assert "hunk 2 of 2 (@@ -14,3 +15,2 @@)" in message
    assert "'line 61'" in message and "'line 16'" in message
    assert (rig.workspace / "f.txt").read_text() == ORIGINAL
    assert "no hunks" in await refused(rig, "patch_file", path="f.txt", diff="just text")
    two_files = MULTI_HUNK + "--- a/g.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-a\n+b\n"
    assert "more than one file" in await refused(rig, "patch_file", path="f.txt", diff=two_files)
    assert "not part of a hunk" in await refused(
        rig, "patch_file", path="f.txt", diff="@@ -1 +1 @@\n-line 1\n*line 1\n"
    )


async def test_patch_diff_handles_the_missing_final_newline(rig: ToolRig) -> None:
    (rig.workspace / "n.txt").write_text("a\nb")
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
    await call(rig, "patch_file", path="n.txt", diff=diff)
    assert (rig.workspace / "n.txt").read_text() == "a\nc\n"
    diff = "@@ -2 +2 @@\n-c\n+d\n\\ No newline at end of file\n"
    await call(rig, "patch_file", path="n.txt", diff=diff)
    assert (rig.workspace / "n.txt").read_text() == "a\nd"


async def test_patch_diff_inserts_into_an_empty_file(rig: ToolRig) -> None:
    (rig.workspace / "e.txt").write_text("")
    await call(rig, "patch_file", path="e.txt", diff="@@ -0,0 +1,2 @@\n+one\n+two\n")
    assert (rig.workspace / "e.txt").read_text() == "one\ntwo\n"


# --- abuse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x.txt", "a/../../x.txt", "..", "/etc/passwd", "a\0b"])
async def test_paths_outside_the_workspace_are_refused(rig: ToolRig, path: str) -> None:
    for name, extra in [("write_file", {"content": "x"}), ("read_file", {}), ("delete_file", {})]:
        message = await refused(rig, name, path=path, **extra)
        assert "outside" in message or "relative" in message
    assert not (rig.workspace.parent / "x.txt").exists()


async def test_symlink_to_etc_passwd_is_not_read(rig: ToolRig) -> None:
    (rig.workspace / "pw").symlink_to("/etc/passwd")
    assert "symbolic link" in await refused(rig, "read_file", path="pw")
    (rig.workspace / "etc").symlink_to("/etc")
    assert "outside the workspace" in await refused(rig, "read_file", path="etc/passwd")
    assert "outside the workspace" in await refused(rig, "list_files", path="etc/ssl")


async def test_symlinked_directory_escape_is_refused_for_writes(
    rig: ToolRig, outside: Path
) -> None:
    (rig.workspace / "out").symlink_to(outside)
    for name in ("write_file", "append_file"):
        message = await refused(rig, name, path="out/new.txt", content="x")
        assert "outside the workspace" in message
    assert "outside" in await refused(rig, "delete_file", path="out/secret.txt")
    edits = [{"old": "secret", "new": "owned"}]
    assert "outside" in await refused(rig, "patch_file", path="out/secret.txt", edits=edits)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


async def test_symlink_as_final_component_is_not_followed(rig: ToolRig, outside: Path) -> None:
    (rig.workspace / "s.txt").symlink_to(outside / "secret.txt")
    (rig.workspace / "dangling").symlink_to(outside / "new.txt")
    assert "symbolic link" in await refused(rig, "write_file", path="s.txt", content="x")
    assert "symbolic link" in await refused(rig, "append_file", path="s.txt", content="x")
    assert "symbolic link" in await refused(rig, "append_file", path="dangling", content="x")
    assert "symbolic link" in await refused(rig, "write_file", path="dangling", content="x")
    edits = [{"old": "secret", "new": "owned"}]
    assert "symbolic link" in await refused(rig, "patch_file", path="s.txt", edits=edits)
    assert (outside / "secret.txt").read_text() == "secret"
    assert not (outside / "new.txt").exists()


async def test_hard_link_is_replaced_not_written_through(rig: ToolRig, outside: Path) -> None:
    os.link(outside / "secret.txt", rig.workspace / "h.txt")
    assert "hard links" in await refused(rig, "append_file", path="h.txt", content="x")
    await call(rig, "write_file", path="h.txt", content="mine")
    assert (rig.workspace / "h.txt").read_text() == "mine"
    assert (outside / "secret.txt").read_text() == "secret"


async def test_directory_swapped_for_a_symlink_after_the_check_is_caught(
    rig: ToolRig, outside: Path
) -> None:
    (rig.workspace / "sub").mkdir()
    limits = files.Limits.of(rig.settings)
    target = files.locate(rig.workspace, "sub/x.txt")  # checked while `sub` is a directory
    (rig.workspace / "sub").rmdir()
    (rig.workspace / "sub").symlink_to(outside)
    with pytest.raises(ToolError, match="not a directory"), files.parent_dir(target, limits):
        pass
    assert not (outside / "x.txt").exists()


async def test_reserved_directories_are_not_writable(rig: ToolRig) -> None:
    (rig.workspace / ".venv").mkdir()
    (rig.workspace / ".venv/cfg").write_text("home = /usr\n")
    (rig.workspace / "v").symlink_to(".venv")
    for path in (".venv/cfg", ".cape/state", "v/cfg", "./.venv/x"):
        assert "reserved" in await refused(rig, "write_file", path=path, content="x")
    assert "reserved" in await refused(rig, "append_file", path=".venv/cfg", content="x")
    assert "reserved" in await refused(rig, "delete_file", path=".venv/cfg")
    assert "reserved" in await refused(rig, "delete_file", path=".venv")
    edits = [{"old": "usr", "new": "tmp"}]
    assert "reserved" in await refused(rig, "patch_file", path=".venv/cfg", edits=edits)
    assert await call(rig, "read_file", path=".venv/cfg") == "home = /usr\n"


async def test_too_big_writes_are_refused(rig: ToolRig) -> None:
    big = "x" * (files.MAX_WRITE_BYTES + 1)
    assert "per call" in await refused(rig, "write_file", path="big.txt", content=big)
    assert "per call" in await refused(rig, "append_file", path="big.txt", content=big)
    assert not (rig.workspace / "big.txt").exists()


async def test_workspace_quota(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"workspace_quota_mb": 1})
    (rig.workspace / "filler.bin").write_bytes(b"0" * 700_000)
    chunk = "y" * 200_000
    await call(rig, "write_file", path="a.txt", content=chunk)
    assert "quota" in await refused(rig, "write_file", path="b.txt", content=chunk)
    assert "quota" in await refused(rig, "append_file", path="a.txt", content=chunk)
    assert not (rig.workspace / "b.txt").exists()
    # Replacing a file with a smaller one always fits.
    await call(rig, "write_file", path="a.txt", content="small")


async def test_writing_through_a_file_as_directory_is_a_tool_error(rig: ToolRig) -> None:
    await call(rig, "write_file", path="plain", content="x")
    assert "not a directory" in await refused(rig, "write_file", path="plain/x", content="x")
    await call(rig, "write_file", path="adir/x", content="x")
    assert "not a regular file" in await refused(rig, "write_file", path="adir", content="x")


def test_host_side_reads_go_by_descriptor(rig: ToolRig, outside: Path) -> None:
    (rig.workspace / "real.txt").write_text("r")
    (rig.workspace / "alias.txt").symlink_to("real.txt")
    (rig.workspace / "esc").symlink_to(outside / "secret.txt")
    assert read_bytes(rig.workspace, "real.txt", 10) == b"r"
    assert files.locate(rig.workspace, "new/dir/f.txt").shown == "new/dir/f.txt"
    for bad in ("alias.txt", "esc", "../x", "/etc/passwd", "", "."):
        with pytest.raises(ToolError):
            read_bytes(rig.workspace, bad, 10)
    with pytest.raises(ToolError, match="limit"):
        read_bytes(rig.workspace, "real.txt", 0)
