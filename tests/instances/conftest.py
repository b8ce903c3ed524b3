"""Instances tests: the real API and a real worker, a short follow heartbeat."""

from __future__ import annotations

import pytest

from cape.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A killed worker's follow of a task moves on within a second or two.
    return settings.model_copy(update={"instance_heartbeat_seconds": 2.0})
