"""Database pool usage, read from the engines' pools at scrape time (nothing runs between)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool


class PoolCollector(Collector):
    """`cape_db_pool_*` gauges of every engine handed to `watch`, labelled by process role."""

    def __init__(self) -> None:
        self._engines: weakref.WeakKeyDictionary[AsyncEngine, str] = weakref.WeakKeyDictionary()

    def watch(self, engine: AsyncEngine, role: str) -> None:
        """Report `engine`'s pool under `role` ("api", "worker") while the engine lives."""
        self._engines[engine] = role

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per role, summed over its engines (tests run several in one process)."""
        size = GaugeMetricFamily(
            "cape_db_pool_size", "Pooled connections allowed.", labels=["role"]
        )
        used = GaugeMetricFamily(
            "cape_db_pool_checked_out", "Connections in use now.", labels=["role"]
        )
        over = GaugeMetricFamily(
            "cape_db_pool_overflow", "Connections open above the pool size now.", labels=["role"]
        )
        totals: dict[str, list[int]] = {}
        for engine, role in list(self._engines.items()):
            pool = engine.sync_engine.pool
            row = totals.setdefault(role, [0, 0, 0])
            row[1] += pool.checkedout() if hasattr(pool, "checkedout") else 0
            if isinstance(pool, QueuePool):
                row[0] += pool.size()
                row[2] += max(pool.overflow(), 0)
        for role, (pooled, checked_out, overflow) in sorted(totals.items()):
            size.add_metric([role], pooled)
            used.add_metric([role], checked_out)
            over.add_metric([role], overflow)
        yield from (size, used, over)


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def watch_pool(engine: AsyncEngine, role: str) -> None:
    """Report `engine`'s pool usage on this process's metrics under `role`."""
    POOLS.watch(engine, role)
