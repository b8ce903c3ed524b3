"""The benchmark scripts still run end to end: tiny --quick runs against real services.

They cover what the scripts share (services as subprocesses, scripted LLM, load through the
API, the summary table); long_task.py also reads Temporal histories across continue-as-new.
The figures are not checked: speed is measured by the scripts, not by tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *options: str) -> str:
    command = [sys.executable, str(ROOT / "bench" / script), "--quick", "--log-level", "WARNING"]
    done = subprocess.run(
        [*command, *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.timeout(300)
def test_long_task_reads_every_run_of_a_continued_task() -> None:
    out = run_bench("long_task.py", "--turns", "4", "--history-events-limit", "20")
    assert "| status | succeeded | succeeded |" in out
    assert "| steps | 10 | 10 |" in out
    assert "continued as new" in out


@pytest.mark.timeout(300)
def test_api_latency_measures_posts_and_gets() -> None:
    out = run_bench("api_latency.py", "--requests", "6", "--warmup", "0", "--hold", "1")
    assert "| POST p99 ms |" in out
    assert "| GET p99 ms |" in out
    assert "answered 503" not in out
