"""Dashboard render time with 10,000 tasks: GET of the task list page and its neighbours.

    python bench/dashboard.py [--tasks N] [--repeats R] [--db sqlite|postgres]

Makes a fresh database (SQLite file, or a throwaway PostgreSQL database with
CAPE_TEST_DATABASE_URL / --db postgres), inserts N task rows (default 10,000) for one team,
serves the real API over loopback HTTP (no worker needed: the pages read the database), logs in
through the login form and times R GETs (default 20) of each page. Prints figures; asserts
nothing. The issue's bar: the list renders in under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/dashboard.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from cape.db.engine import create_engine, session_factory  # noqa: E402
from cape.db.models import Task  # noqa: E402
from cape.domain import TaskStatus  # noqa: E402
from cape.settings import Settings  # noqa: E402
from migrations.apply import upgrade  # noqa: E402
from tests.harness import drop_database, make_database, new_api_key, running_api  # noqa: E402

STATUSES = [TaskStatus.SUCCEEDED] * 6 + [TaskStatus.FAILED, TaskStatus.CANCELED,
            TaskStatus.RUNNING, TaskStatus.INPUT_REQUIRED]  # fmt: skip
AGENTS = ["assistant", "engineer", "explorer", "executor", "qa-manager"]


def rows(team_id: str, n: int) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    made = []
    for i in range(n):
        created = now - timedelta(seconds=i * 30)  # spread over ~3.5 days
        status = random.choice(STATUSES)
        prompt, completion = random.randint(50, 4000), random.randint(10, 800)
        made.append(
            {
                "id": f"task_{uuid.uuid4().hex}", "agent": random.choice(AGENTS),
                "agent_version": "1.0.0", "team_id": team_id, "owner": "bench",
                "status": status, "input": {"prompt": f"bench task {i}"},
                "output": {"answer": "ok"} if status == TaskStatus.SUCCEEDED else None,
                "usage": {}, "model": "demo", "max_steps": 20,
                "pending_input": {"id": f"approval-{i}", "kind": "approval", "step_no": 2,
                                  "tool": "write_file", "call_id": "c", "arguments": "{}"}
                if status == TaskStatus.INPUT_REQUIRED else None,
                "prompt_tokens": prompt, "completion_tokens": completion,
                "cost_usd": (prompt + completion) * 2e-6, "last_seq": 10,
                "created_at": created, "started_at": created + timedelta(seconds=1),
                "finished_at": created + timedelta(seconds=9) if status not in
                (TaskStatus.RUNNING, TaskStatus.INPUT_REQUIRED) else None,
                "updated_at": created,
            }
        )  # fmt: skip
    return made


async def insert_tasks(settings: Settings, team_id: str, n: int) -> float:
    engine = create_engine(settings)
    start = time.perf_counter()
    try:
        async with session_factory(engine)() as session:
            made = rows(team_id, n)
            for chunk in range(0, n, 1000):
                await session.execute(insert(Task), made[chunk : chunk + 1000])
            await session.commit()
    finally:
        await engine.dispose()
    return time.perf_counter() - start


async def timed(http: httpx.AsyncClient, path: str, repeats: int) -> list[float]:
    first = await http.get(path)
    assert first.status_code == 200, f"{path}: {first.status_code} {first.text[:300]}"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = await http.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times


PAGES = [
    ("task list, first page (50 rows)", "/ui/tasks"),
    ("task list, live rows (htmx poll)", "/ui/tasks/rows"),
    ("task list, status=failed", "/ui/tasks?status=failed"),
    ("task list, agent + last 24h", "/ui/tasks?agent=engineer&since=24h"),
    ("task list, second page (cursor)", "/ui/tasks?cursor={cursor}"),
    ("approvals inbox (<=200 waiting)", "/ui/approvals"),
    ("agents (success rates)", "/ui/agents"),
    ("usage (30 days, 6 charts)", "/ui/usage"),
]


async def measure(base: str, key: str, settings: Settings, n: int, repeats: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        who = await http.get("/v1/session", headers={"Authorization": f"Bearer {key}"})
        team_id = who.json()["team_id"]
        took = await insert_tasks(settings, team_id, n)
        print(f"inserted {n:,} tasks in {took:.1f} s ({settings.database_url.split(':')[0]})")
        login = await http.post("/ui/login", data={"api_key": key})
        assert login.status_code == 303, login.text
        page = await http.get("/ui/tasks")
        cursor = page.text.split("cursor=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
        for label, path in PAGES:
            ms = await timed(http, path.format(cursor=cursor), repeats)
            print(
                f"{label:38s} median {statistics.median(ms):7.1f} ms   "
                f"max {max(ms):7.1f} ms   ({repeats} GETs)"
            )


async def run(n: int, repeats: int, admin_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, name = make_database(admin_url, Path(tmp))
        try:
            settings = Settings(
                database_url=url, data_dir=Path(tmp) / "data", reconcile_interval_seconds=0
            )
            upgrade(settings)
            key = await new_api_key(settings, owner="bench")
            async with running_api(settings) as base:
                await measure(base, key, settings, n, repeats)
        finally:
            if admin_url and name:
                drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    admin = None
    if args.db == "postgres":
        admin = os.environ.get(
            "CAPE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    asyncio.run(run(args.tasks, args.repeats, admin))


if __name__ == "__main__":
    main()
