"""Attacks on the filesystem, the host's secrets and the network are contained and reported."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from cape.sandbox.launcher import Sandbox
from cape.settings import Settings


async def test_symlink_and_dotdot_escapes_fail(
    sandbox: Sandbox, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside-secret")
    (workspace / "to-outside").symlink_to(outside)
    (workspace / "to-etc").symlink_to("/etc")
    name = f"cape-pwned-{uuid.uuid4().hex[:8]}"
    script = f"""
        ln -s /root to-root
        cat to-outside/secret.txt
        echo x > to-outside/{name}
        echo x > to-etc/{name}
        echo x > to-root/{name}
        cat to-etc/shadow
        ls to-root
        echo x > ../{name}
        echo x > ../../{name}
        cat ../../../etc/shadow
        ls ..
    """
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=sandbox.limits())
    assert result.exit_code == 0  # the last command: `ls ..` shows the sandbox's own root
    assert "outside-secret" not in result.output and "root:" not in result.output
    for host in (outside, Path("/etc"), Path("/root"), workspace.parent, workspace.parent.parent):
        assert not (host / name).exists()
    assert result.output.count("Read-only file system") >= 3
    assert {"usr", "workspace"} <= set(result.output.splitlines())  # `ls ..`: the sandbox's /


async def test_writing_outside_the_workspace_fails(sandbox: Sandbox, workspace: Path) -> None:
    name = f"cape-pwned-{uuid.uuid4().hex[:8]}"
    script = f"""
        for dir in /usr /etc /bin /lib /proc /; do
            echo x > $dir/{name} && echo "WROTE $dir"
        done
        echo x > /tmp/{name} && echo "private tmp ok"
        echo x > /workspace/{name} && echo "workspace ok"
    """
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=sandbox.limits())
    assert "WROTE" not in result.output
    assert "private tmp ok" in result.output and "workspace ok" in result.output
    for host in ("/usr", "/etc", "/bin", "/lib", "/", "/tmp"):
        assert not (Path(host) / name).exists()
    assert (workspace / name).read_text() == "x\n"


async def test_host_secrets_are_not_visible(
    sandbox: Sandbox, workspace: Path, sandbox_settings: Settings, tmp_path: Path
) -> None:
    secret = tmp_path / "world-readable-secret.txt"
    secret.write_text("readable-by-anyone")
    secret.chmod(0o644)
    data_file = sandbox_settings.data_dir / "cape.db"
    data_file.write_text("the-database")
    data_file.chmod(0o644)
    script = f"""
        cat /etc/shadow; ls /root; ls /home
        cat {secret}; cat {data_file}; ls {sandbox_settings.data_dir}
        cat /proc/1/environ; ls /sys/fs/cgroup
    """
    result = await sandbox.run(["sh", "-c", script], workspace=workspace, limits=sandbox.limits())
    for leaked in ("root:", "readable-by-anyone", "the-database", "memory"):
        assert leaked not in result.output
    assert result.output.count("No such file or directory") >= 6


async def test_no_network_under_bwrap_only_degraded_runs_reach_loopback(
    make_sandbox: Callable[[str], Sandbox], workspace: Path
) -> None:
    accepted: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append("connection")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connect = [
        "python3",
        "-c",
        f"import socket; socket.create_connection(('127.0.0.1', {port}), 3); print('CONNECTED')",
    ]
    try:
        sandbox = make_sandbox("bwrap")
        blocked = await sandbox.run(connect, workspace=workspace, limits=sandbox.limits())
        assert not blocked.ok and "CONNECTED" not in blocked.output
        assert "ConnectionRefusedError" in blocked.output or "unreachable" in blocked.output
        assert accepted == [] and blocked.isolation.network is False

        degraded = make_sandbox("unsafe-rlimits")
        open_net = await degraded.run(connect, workspace=workspace, limits=degraded.limits())
        assert "CONNECTED" in open_net.output
        assert open_net.isolation.level == "rlimits" and open_net.isolation.network is True
    finally:
        server.close()
        await server.wait_closed()
    assert len(accepted) == 1  # the degraded run's only


async def test_rlimits_mode_still_guards_root_files(
    make_sandbox: Callable[[str], Sandbox], workspace: Path
) -> None:
    sandbox = make_sandbox("unsafe-rlimits")
    result = await sandbox.run(
        ["sh", "-c", "cat /etc/shadow; ls /root; grep NoNewPrivs /proc/self/status; su -c id"],
        workspace=workspace,
        limits=sandbox.limits(),
    )
    # su is setuid root, but no_new_privs keeps it from becoming root.
    assert not result.ok and "NoNewPrivs:\t1" in result.output
    assert "root:" not in result.output and "uid=0" not in result.output
    assert result.output.count("Permission denied") >= 2
    assert result.isolation.level == "rlimits" and result.isolation.user != 0
