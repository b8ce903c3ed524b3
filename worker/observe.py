"""A worker's telemetry: its metrics ports, the Temporal SDK runtime, tracing on its client.

Each worker process serves its own metrics: the platform's (prometheus-client's registry) on
`CAPE_WORKER_METRICS_PORT` and the Temporal SDK's (its Rust runtime's Prometheus exporter) on
`CAPE_WORKER_SDK_METRICS_PORT`; 0 leaves either off. Several workers on one host each need
their own ports.
"""

from __future__ import annotations

from typing import Any

import structlog
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cape.db.engine import readonly_session_factory
from cape.settings import Settings
from cape.telemetry.pool import watch_pool
from cape.telemetry.tracing import setup_tracing, temporal_interceptors
from worker.telemetry import StepMetrics

log = structlog.get_logger(__name__)


class MetricsPortError(RuntimeError):
    """A worker's metrics port cannot be served (taken by another process, a bad host)."""

    def __init__(self, setting: str, address: str, cause: Exception) -> None:
        super().__init__(
            f"{setting}: cannot serve metrics on {address} ({cause}); give each worker on a "
            "host its own port, or 0 to turn it off"
        )


def sdk_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics, or None (the default runtime)."""
    if not settings.worker_sdk_metrics_port:
        return None
    address = f"{settings.metrics_host}:{settings.worker_sdk_metrics_port}"
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as exc:  # the SDK's exporter could not bind
        raise MetricsPortError("CAPE_WORKER_SDK_METRICS_PORT", address, exc) from exc
    log.info("temporal sdk metrics", address=address)
    return runtime


async def connect(settings: Settings) -> Client:
    """The worker's Temporal client, with tracing and metrics as configured."""
    setup_tracing("cape-worker")
    if settings.worker_metrics_port:
        try:
            start_http_server(settings.worker_metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            address = f"{settings.metrics_host}:{settings.worker_metrics_port}"
            raise MetricsPortError("CAPE_WORKER_METRICS_PORT", address, exc) from exc
        log.info("worker metrics", port=settings.worker_metrics_port, host=settings.metrics_host)
    options: dict[str, Any] = {"interceptors": temporal_interceptors()}
    if (runtime := sdk_runtime(settings)) is not None:
        options["runtime"] = runtime
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, **options
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, letting OpenTelemetry through (workers and `cape replay` alike).

    The tracing interceptor runs inside workflow code: OpenTelemetry's context must be the
    worker's own module, not a sandboxed copy, or spans lose their parents.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules("opentelemetry")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def worker_options(engine: AsyncEngine | None) -> dict[str, Any]:
    """Options of every Worker: the metrics interceptor and the workflow sandbox.

    Without an engine (bench/workers.py's bare worker, which runs no task activities) there
    is no pool to report and no task row to label metrics with: only the sandbox is set.
    """
    if engine is None:
        return {"workflow_runner": workflow_runner()}
    watch_pool(engine, "worker")
    return {
        "interceptors": [StepMetrics(readonly_session_factory(engine))],
        "workflow_runner": workflow_runner(),
    }
