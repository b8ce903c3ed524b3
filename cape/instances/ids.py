"""Instance ids and names."""

from __future__ import annotations

import uuid

INSTANCE_PREFIX = "inst_"
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # unique within the team


def new_instance_id() -> str:
    """A fresh instance id."""
    return f"{INSTANCE_PREFIX}{uuid.uuid4().hex}"
