"""The `python` and `pip_install` tools in the real sandbox, with the task's real venv."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from activities.tools.base import ToolError, ToolOutput
from activities.tools.python import TOOLS, check_requirements
from tests.tools.conftest import ToolRig
from tests.tools.wheelhouse import make_index

PYTHON, PIP_INSTALL = TOOLS


async def python(rig: ToolRig, step_no: int = 1, **args: Any) -> ToolOutput:
    return await PYTHON.handler(rig.context(step_no), PYTHON.validate(args))


async def pip_install(rig: ToolRig, *packages: str) -> ToolOutput:
    args = PIP_INSTALL.validate({"packages": list(packages)})
    return await PIP_INSTALL.handler(rig.context(), args)


async def test_code_runs_in_the_task_venv_with_args(rig: ToolRig) -> None:
    code = "import sys\nprint('prefix', sys.prefix)\nprint('argv', sys.argv[1:])"
    out = await python(rig, code=code, args=["a b", "--flag"])

    assert out.content.startswith("exit code: 0\n")
    assert "prefix /workspace/.venv" in out.content
    assert "argv ['a b', '--flag']" in out.content
    assert "argv" in "".join(rig.emitted)
    assert (rig.workspace / ".cape" / "run-1.py").read_text() == code
    assert (rig.workspace / ".venv").stat().st_uid == rig.settings.sandbox_uid
    info = await rig.store.get(rig.task_id, out.artifacts[0])
    assert info.name == "step-1-python.log"
    assert out.isolation is not None


async def test_file_mode_runs_a_workspace_script(rig: ToolRig) -> None:
    (rig.workspace / "tools").mkdir()
    (rig.workspace / "tools" / "add.py").write_text(
        "import sys\nprint(sum(int(a) for a in sys.argv[1:]))\nopen('sum.txt', 'w').write('ok')\n"
    )
    out = await python(rig, file="tools/add.py", args=["2", "40"])

    assert out.content.startswith("exit code: 0\n")
    assert "42" in out.content
    assert (rig.workspace / "sum.txt").read_text() == "ok"


async def test_an_exception_reports_its_traceback_and_exit_code(rig: ToolRig) -> None:
    out = await python(rig, code="x = 1\nraise ValueError('boom')\n")

    assert out.content.startswith("exit code: 1\n")
    assert "Traceback (most recent call last)" in out.content
    assert "raise ValueError('boom')" in out.content
    assert "ValueError: boom" in out.content


async def test_code_or_file_exactly_one_and_inside_the_workspace(rig: ToolRig) -> None:
    (rig.workspace / "notes.txt").write_text("x")
    with pytest.raises(ToolError, match="exactly one"):
        await python(rig, code="print(1)", file="a.py")
    with pytest.raises(ToolError, match="exactly one"):
        await python(rig)
    with pytest.raises(ToolError, match=r"not a \.py file"):
        await python(rig, file="notes.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        await python(rig, file="../elsewhere.py")
    with pytest.raises(ToolError, match="relative"):
        await python(rig, file="/etc/x.py")
    with pytest.raises(ToolError, match="not a file"):
        await python(rig, file="missing.py")


async def test_the_venv_is_created_once_and_reused(rig: ToolRig) -> None:
    await python(rig, code="print(1)")
    config = rig.workspace / ".venv" / "pyvenv.cfg"
    before = config.stat()
    (rig.workspace / ".venv" / "kept.txt").write_text("still here")

    out = await python(rig, step_no=2, code="print(2)")

    assert out.content.startswith("exit code: 0\n")
    after = config.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (rig.workspace / ".venv" / "kept.txt").exists()


async def test_parallel_calls_share_one_new_venv(rig: ToolRig) -> None:
    outs = await asyncio.gather(*(python(rig, n, code=f"print({n} * 7)") for n in (1, 2, 3)))

    for n, out in zip((1, 2, 3), outs, strict=True):
        assert out.content.startswith("exit code: 0\n"), out.content
        assert f"\n{n * 7}\n" in out.content


async def test_cannot_read_etc_shadow(rig: ToolRig) -> None:
    out = await python(rig, code="print(open('/etc/shadow').read())")

    assert out.content.startswith("exit code: 1\n")
    assert "PermissionError" in out.content or "FileNotFoundError" in out.content
    assert "root:" not in out.content


async def test_no_network_even_to_the_hosts_loopback(rig: ToolRig) -> None:
    connections: list[bool] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(True)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = (
        "import socket\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "print('CONNECTED')\n"
    )
    async with server:
        out = await python(rig, code=code)

    assert out.content.startswith("exit code: 1\n")
    assert "CONNECTED" not in out.content
    assert connections == []


def test_requirements_are_checked_against_the_allow_list() -> None:
    allow = ["Six", "typing_extensions"]
    checked = check_requirements([" six==1.16.0", "Typing.Extensions>=4,<5", "six[x]"], allow)
    assert checked == ["six==1.16.0", "Typing.Extensions>=4,<5", "six[x]"]

    with pytest.raises(ToolError, match="'requests' is not on the operator's allow-list"):
        check_requirements(["requests"], allow)
    for bad in ["https://example.org/six.whl", "six @ https://x/six.whl", "./six", "six; os_name"]:
        with pytest.raises(ToolError, match="not a plain requirement"):
            check_requirements([bad], allow)
    for option in ["-e .", "--index-url=http://x", "-r reqs.txt"]:
        with pytest.raises(ToolError, match="options are not accepted"):
            check_requirements([option], allow)


async def test_pip_install_refuses_without_an_allow_list(rig: ToolRig) -> None:
    with pytest.raises(ToolError, match="CAPE_PIP_ALLOW"):
        await pip_install(rig, "six")
    rig.settings = rig.settings.model_copy(update={"pip_allow": ["six"]})
    with pytest.raises(ToolError, match="allow-list"):
        await pip_install(rig, "six", "requests")
    assert not (rig.workspace / ".venv").exists()


async def test_pip_install_then_import(rig: ToolRig) -> None:
    # The registry is reachable here and in CI; honour the host's index if one is configured.
    update = {"pip_allow": ["six"], "pip_index_url": os.environ.get("PIP_INDEX_URL", "")}
    rig.settings = rig.settings.model_copy(update=update)

    installed = await pip_install(rig, "six")
    assert installed.content.startswith("exit code: 0\n"), installed.content
    assert installed.isolation is not None
    assert installed.isolation["network"] is False  # fetched by the host, installed offline

    out = await python(rig, step_no=2, code="import six\nprint('six', six.__version__)")
    assert out.content.startswith("exit code: 0\n"), out.content
    assert "six 1." in out.content


async def test_pip_install_fetches_wheels_on_the_host_and_installs_offline(
    rig: ToolRig, tmp_path: Path
) -> None:
    index = make_index(tmp_path / "index", {"canarypkg": "1.0"})
    update = {"pip_allow": ["canarypkg"], "pip_index_url": index}
    rig.settings = rig.settings.model_copy(update=update)

    installed = await pip_install(rig, "canarypkg==1.0")
    assert installed.content.startswith("exit code: 0\n"), installed.content
    assert "Successfully installed canarypkg-1.0" in installed.content
    out = await python(rig, step_no=2, code="import canarypkg\nprint('v', canarypkg.VERSION)")
    assert "v 1.0" in out.content, out.content
    assert not list(rig.workspace.rglob("*.whl"))  # the wheels stayed outside the workspace


async def test_pip_install_refuses_a_package_without_a_wheel(rig: ToolRig, tmp_path: Path) -> None:
    index = make_index(tmp_path / "index", {}, sdists={"sdistonly": "1.0"})
    update = {"pip_allow": ["sdistonly"], "pip_index_url": index}
    rig.settings = rig.settings.model_copy(update=update)

    with pytest.raises(ToolError, match=r"wheels \(binary packages\) only") as caught:
        await pip_install(rig, "sdistonly")
    assert "source distribution (sdist)" in str(caught.value)
    assert not (rig.workspace / ".venv").exists()
