"""Settings of the metrics endpoints (a mixin of `Settings`); traces use the OTel variables.

`CAPE_METRICS_ALLOW` is read as JSON (`'["10.0.0.0/8"]'`).
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class TelemetrySettings(BaseSettings):
    """Who may scrape the API's `/metrics`, and where a worker serves its metrics."""

    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Networks whose clients may GET /metrics without a key; [] turns it off.",
    )
    # 0: off. A worker's own metrics (steps, LLM calls, tasks, sandbox) on this port.
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    # 0: off. The Temporal SDK's runtime metrics (slots, pollers, schedule-to-start) of a worker.
    worker_sdk_metrics_port: int = Field(0, ge=0, le=65535)
    metrics_host: str = Field("127.0.0.1", description="Address the worker's metrics bind to.")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"CAPE_METRICS_ALLOW: {item!r} is not an IP network (e.g. 10.0.0.0/8)"
                ) from exc
        return value
