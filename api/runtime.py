"""Process-wide resources of the API, created in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.admin.reconciler import ReconcileLoop
from api.streams.feed import EventFeed
from cape.settings import Settings


@dataclass
class Runtime:
    """What routes need: settings, the database, Temporal, the event feed and the reconciler.

    `sessions` write (on SQLite they take the write lock at BEGIN); `read_sessions` only read.
    """

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    feed: EventFeed
    reconciler: ReconcileLoop
