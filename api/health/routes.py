"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.health.service import readiness

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
    checks = await readiness(runtime)
    reconciler = runtime.reconciler.status()
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks, "reconciler": reconciler})
    body = {
        "error": {"code": "unavailable", "message": "not ready", "details": checks},
        "reconciler": reconciler,
    }
    return JSONResponse(body, status_code=503)
