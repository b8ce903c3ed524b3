"""The tasks page's query: the JSON listing's filters and cursor paging, plus a time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from api.tasks.queries import Page, task_filters, task_page
from api.tasks.views import task_usage
from cape.auth import Principal
from cape.db.models import Task
from cape.domain import TaskStatus
from cape.errors import InvalidInput

PAGE_SIZE = 50
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip


@dataclass(frozen=True)
class ListQuery:
    """What the list shows: filters as the form sent them (empty: any)."""

    status: str = ""
    agent: str = ""
    since: str = ""
    cursor: str = ""

    def params(self, **changes: str) -> str:
        """The query string of this listing with `changes` (empty values left out)."""
        values = {"status": self.status, "agent": self.agent, "since": self.since} | changes
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class Row:
    """One line of the list."""

    task: Task
    tokens: int
    cost: float


def _status(value: str) -> TaskStatus | None:
    if not value:
        return None
    try:
        return TaskStatus(value)
    except ValueError:
        raise InvalidInput(
            f"unknown status {value!r}",
            details=[
                {"field": "query.status", "message": f"one of {[s.value for s in TaskStatus]}"}
            ],
        ) from None


def _since(value: str) -> datetime | None:
    if not value:
        return None
    if value not in WINDOWS:
        raise InvalidInput(
            f"unknown time window {value!r}",
            details=[{"field": "query.since", "message": f"one of {sorted(WINDOWS)}"}],
        )
    return datetime.now(UTC) - WINDOWS[value]


async def list_page(
    session: AsyncSession, principal: Principal, query: ListQuery
) -> tuple[list[Row], str | None]:
    """A page of the team's tasks, newest first, and the cursor of the next page."""
    filters = task_filters(principal.team_id, _status(query.status), query.agent or None)
    if (since := _since(query.since)) is not None:
        filters.append(Task.created_at >= since)
    page: Page = await task_page(session, filters, PAGE_SIZE, query.cursor or None)
    rows = []
    for task in page.rows:
        usage = task_usage(task)
        rows.append(Row(task, usage.total_tokens, usage.cost_usd))
    return rows, page.next_cursor
