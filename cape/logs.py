"""structlog set-up shared by the api, worker and CLI processes."""

from __future__ import annotations

import logging
import sys

import structlog

from cape.settings import Settings
from cape.telemetry.tracing import add_trace_id


def configure_logging(settings: Settings) -> None:
    """Route stdlib and structlog logs through one renderer (JSON in production)."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    # Plain tracebacks: the rich ones print every frame's locals, which costs about a second of
    # CPU per failed activity on a busy worker (it then misses heartbeats) and can put secrets
    # held in locals into the log.
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    chain: list[structlog.types.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if settings.log_json:  # the traceback as one string field, without frame locals
        chain.append(structlog.processors.format_exc_info)
    chain.append(renderer)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_trace_id,  # nothing unless tracing is on and the line is logged inside a span
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=chain,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "openai", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
