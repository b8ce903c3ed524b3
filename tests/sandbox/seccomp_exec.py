"""Run a program under a Docker seccomp profile, the way a container would, without Docker.

    python seccomp_exec.py PROFILE.json [--uid N] -- PROGRAM ARGS...

Loads the profile with libseccomp (through ctypes), optionally drops to uid/gid N (the image's
unprivileged `cape` user), then execs the program: the filter is inherited by everything it
starts, like a container's. Only what `deploy/seccomp-bwrap.json` uses is supported: a default
action and plain `names` rules with SCMP_ACT_ERRNO (no argument filters).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000


def load(profile: dict[str, object]) -> None:
    """Install the profile's filter on this process (and what it execs)."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW", "only allow-by-default profiles"
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    assert ctx, "seccomp_init failed"
    rules = profile["syscalls"]
    assert isinstance(rules, list)
    for rule in rules:
        assert rule["action"] == "SCMP_ACT_ERRNO" and "args" not in rule, rule
        action = SCMP_ACT_ERRNO | int(rule.get("errnoRet", 1))
        for name in rule["names"]:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            # Names of other architectures resolve to pseudo numbers libseccomp skips.
            result = lib.seccomp_rule_add(ctx, action, number, 0)
            assert result == 0 or number < 0, (name, result)
    assert lib.seccomp_load(ctx) == 0, "seccomp_load failed"


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    with open(options[0]) as handle:
        profile = json.load(handle)
    uid = int(options[options.index("--uid") + 1]) if "--uid" in options else None
    load(profile)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
