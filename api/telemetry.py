"""The API's metrics middleware and, when an OTLP endpoint is set, its traces."""

from __future__ import annotations

from fastapi import FastAPI

from api.middleware.metrics import MetricsMiddleware
from cape.telemetry.tracing import setup_tracing

# Scrapes and probes would be most of the spans and say nothing.
UNTRACED = "/metrics,/healthz,/readyz"


def instrument(app: FastAPI) -> None:
    """Count and time every request; trace them when `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
    app.add_middleware(MetricsMiddleware)
    if setup_tracing("cape-api"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED)
