"""Locks tests: the real API and a real worker on the test's task queue."""

from __future__ import annotations

import pytest

from cape.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A request hands back 202 after a short block, so queueing needs no long requests.
    return settings.model_copy(update={"lock_block_seconds": 0.3})
