"""The hot path's tables, for Core statements.

A statement built on a mapped class (`update(Task)`) runs through the ORM's bulk path even on a
session with nothing loaded: it resolves attribute names and evaluates its WHERE clause against
the identity map to keep loaded objects in step. The worker's step boundaries and the API's
task start load no objects, so they build their statements on these tables instead: the same
SQL, without that work (a fifth of the worker's database CPU in a py-spy profile).
"""

from __future__ import annotations

from sqlalchemy import Table

from cape.db.models import Artifact, Task, TaskEvent, TaskStep

TASKS: Table = Task.__table__  # type: ignore[assignment]
STEPS: Table = TaskStep.__table__  # type: ignore[assignment]
EVENTS: Table = TaskEvent.__table__  # type: ignore[assignment]
ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]
