"""What readiness checks: the database and Temporal answer within a few seconds."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.runtime import Runtime

CHECK_TIMEOUT_SECONDS = 3.0


async def readiness(runtime: Runtime) -> dict[str, str]:
    """`ok` or `unavailable: <error>` for the database and for Temporal."""
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=CHECK_TIMEOUT_SECONDS)
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        health = runtime.temporal.service_client.check_health()
        await asyncio.wait_for(health, timeout=CHECK_TIMEOUT_SECONDS)
        checks["temporal"] = "ok"
    except (RPCError, RuntimeError, TimeoutError) as exc:
        checks["temporal"] = f"unavailable: {type(exc).__name__}"
    return checks
