"""The event log's retention on the real database: old routed events go, pending ones stay."""

from __future__ import annotations

import uuid
from datetime import timedelta

from cape.db.engine import create_engine, session_factory
from cape.db.event_models import Event, EventRoute
from cape.db.models import utcnow
from cape.events.ids import new_event_id
from cape.events.retention import sweep_events
from cape.settings import Settings


async def test_sweep_deletes_routed_events_past_retention_only(settings: Settings) -> None:
    engine = create_engine(settings)
    sessions = session_factory(engine)
    team = f"ret-{uuid.uuid4().hex[:8]}"
    old = utcnow() - timedelta(days=10)

    def event(status: str, published: object) -> Event:
        return Event(
            id=new_event_id(), team_id=team, type="t", data={}, priority="normal",
            published_by="x", occurred_at=published, published_at=published, status=status,
            depth=0,
        )  # fmt: skip

    gone, pending, recent = event("routed", old), event("pending", old), event("routed", utcnow())
    async with sessions.begin() as session:
        session.add_all([gone, pending, recent])
        await session.flush()
        session.add(
            EventRoute(
                event_id=gone.id, team_id=team, agent="a", agent_version="1.0.0", trigger="t",
                status="started", priority="normal",
            )
        )  # fmt: skip
    assert await sweep_events(settings, sessions) == 0  # retention 0: kept forever
    kept = settings.model_copy(update={"event_retention_days": 7})
    assert await sweep_events(kept, sessions) >= 1
    async with sessions() as session:
        assert await session.get(Event, gone.id) is None
        assert await session.get(Event, pending.id) is not None
        assert await session.get(Event, recent.id) is not None
    await engine.dispose()
