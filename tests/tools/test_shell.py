"""The `shell` tool in the real sandbox, and its program allow/deny guard."""

from __future__ import annotations

from typing import Any

import pytest

from activities.tools.base import ToolError, ToolOutput
from activities.tools.shell import TOOLS, programs
from tests.tools.conftest import ToolRig

SHELL = TOOLS[0]


async def run(rig: ToolRig, step_no: int = 1, **args: Any) -> ToolOutput:
    return await SHELL.handler(rig.context(step_no), SHELL.validate(args))


async def test_echo_writes_a_file_owned_by_the_sandbox_user(rig: ToolRig) -> None:
    out = await run(rig, command="echo hello && echo data > out.txt")

    assert out.content.startswith("exit code: 0\n")
    assert "hello" in out.content
    made = rig.workspace / "out.txt"
    assert made.read_text() == "data\n"
    assert made.stat().st_uid == rig.settings.sandbox_uid
    assert out.isolation is not None
    assert out.isolation["level"] in ("bwrap", "rlimits")
    assert out.isolation["network"] is False


async def test_non_zero_exit_is_a_result_with_the_output(rig: ToolRig) -> None:
    out = await run(rig, command="echo oops >&2; exit 3")

    assert out.content.startswith("exit code: 3\n")
    assert "oops" in out.content
    assert "KILLED" not in out.content


async def test_output_streams_and_the_full_log_is_an_artifact(rig: ToolRig) -> None:
    out = await run(rig, step_no=4, command="echo first-line; echo second-line")

    assert "first-line" in "".join(rig.emitted)
    [artifact_id] = out.artifacts
    assert artifact_id in out.content
    info = await rig.store.get(rig.task_id, artifact_id)
    assert info.name == "step-4-shell.log"
    assert info.step_no == 4
    assert rig.store.path(info).read_text() == "first-line\nsecond-line\n"

    again = await run(rig, step_no=4, command="echo retried")
    assert again.artifacts == [artifact_id]
    assert [a.id for a in await rig.store.list(rig.task_id)] == [artifact_id]


async def test_big_output_keeps_head_and_tail_for_the_model(rig: ToolRig) -> None:
    out = await run(rig, command="seq 1 200000")

    assert "truncated to its head and tail" in out.content
    assert out.content.split("\n")[2:5] == ["1", "2", "3"]
    assert out.content.rstrip().endswith("199999\n200000")
    assert "\n100000\n" not in out.content
    assert len(out.content) < 2 * rig.settings.tool_output_chars
    info = await rig.store.get(rig.task_id, out.artifacts[0])
    assert "\n100000\n" in rig.store.path(info).read_text()


async def test_a_timeout_is_reported_as_a_kill(rig: ToolRig) -> None:
    out = await run(rig, command="echo started; sleep 30", timeout_seconds=0.5)

    assert "KILLED:" in out.content
    assert "timeout" in out.content
    assert "started" in out.content


@pytest.mark.parametrize(
    "command",
    [
        "ssh example.org",
        "/usr/bin/ssh example.org",
        "echo hi | ssh example.org",
        "true && curl http://example.org",
        "echo hi; env A=1 curl http://example.org",
        "timeout 5 curl http://example.org",
        "sh -c 'curl http://example.org'",
        'echo "$(curl http://example.org)"',
        "cd /tmp\ncurl http://example.org",
    ],
)
async def test_deny_list_blocks_programs_wherever_they_appear(rig: ToolRig, command: str) -> None:
    rig.settings = rig.settings.model_copy(update={"shell_deny": ["ssh", "curl"]})

    with pytest.raises(ToolError, match=r"(ssh|curl).*denied"):
        await run(rig, command=command + " > ran.txt")
    assert not (rig.workspace / "ran.txt").exists()


async def test_denied_names_as_arguments_are_fine(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"shell_deny": ["ssh", "curl"]})

    out = await run(rig, command="echo ssh curl # ssh")
    assert out.content.startswith("exit code: 0\n")


async def test_allow_list_mode(rig: ToolRig) -> None:
    rig.settings = rig.settings.model_copy(update={"shell_allow": ["ls", "seq"], "shell_deny": []})

    out = await run(rig, command="cd . && seq 1 2 && ls -a > /dev/null")
    assert out.content.startswith("exit code: 0\n")
    with pytest.raises(ToolError, match="'cat' is not allowed"):
        await run(rig, command="seq 1 2 | cat")
    with pytest.raises(ToolError, match="'rm' is not allowed"):
        await run(rig, command="ls; rm -rf x")


async def test_cwd_runs_in_a_subdirectory_and_cannot_escape(rig: ToolRig) -> None:
    (rig.workspace / "sub").mkdir()
    out = await run(rig, command="pwd", cwd="sub")
    assert "/workspace/sub" in out.content

    for cwd in ("..", "../other", "/etc", "sub/../../x"):
        with pytest.raises(ToolError, match="cwd"):
            await run(rig, command="pwd", cwd=cwd)
    with pytest.raises(ToolError, match="not a directory"):
        await run(rig, command="pwd", cwd="missing")


def test_schema_refuses_unknown_arguments() -> None:
    with pytest.raises(ToolError, match="bogus"):
        SHELL.validate({"command": "ls", "bogus": 1})
    with pytest.raises(ToolError, match="command"):
        SHELL.validate({"cwd": "."})


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("A=1 B=2 make -j4", ["make"]),
        ("2>/dev/null ls -l >> log.txt", ["ls"]),
        ("cat > f.py <<'EOF'\nimport os\nssh x\nEOF\npython3 f.py", ["cat", "python3"]),
        ("cat <<-END\n\tcurl x\n\tEND\nls", ["cat", "ls"]),
        ("echo a#b\nssh x", ["echo", "ssh"]),
        ("ls # curl\npwd", ["ls", "pwd"]),
        ("for f in a b; do wc $f; done", ["wc"]),
        ("if test -f x; then rm x; fi", ["test", "rm"]),
        ("echo $((1 + 2)) && (cd sub; make)", ["echo", "cd", "make"]),
        ("xargs -n 1 wget < urls", ["xargs", "wget"]),
        ("sudo -u bob nc -l 80", ["sudo", "nc"]),
        ("bash -o pipefail -ec 'curl x | tee y'", ["bash", "curl", "tee"]),
        ("eval 'ssh host'", ["eval", "ssh"]),
        ("echo `whoami`", ["echo", "whoami"]),
        ("ls \\\n  | grep x &", ["ls", "grep"]),
    ],
)
def test_programs_finds_every_invoked_program(command: str, expected: list[str]) -> None:
    assert programs(command) == expected


def test_unparseable_commands_are_refused() -> None:
    with pytest.raises(ToolError, match="cannot parse"):
        programs("echo 'unclosed")
