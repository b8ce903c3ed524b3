"""The `chaos` marker and the fixtures shared by the fault-injection tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cape.settings import Settings
from tests.chaos.support import chaos_settings

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: fault-injection tests (kills, restarts, outages); `-m 'not chaos'`"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test of this folder carries the marker, so `-m chaos` / `-m 'not chaos'` select it.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The per-test settings with retries that outlast the injected faults (and the API's
    workflow tuning follows them, since the API puts them into each workflow's input)."""
    return chaos_settings(settings)
