"""`pip_install` never runs agent-controlled code with the network (issue 11, class 2).

The canary is a loopback listener the test opens, like Temporal, PostgreSQL and the API on a
worker host. The agent replaces its venv's `bin/python` with a script that connects to it, then
asks for `pip_install`: the script runs (it leaves a mark), the listener sees nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.e2e.tooling import call, events_of, pretty, results, run_task
from tests.tools.wheelhouse import make_index

FAKE_PYTHON = """#!/usr/bin/python3
import socket, sys
open('/workspace/fake-python-ran', 'w').write(' '.join(sys.argv))
print('FAKE PYTHON RAN', flush=True)
socket.create_connection(('127.0.0.1', {port}), 3).sendall(b'escaped')
print('CONNECTED', flush=True)
"""
# A venv with "pip" in it, whose interpreter is the agent's script.
PLANT = """
site=$(echo .venv/lib/python3*/site-packages)
mkdir -p "$site/pip" && touch "$site/pip/__init__.py"
rm -f .venv/bin/python
cat > .venv/bin/python <<'EOF'
{script}EOF
chmod +x .venv/bin/python
echo planted
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    index = make_index(tmp_path / "index", {"canarypkg": "1.0"})
    return settings.model_copy(update={"pip_allow": ["canarypkg"], "pip_index_url": index})


async def test_a_replaced_venv_python_gets_no_network_during_pip_install(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    accepted: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append("connection")  # on accept: nothing the client does can hide it
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    plant = PLANT.format(script=FAKE_PYTHON.format(port=port))
    turns = [
        Turn(tool_calls=[call("python", code="print('venv made')")]),
        Turn(tool_calls=[call("shell", command=plant)]),
        Turn(tool_calls=[call("pip_install", packages=["canarypkg"])]),
        Turn(content="done"),
    ]
    async with server:
        task = await run_task(api, fake_llm, turns)
    assert task["status"] == "succeeded", pretty(task)
    _, planted, installed = results(await events_of(settings, task["id"], "tool-result"))
    assert "planted" in planted["content"], planted
    # The agent's program did run as the installer ...
    assert (settings.workspace_root / task["id"] / "fake-python-ran").exists(), installed
    assert "FAKE PYTHON RAN" in installed["content"], installed
    # ... and reached nothing: the canary itself saw no connection.
    assert accepted == [], accepted
    assert "CONNECTED" not in installed["content"], installed
