"""Facts about other processes: who they are (to stop only the right one), who holds a port.

Linux reads /proc; elsewhere `ps` and `lsof` answer when installed, else the answer is None.
Every lookup is best effort: a process may exit while it is read, or belong to another user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"  # the st column of /proc/net/tcp for a listening socket


def process_identity(pid: int, proc: Path = PROC) -> str | None:
    """A string that names one process for its whole life, or None when it is not running.

    A pid is reused after its process exits; the start time (clock ticks after boot) plus the
    command line tells the process that wrote a pid file from a later one with the same pid.

    Args:
        pid: The process id.
        proc: The procfs mount (tests point it elsewhere).

    Returns:
        `"<start time> <command line>"`, or None if no such process (or it cannot be read).
    """
    if pid <= 0:
        return None
    if proc.is_dir():
        try:
            stat = (proc / str(pid) / "stat").read_text()
            cmdline = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        # The command name (field 2) may hold spaces and parentheses: split after its last ")".
        fields = stat.rpartition(")")[2].split()
        if not fields or fields[0] == "Z":  # a zombie has no command line left to compare
            return None
        start = fields[19]  # field 22 of stat(5), counted from field 3
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        return f"{start} {command}"
    return _ps_identity(pid)


def _ps_identity(pid: int, *columns: str) -> str | None:
    if shutil.which("ps") is None:
        return None
    options = [arg for column in columns or ("lstart=", "command=") for arg in ("-o", column)]
    found = subprocess.run(
        ["ps", *options, "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or None


def command_line(pid: int, proc: Path = PROC, limit: int = 120) -> str | None:
    """The command line of `pid`, shortened to `limit` characters (None if unreadable)."""
    if proc.is_dir():
        identity = process_identity(pid, proc)
        command = identity.split(" ", 1)[1] if identity else None
    else:
        command = _ps_identity(pid, "command=")
    if command is None:
        return None
    return command if len(command) <= limit else command[: limit - 3] + "..."


def port_holder(port: int, proc: Path = PROC) -> str | None:
    """Which process listens on TCP `port` (any address), for a "port in use" message.

    Args:
        port: The TCP port.
        proc: The procfs mount.

    Returns:
        `"pid N (command line)"`, `"a process of uid N"` when its fds are not readable, or None
        when nothing found listens there (or the platform offers no way to tell).
    """
    if not proc.is_dir():
        return _lsof_holder(port)
    sockets = _listening_inodes(port, proc)
    if not sockets:
        return None
    wanted = {f"socket:[{inode}]" for inode in sockets}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        if wanted.intersection(_fd_links(entry / "fd")):
            pid = int(entry.name)
            return f"pid {pid} ({command_line(pid, proc) or '?'})"
    return f"a process of uid {min(sockets.values())}"


def _fd_links(fd_dir: Path) -> set[str]:
    """What the open fds of one process point to (empty if gone or another user's)."""
    links: set[str] = set()
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return links
    for fd in fds:
        try:
            links.add(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile (the listing's own fd, for one)
    return links


def _listening_inodes(port: int, proc: Path) -> dict[str, int]:
    """Socket inode to owner uid, for sockets listening on `port` (IPv4 and IPv6)."""
    found: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if len(cols) > 9 and cols[3] == TCP_LISTEN and int(cols[1].split(":")[1], 16) == port:
                found[cols[9]] = int(cols[7])
    return found


def _lsof_holder(port: int) -> str | None:
    if sys.platform == "win32" or shutil.which("lsof") is None:
        return None
    found = subprocess.run(
        ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-t"],
        capture_output=True,
        text=True,
        check=False,
    )
    pids = found.stdout.split()
    if not pids:
        return None
    return f"pid {pids[0]} ({command_line(int(pids[0])) or '?'})"
