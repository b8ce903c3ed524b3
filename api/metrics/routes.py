"""Prometheus metrics of this API process (no key: scrapers are allowed by network)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import ReadSessionsDep, SettingsDep
from api.metrics.service import CONTENT_TYPE, check_scraper, exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, settings: SettingsDep, reads: ReadSessionsDep) -> Response:
    """This process's metrics in the Prometheus text format.

    Open without a key to clients in `CAPE_METRICS_ALLOW` (loopback by default); others get
    403, and an empty list turns the route off (404). Every API process serves its own.
    """
    check_scraper(settings, request.client.host if request.client else None)
    return Response(await exposition(settings, reads), media_type=CONTENT_TYPE)
