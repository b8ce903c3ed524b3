"""A command that loaded the Temporal runtime leaves with its own status (sdk-python #300)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.exiting import exit_status

PROGRAM = """
import atexit, sys
from pathlib import Path
import temporalio.bridge.temporal_sdk_bridge  # the native runtime this exit path is about
from cli.exiting import exit_now, runtime_loaded
assert runtime_loaded()
atexit.register(lambda: Path(sys.argv[1]).write_text("ran"))
sys.stdout.write("buffered, not yet flushed")
exit_now(7)
"""


def test_exit_now_runs_exit_handlers_flushes_and_keeps_the_status(tmp_path: Path) -> None:
    marker = tmp_path / "atexit"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(marker)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == "buffered, not yet flushed"
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), ("bad input", 1)])
def test_exit_status_is_what_the_interpreter_would_give(
    code: int | str | None, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_status(SystemExit(code)) == status
    assert capsys.readouterr().err == ("bad input\n" if isinstance(code, str) else "")


def test_a_failing_command_that_loaded_the_runtime_still_says_why(tmp_path: Path) -> None:
    # Nothing listens on port 9: doctor connects (loading the runtime), fails, and must exit 1
    # with its message rather than a clean 0 or an abort.
    env = {"CAPE_DATA_DIR": str(tmp_path), "CAPE_TEMPORAL_ADDRESS": "127.0.0.1:9", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "does not answer" in done.stderr
