"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when both the database and Temporal answer; 503 names what is down.

    `reconciler` counts the passes and the task rows repaired since the API started.
    """
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(runtime.temporal.service_client.check_health(), timeout=3)
        checks["temporal"] = "ok"
    except (RPCError, RuntimeError, TimeoutError) as exc:
        checks["temporal"] = f"unavailable: {type(exc).__name__}"
    reconciler = runtime.reconciler.status()
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks, "reconciler": reconciler})
    body = {
        "error": {"code": "unavailable", "message": "not ready", "details": checks},
        "reconciler": reconciler,
    }
    return JSONResponse(body, status_code=503)
