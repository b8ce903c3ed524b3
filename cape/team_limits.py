"""Per-team limits, kept in the database so every API process counts the same requests.

Requests per minute are counted per key in fixed one-minute windows: one atomic upsert per
request (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, on SQLite and PostgreSQL alike),
and none at all when the team has no limit. Running tasks and today's tokens are read when a
new task is asked for; over a limit the new task is refused and running tasks go on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.models import RateCounter, Task, Team
from cape.domain import TERMINAL_TASK_STATUSES
from cape.errors import LimitExceeded, RateLimited
from cape.settings import Settings

WINDOW_SECONDS = 60


def effective(team_value: int | None, default: int) -> int:
    """A team's limit: its own value, else the setting's default (0: unlimited)."""
    return default if team_value is None else team_value


async def count_request(
    sessions: async_sessionmaker[AsyncSession], key_id: str, limit: int, now: datetime
) -> None:
    """Count one request of `key_id`; `RateLimited` (with `Retry-After`) over `limit` a minute."""
    stamp = int(now.timestamp())
    window = stamp // WINDOW_SECONDS
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RateCounter)
        upsert = insert.values(key_id=key_id, window=window, count=1).on_conflict_do_update(
            index_elements=[RateCounter.key_id, RateCounter.window],
            set_={"count": RateCounter.count + 1},
        )
        count = int((await session.execute(upsert.returning(RateCounter.count))).scalar_one())
        if count == 1:  # a new window: the key's older ones are done with
            await session.execute(
                delete(RateCounter).where(RateCounter.key_id == key_id, RateCounter.window < window)
            )
        await session.commit()
    if count > limit:
        retry_after = (window + 1) * WINDOW_SECONDS - stamp
        raise RateLimited(
            f"rate limit of {limit} requests per minute for this key reached; retry in "
            f"{retry_after} s",
            retry_after=retry_after,
            details={"limit": "rate_limit_rpm", "value": limit, "retry_after": retry_after},
        )


async def check_new_task(session: AsyncSession, settings: Settings, team_id: str) -> None:
    """`LimitExceeded` naming the limit and its value when the team may not start a task now."""
    team = await session.get(Team, team_id)
    running_limit = effective(team.max_running_tasks if team else None, settings.max_running_tasks)
    quota = effective(team.daily_token_quota if team else None, settings.daily_token_quota)
    if running_limit:
        running = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.team_id == team_id, Task.status.not_in(list(TERMINAL_TASK_STATUSES)))
        )
        if int(running or 0) >= running_limit:
            raise LimitExceeded(
                f"the team has {running} unfinished tasks, its limit max_running_tasks is "
                f"{running_limit}: wait for one to end",
                details={"limit": "max_running_tasks", "value": running_limit,
                         "current": int(running or 0)},
            )  # fmt: skip
    if quota:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        used = await session.scalar(
            select(func.coalesce(func.sum(Task.prompt_tokens + Task.completion_tokens), 0)).where(
                Task.team_id == team_id, Task.created_at >= midnight
            )
        )
        if int(used or 0) >= quota:
            raise LimitExceeded(
                f"the team used {used} tokens today (UTC), its limit daily_token_quota is "
                f"{quota}: new tasks wait for tomorrow",
                details={"limit": "daily_token_quota", "value": quota, "current": int(used or 0)},
            )
