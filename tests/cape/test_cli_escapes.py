"""Escape sequences in a task's tool output and answer never reach the terminal raw.

A real task runs `printf` in the sandbox with an OSC title change and a clear-screen, and the
model's answer carries them too; every human view of the CLI shows the text without them, and
the JSON views keep the data exact (escaped, as JSON does).
"""

from __future__ import annotations

import json

import pytest
from temporalio.worker import Worker

from cli.terminal import safe
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.cape.test_cli_tasks import cape, finished
from tests.conftest import Api
from tests.e2e.tooling import call, start_task

TITLE, CLEAR = "\x1b]0;pwned\x07", "\x1b[2J"
RAW = ("\x1b", "\x07", "\x9b", "\x9d")


async def test_tool_output_escapes_are_neutralized_in_every_view(
    api: Api, worker: Worker, fake_llm: FakeLLMServer
) -> None:
    printf = r"printf '\033]0;pwned\007before\033[2Jafter\n'"
    answer = f"all {TITLE}done{CLEAR} here\r\x1b[31mred\x1b[0m"
    turns = [Turn(tool_calls=[call("shell", command=printf)]), Turn(content=answer)]
    task_id = await start_task(api, fake_llm, turns)
    task = await finished(api, task_id)
    assert task["status"] == "succeeded", task

    for args in (["follow", task_id], ["show", task_id], ["wait", task_id], ["ls"]):
        result = await cape(api.url, api.key, "tasks", *args)
        assert result.exit_code == 0, result.output
        assert not any(char in result.output for char in RAW), (args, result.output)
        if args[0] != "ls":
            assert "all done here" in result.stdout, (args, result.stdout)
        if args[0] == "follow":
            assert "| beforeafter" in result.stdout, result.stdout

    # JSON keeps the exact data, escaped: nothing raw on the terminal either.
    followed = await cape(api.url, api.key, "tasks", "follow", task_id, "--json")
    assert not any(char in followed.stdout for char in RAW)
    events = [json.loads(line) for line in followed.stdout.splitlines()]
    results = [e["data"]["content"] for e in events if e["type"] == "tool-result"]
    assert f"{TITLE}before{CLEAR}after" in results[0]
    shown = await cape(api.url, api.key, "tasks", "show", task_id, "--json")
    assert not any(char in shown.stdout for char in RAW)
    assert json.loads(shown.stdout)["task"]["output"]["answer"] == answer


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("osc 52 \x1b]52;c;cGF5bG9hZA==\x1b\\ end", "osc 52  end"),
        ("8-bit \x9b2J csi \x9d0;t\x9c osc", "8-bit  csi  osc"),
        ("cut off \x1b]0;no terminator", "cut off "),
        ("bell\x07 back\x08 nul\x00", "bell\\x07 back\\x08 nul\\x00"),
        ("tab\tand\nnewline, cr\r\nlf", "tab\tand\nnewline, cr\nlf"),
        ("unicode é ✓ 日本", "unicode é ✓ 日本"),
    ],
)
def test_safe_removes_sequences_and_shows_other_controls(text: str, shown: str) -> None:
    assert safe(text) == shown
