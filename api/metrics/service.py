"""Who may read `/metrics`, and the exposition of this process's registry."""

from __future__ import annotations

import ipaddress

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from cape.errors import Forbidden, NotFound
from cape.settings import Settings

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


def exposition() -> bytes:
    """Every metric of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)
