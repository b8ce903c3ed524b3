"""Normal runs: exit codes, output streaming, stdin, cwd, environment, ownership, limits."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cape.sandbox.degraded import SandboxRefused
from cape.sandbox.launcher import Sandbox
from cape.sandbox.types import MiB
from cape.settings import Settings
from tests.sandbox.conftest import MODES, ROOT, leftover_cgroups, marker, processes_with


async def test_ok_and_exit_codes(sandbox: Sandbox, workspace: Path) -> None:
    limits = sandbox.limits()
    done = await sandbox.run(
        ["sh", "-c", "echo hello; echo oops >&2"], workspace=workspace, limits=limits
    )
    assert done.ok and done.exit_code == 0 and done.signal is None
    assert done.output == "hello\noops\n" and done.output_bytes == 11 and not done.truncated
    assert done.killed_reason is None and not done.timed_out and not done.idle_timed_out

    failed = await sandbox.run(["sh", "-c", "exit 3"], workspace=workspace, limits=limits)
    assert not failed.ok and failed.exit_code == 3

    missing = await sandbox.run(["no-such-program-x"], workspace=workspace, limits=limits)
    assert not missing.ok and "no-such-program-x" in missing.output
    assert done.isolation.level == "bwrap" and done.isolation.network is False
    assert done.isolation.memory_cgroup and done.isolation.pids_cgroup
    assert leftover_cgroups() == []


@pytest.mark.parametrize("mode", MODES)
async def test_runs_as_sandbox_user_and_owns_files(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, sandbox_settings: Settings, mode: str
) -> None:
    sandbox = make_sandbox(mode)
    # A root-only file: readable if the command were root outside (even mapped in a userns).
    private = workspace / "root-only.txt"
    private.write_text("root eyes only")
    private.chmod(0o600)
    script = (
        "id -u; id -g; mkdir -p d && echo x > d/f; cat root-only.txt; grep CapEff /proc/self/status"
    )
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=sandbox.limits())
    uid = sandbox_settings.sandbox_uid if ROOT else os.getuid()
    gid = sandbox_settings.sandbox_gid if ROOT else os.getgid()
    assert result.output.splitlines()[:2] == [str(uid), str(gid)]
    assert result.isolation.user == uid and result.isolation.level == mode.removeprefix("unsafe-")
    for path in (workspace / "d", workspace / "d" / "f"):
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid)
    assert "root eyes only" not in result.output and "Permission denied" in result.output
    assert "CapEff:\t0000000000000000" in result.output


async def test_output_is_streamed_and_coalesced(sandbox: Sandbox, workspace: Path) -> None:
    chunks: list[str] = []

    async def on_output(text: str) -> None:
        chunks.append(text)

    script = "for i in 1 2 3; do echo line$i; sleep 0.3; done"
    result = await sandbox.run(
        ["sh", "-c", script], workspace=workspace, limits=sandbox.limits(), on_output=on_output
    )
    assert "".join(chunks) == result.output == "line1\nline2\nline3\n"
    assert len(chunks) > 1  # streamed while the command ran, not handed over at the end

    chunks.clear()
    flood = await sandbox.run(
        ["seq", "1", "300000"], workspace=workspace, limits=sandbox.limits(), on_output=on_output
    )
    assert flood.ok, flood.output[:500]
    assert "".join(chunks) == "".join(f"{i}\n" for i in range(1, 300001))
    # ~2 MB arrive in hundreds of pipe reads; the callback runs at most ~10 times a second.
    assert len(chunks) <= 2 + flood.duration_seconds * 10


async def test_head_and_tail_with_a_marker(
    sandbox: Sandbox, workspace: Path, tmp_path: Path
) -> None:
    limits = sandbox.limits({"output_chars": 200})
    log = tmp_path / "run.log"
    result = await sandbox.run(
        ["seq", "1", "100000"], workspace=workspace, limits=limits, log_path=log
    )
    everything = "".join(f"{i}\n" for i in range(1, 100001))
    assert result.ok and result.truncated and result.output_bytes == len(everything)
    cut = len(everything) - 200
    assert result.output == f"{everything[:100]}\n[... {cut} bytes cut ...]\n{everything[-100:]}"
    assert log.read_text() == everything  # the log keeps it all


async def test_stdin_cwd_and_environment(
    sandbox: Sandbox, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPE_TEST_SECRET", "hunter2-do-not-leak")
    (workspace / "sub").mkdir()
    result = await sandbox.run(
        ["sh", "-c", "pwd; cat; echo; env | sort; cat /proc/1/environ | tr '\\0' '\\n'"],
        workspace=workspace,
        limits=sandbox.limits(),
        env={"GREETING": "hi"},
        stdin=b"from stdin",
        cwd="sub",
    )
    lines = result.output.splitlines()
    assert lines[:2] == ["/workspace/sub", "from stdin"]
    assert "hunter2-do-not-leak" not in result.output
    names = {line.split("=", 1)[0] for line in lines[2:] if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "GREETING", "PWD", "SHLVL", "_", "OLDPWD"}
    assert "GREETING=hi" in lines and "HOME=/workspace" in lines
    for bad in ("../", "/etc", "nope"):
        with pytest.raises(ValueError, match="not a directory inside the workspace"):
            await sandbox.run(["true"], workspace=workspace, limits=sandbox.limits(), cwd=bad)


async def test_cancelled_run_leaves_nothing(sandbox: Sandbox, workspace: Path) -> None:
    tag = marker()
    started = asyncio.Event()

    async def on_output(text: str) -> None:
        started.set()

    run = asyncio.create_task(
        sandbox.run(
            ["sh", "-c", f"setsid sleep {tag} & echo up; sleep {tag}"],
            workspace=workspace,
            limits=sandbox.limits(),
            on_output=on_output,
        )
    )
    await started.wait()
    assert processes_with(tag)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert processes_with(tag) == []
    assert leftover_cgroups() == []


def test_limits_from_settings(sandbox_settings: Settings) -> None:
    settings = sandbox_settings.model_copy(
        update={
            "sandbox_memory_mb": 100,
            "sandbox_max_wall_seconds": 30.0,
            "tool_output_chars": 999,
        }
    )
    sandbox = Sandbox(settings)
    assert sandbox.default_limits.memory_bytes == 100 * MiB
    assert sandbox.default_limits.output_chars == 999
    assert sandbox.ceiling.wall_seconds == 30.0
    limits = sandbox.limits({"wall_seconds": 500.0, "pids": 9, "unknown": 1})
    assert limits.wall_seconds == 30.0 and limits.pids == 9
    assert limits.cpu_seconds == settings.sandbox_cpu_seconds


async def test_bwrap_mode_fails_clearly_without_bwrap(
    make_sandbox: Callable[[str], Sandbox], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cape.sandbox import probe

    monkeypatch.setattr(probe, "_cache", {})
    monkeypatch.setenv("PATH", str(workspace))  # no bwrap on this PATH
    strict = make_sandbox("bwrap")
    with pytest.raises(SandboxRefused, match="bubblewrap is unusable: bwrap is not installed"):
        await strict.run(["true"], workspace=workspace, limits=strict.limits())
    # auto degrades, and the degraded mode contains nothing: it refuses, saying why.
    auto = make_sandbox("auto")
    with pytest.raises(SandboxRefused, match="degraded to rlimits: bwrap is not installed"):
        await auto.run(["true"], workspace=workspace, limits=auto.limits())
    unsafe = make_sandbox("unsafe-rlimits")
    result = await unsafe.run(["true"], workspace=workspace, limits=unsafe.limits())
    assert result.ok and result.isolation.level == "rlimits"
    assert "sandbox_mode is unsafe-rlimits" in result.isolation.notes


async def test_workspace_under_a_private_parent(sandbox: Sandbox, tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    workspace = private / "nested" / "ws"
    sandbox.prepare_workspace(workspace)
    result = await sandbox.run(
        ["sh", "-c", "echo made > here; pwd"], workspace=workspace, limits=sandbox.limits()
    )
    assert result.ok and result.output == "/workspace\n"
    assert (workspace / "here").read_text() == "made\n"
    # The parents were not opened up for the sandbox user (no ACL, same mode).
    assert private.stat().st_mode & 0o777 == 0o700
    assert "system.posix_acl_access" not in os.listxattr(private)
    if ROOT:
        assert workspace.stat().st_mode & 0o777 == 0o750


async def test_read_only_directories_are_visible_and_not_writable(
    sandbox: Sandbox, workspace: Path
) -> None:
    shared = Path(tempfile.mkdtemp(prefix="cape-test-ro-"))
    try:
        shared.chmod(0o755)
        (shared / "wheel.txt").write_text("fetched")
        (shared / "wheel.txt").chmod(0o644)
        script = f"cat {shared}/wheel.txt; echo x > {shared}/new.txt || echo refused"
        result = await sandbox.run(
            ["sh", "-c", script], workspace=workspace, limits=sandbox.limits(), read_only=[shared]
        )
        assert "fetched" in result.output and "refused" in result.output, result.output
        assert not (shared / "new.txt").exists()
        assert result.isolation.network is False
    finally:
        shutil.rmtree(shared)
