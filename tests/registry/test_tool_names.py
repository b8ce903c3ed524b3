"""cape.tool_names.TOOL_NAMES lists exactly the tools the worker offers."""

from __future__ import annotations

from activities.tools.registry import TOOLS
from cape.tool_names import TOOL_NAMES


def test_every_tool_of_the_worker_is_a_known_name() -> None:
    assert set(TOOLS) <= TOOL_NAMES, sorted(set(TOOLS) - TOOL_NAMES)


def test_every_known_name_is_a_tool_of_the_worker() -> None:
    assert set(TOOLS) >= TOOL_NAMES, sorted(TOOL_NAMES - set(TOOLS))
