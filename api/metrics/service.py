"""Who may read `/metrics`, and the exposition of this process's registry."""

from __future__ import annotations

import ipaddress

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.errors import Forbidden, NotFound
from cape.settings import Settings
from cape.telemetry.waiting import refresh_waiting

log = structlog.get_logger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def check_scraper(settings: Settings, host: str | None) -> None:
    """Refuse a client outside `CAPE_METRICS_ALLOW` (404 when the list is empty: no endpoint)."""
    if not settings.metrics_allow:
        raise NotFound("/metrics is off (CAPE_METRICS_ALLOW is empty)")
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        address = None
    networks = (ipaddress.ip_network(n, strict=False) for n in settings.metrics_allow)
    if address is None or not any(address in net for net in networks):
        raise Forbidden(
            f"client {host} may not read /metrics: add its network to CAPE_METRICS_ALLOW",
            details={"client": host},
        )


async def exposition(settings: Settings, reads: async_sessionmaker[AsyncSession]) -> bytes:
    """Every metric of this process in the Prometheus text format.

    The waiting questions are read from the database first; with the database down the rest
    is still served (the scrape is how an operator sees the outage).
    """
    try:
        async with reads() as session:
            await refresh_waiting(session, settings.input_timeout_seconds)
    except SQLAlchemyError as exc:
        log.warning("metrics: waiting questions not read", error=str(exc))
    return generate_latest(REGISTRY)
