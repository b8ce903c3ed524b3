"""`cape run --file PATH`: the files go up with the request and the task reads them in input/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Script, Turn
from tests.cape.test_cli_tasks import cape, finished
from tests.conftest import Api
from tests.e2e.tooling import call, pretty, tool_steps


async def test_run_with_files_gives_them_to_the_first_tool_step(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha via the cli\n")
    (tmp_path / "b.csv").write_text("name,value\nbeta,2\n")
    name = f"cli-files-{uuid.uuid4().hex[:8]}"
    fake_llm.add_script(Script(name=name, turns=[
        Turn(tool_calls=[call("shell", command="cat input/a.txt input/b.csv")]),
        Turn(content="read them"),
    ]))  # fmt: skip
    args = ("run", "read the files", "--agent", "engineer", "--model", f"script:{name}",
            "--file", str(tmp_path / "a.txt"), "--file", str(tmp_path / "b.csv"))  # fmt: skip
    result = await cape(api.url, api.key, *args)
    assert result.exit_code == 0, result.output
    task_id = result.stdout.splitlines()[0].split()[1]
    task = await finished(api, task_id)
    assert task["output"] == {"answer": "read them"}, pretty(task)
    shown = json.dumps((await tool_steps(settings, task_id))[0].output)
    assert "alpha via the cli" in shown and "beta,2" in shown, shown

    key = f"cli-{uuid.uuid4().hex}"
    again = (*args, "--no-follow", "--idempotency-key", key)
    first, second = await cape(api.url, api.key, *again), await cape(api.url, api.key, *again)
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert first.stdout == second.stdout and first.stdout.startswith("task_")
    await finished(api, first.stdout.strip())


async def test_run_refuses_a_symlink_and_names_a_refused_file(api: Api, tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("x")
    (tmp_path / "link.txt").symlink_to(target)
    linked = await cape(api.url, api.key, "run", "x", "--file", str(tmp_path / "link.txt"))
    assert linked.exit_code == 2 and "symbolic link" in linked.output, linked.output
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    refused = await cape(api.url, api.key, "run", "x", "--file", str(tmp_path / "tool.exe"))
    assert refused.exit_code == 1, refused.output
    assert "body.file.0" in refused.output and "not accepted" in refused.output, refused.output
