"""OpenTelemetry traces, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Everything reads the standard OTel variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_BSP_*`, ...). Without an
endpoint nothing is set up: no provider, no exporter, no interceptor, and `span` hands out a
null context, so tracing off costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

log = structlog.get_logger(__name__)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_enabled = False


def tracing_configured() -> bool:
    """Whether an OTLP endpoint is set in the environment."""
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def tracing_enabled() -> bool:
    """Whether this process set up tracing (`setup_tracing` found an endpoint)."""
    return _enabled


def setup_tracing(service: str) -> bool:
    """Install the process's tracer provider and OTLP/HTTP exporter; False when not configured.

    Args:
        service: the service name unless `OTEL_SERVICE_NAME` says otherwise ("cape-api", ...).
    """
    global _enabled
    if _enabled or not tracing_configured():
        return _enabled
    # Imported here: a process without tracing never loads the SDK or the exporter.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()  # the openai SDK's calls, the API's own clients
    _enabled = True
    log.info("tracing on", service=name, exporter="otlp/http")
    return True


def shutdown_tracing() -> None:
    """Export the spans still buffered (at process exit)."""
    if not _enabled:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def temporal_interceptors() -> list[Any]:
    """Temporal's tracing interceptor for a client (workers inherit it) when tracing is on."""
    if not _enabled:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


@contextmanager
def span(name: str, **attributes: AttributeValue) -> Iterator[Span | None]:
    """A child span of the current one while tracing is on; None (and no work) otherwise."""
    if not _enabled:
        yield None
        return
    from opentelemetry import trace

    with trace.get_tracer("cape").start_as_current_span(name, attributes=attributes) as current:
        yield current


def add_trace_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: the current trace id (32 hex digits) on every line of a traced call."""
    trace_id = current_trace_id()
    if trace_id is not None:
        event.setdefault("trace_id", trace_id)
    return event


def current_trace_id() -> str | None:
    """The current trace id in hex, or None outside a traced call (and with tracing off)."""
    if not _enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
