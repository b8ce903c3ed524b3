"""The API's metrics middleware and, when an OTLP endpoint is set, its traces."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI

from api.middleware.metrics import MetricsMiddleware
from cape.telemetry.tracing import setup_tracing

# The prefixes routers are included with in api/app.py: route labels are built from them.
PREFIXES = frozenset({"", "/v1"})
# Scrapes and probes would be most of the spans and say nothing.
UNTRACED = ("/metrics", "/healthz", "/readyz")


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED


def app_options() -> dict[str, Any]:
    """`FastAPI(...)` options: FastAPI's own OpenTelemetry spans where it has them.

    FastAPI 0.16x traces requests itself once a tracer provider is set; its per-dependency
    spans are left out (a span per request is what the trace needs).
    """
    try:
        import fastapi.telemetry  # noqa: F401
    except ImportError:
        return {}
    return {"telemetry": {"operation_spans": False, "metrics": False, "exclude": _untraced}}


def instrument(app: FastAPI) -> None:
    """Count and time every request; trace them when `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
    app.add_middleware(MetricsMiddleware, prefixes=PREFIXES)
    if setup_tracing("cape-api") and not app_options():
        # A FastAPI without its own tracing: the OpenTelemetry instrumentation instead.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=",".join(UNTRACED))
