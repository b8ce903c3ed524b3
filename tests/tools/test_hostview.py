"""The host view: workspace paths as /workspace, other host paths and the host name hidden."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from activities.hostview import HostView, rewrite_file
from cape.settings import Settings


def _view(tmp_path: Path) -> tuple[HostView, Path, Settings]:
    settings = Settings(data_dir=tmp_path / "data")
    workspace = settings.workspace_root / "task_1"
    return HostView(settings, workspace), workspace, settings


def test_paths_map_by_whole_components(tmp_path: Path) -> None:
    view, workspace, settings = _view(tmp_path)
    root = settings.workspace_root
    text = f"cd {workspace}/src; ls {workspace}; cat {root}/task_10/x {settings.artifact_root}/a"
    assert view.text(text) == (
        "cd /workspace/src; ls /workspace; cat <workspaces>/task_10/x <artifacts>/a"
    )
    assert view.data({"a": [f"'{workspace}'", 3], "b": (str(tmp_path / "data"),)}) == {
        "a": ["'/workspace'", 3],
        "b": ("<data dir>",),
    }


def test_a_relative_data_dir_is_not_mistaken_for_paths_in_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path(".cape"))
    view = HostView(settings, settings.workspace_root / "task_1")
    assert view.text("/workspace/.cape/run-3.py and .cape") == "/workspace/.cape/run-3.py and .cape"
    assert view.text(f"at {tmp_path}/.cape/x") == "at <data dir>/x"


def test_the_host_name_is_replaced_as_a_whole_word_only(tmp_path: Path) -> None:
    view, _, settings = _view(tmp_path)
    host = socket.gethostname()
    assert settings.host_label.startswith("host-") and host not in settings.host_label
    assert view.text(f"{host}\nuser@{host}: x{host}y") == f"<host>\nuser@<host>: x{host}y"
    chosen = settings.model_copy(update={"host_id": "worker-7"})
    assert chosen.host_label == "worker-7"  # an id the operator chose is its own label


async def test_a_path_cut_between_two_pieces_of_output_is_still_mapped(tmp_path: Path) -> None:
    view, workspace, _ = _view(tmp_path)
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    stream = view.stream(send)
    whole = f"pwd: {workspace}\nnext {workspace}/a.txt done"
    for cut in range(0, len(whole), 7):
        await stream.write(whole[cut : cut + 7])
    await stream.flush()
    assert "".join(sent) == "pwd: /workspace\nnext /workspace/a.txt done"
    assert not any(str(tmp_path) in piece for piece in sent)


def test_a_log_file_is_rewritten_in_place(tmp_path: Path) -> None:
    view, workspace, _ = _view(tmp_path)
    log = tmp_path / "run.log"
    log.write_bytes(f"{workspace}/x\n\xff".encode("utf-8", "surrogateescape") + b"\xff end")
    rewrite_file(view, log, chunk_lines=1)
    assert log.read_bytes() == "/workspace/x\n\xff".encode() + b"\xff end"
