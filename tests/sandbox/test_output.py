"""The output collector on its own: UTF-8 across chunks, head+tail cut, callback errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cape.sandbox.launcher import Sandbox
from cape.sandbox.output import OutputCollector
from tests.sandbox.conftest import leftover_cgroups, processes_with


async def test_utf8_split_across_chunks_and_cut_points() -> None:
    got: list[str] = []

    async def on_output(text: str) -> None:
        got.append(text)

    collector = OutputCollector(
        output_chars=10, cap_bytes=10**6, on_output=on_output, log_path=None
    )
    data = "héllo wörld ünïcödé ✓✓✓ end".encode()
    for index in range(len(data)):  # one byte at a time: every character is split
        assert collector.feed(data[index : index + 1])
        await collector.flush(float(index), force=True)
    await collector.close(1e9)
    assert "".join(got) == data.decode()
    output, truncated = collector.render()
    assert truncated and "\ufffd" not in output
    head, marker, tail = output.partition("\n[... ")
    assert data.decode().startswith(head) and data.decode().endswith(tail.split("...]\n")[1])
    assert marker and f"{len(data) - 10} bytes cut" in output


async def test_small_output_is_whole_and_invalid_bytes_are_replaced() -> None:
    collector = OutputCollector(output_chars=100, cap_bytes=1000, on_output=None, log_path=None)
    collector.feed(b"ok \xff\xfe done\n")
    await collector.close(0.0)
    assert collector.render() == ("ok \ufffd\ufffd done\n", False)


async def test_a_failing_callback_still_kills_the_run(sandbox: Sandbox, workspace: Path) -> None:
    tag = f"1000.{uuid.uuid4().int % 10**9:09d}"

    async def on_output(text: str) -> None:
        raise RuntimeError("event store down")

    with pytest.raises(RuntimeError, match="event store down"):
        await sandbox.run(
            ["sh", "-c", f"echo hi; sleep {tag}"],
            workspace=workspace,
            limits=sandbox.limits(),
            on_output=on_output,
        )
    assert processes_with(tag) == []
    assert leftover_cgroups() == []
