"""Importing the workflow (as the API does, to call it by reference) leaves the tools unloaded."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("weasyprint", "matplotlib", "trafilatura")


def test_the_workflow_imports_without_the_tool_modules() -> None:
    probe = (
        "import sys, workflows.agent_task, api.app\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == "", f"importing the workflow loaded {loaded}"


def test_the_tool_modules_load_on_first_use() -> None:
    probe = (
        "import sys\n"
        "from activities.tools.registry import get_tool\n"
        "get_tool('create_pdf')\n"
        "print('weasyprint' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert out == "True"
