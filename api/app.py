"""The FastAPI application: lifespan resources, middleware, error handlers and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from api.admin.reconcile import Reconcile
from api.admin.reconciler import ReconcileLoop
from api.admin.routes import router as admin_router
from api.agents.routes import router as agents_router
from api.artifacts.routes import router as artifacts_router
from api.audit.routes import router as audit_router
from api.capabilities.routes import router as capabilities_router
from api.errors import install_error_handlers
from api.events.dryrun_routes import router as trigger_test_router
from api.events.hook_routes import router as hooks_router
from api.events.routes import router as events_router
from api.events.schedule_routes import router as event_schedules_router
from api.health.routes import router as health_router
from api.instances.routes import router as instances_router
from api.instances.routes import runtime_router
from api.keys.routes import router as keys_router
from api.locks.routes import router as locks_router
from api.marketplace.federation_routes import router as marketplace_federation_router
from api.marketplace.install_routes import router as marketplace_installs_router
from api.marketplace.routes import router as marketplace_router
from api.metrics.routes import router as metrics_router
from api.middleware.audit import AuditMiddleware
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.text_guard import TextGuardMiddleware
from api.runtime import Runtime
from api.schedules.routes import router as schedules_router
from api.sessions.oidc_routes import router as oidc_router
from api.sessions.routes import router as sessions_router
from api.sessions.state import Authenticators
from api.streams.feed import EventFeed
from api.streams.routes import router as streams_router
from api.tasks.input_routes import router as task_input_router
from api.tasks.op_routes import router as task_ops_router
from api.tasks.routes import router as tasks_router
from api.tasks.tree_routes import router as task_tree_router
from api.teams.member_routes import router as members_router
from api.teams.routes import router as teams_router
from api.telemetry import app_options, instrument
from api.ui.mount import install_ui
from api.usage.routes import router as usage_router
from cape.db.engine import create_engine, readonly_session_factory, session_factory
from cape.registry.builtin import ensure_builtins
from cape.settings import Settings, get_settings
from cape.telemetry.pool import watch_pool
from cape.telemetry.tracing import temporal_interceptors

log = structlog.get_logger(__name__)

DESCRIPTION = """Start AI-agent tasks as durable Temporal workflows, follow their progress as
Server-Sent Events or over a WebSocket, and inspect their steps.

Every route except `/healthz`, `/readyz` and `/metrics` (allowed by network) needs
`Authorization: Bearer <api key>` (or a JWT when single sign-on is configured), or the session
cookie of `POST /v1/session`.
Errors have the body `{"error": {"code", "message", "details"}}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (the environment's by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Reads (or, under `cape dev`, makes) the session secret: at start, not when the app
        # object is built, so building it (e.g. for its OpenAPI document) writes nothing.
        app.state.authenticators = Authenticators.from_settings(settings)
        engine = create_engine(settings, prompt_writers=True)  # a person waits for its writes
        watch_pool(engine, "api")
        # lazy: the API starts (and /readyz reports) even while Temporal is still coming up.
        temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            lazy=True,
            interceptors=temporal_interceptors(),
        )
        reads = readonly_session_factory(engine)
        sessions = session_factory(engine)
        try:
            await ensure_builtins(sessions)  # the built-in agents, listed in the registry
        except SQLAlchemyError as exc:  # the API still starts; /readyz reports the database
            log.warning("built-in agents not seeded: database unavailable", error=str(exc))
        feed = EventFeed(settings, reads)
        await feed.start()
        # Rows whose workflow never started (the API died mid-request) or ended unrecorded
        # are repaired at start and on a timer (docs/operations.md, Tasks and workflows).
        reconciler = ReconcileLoop(
            Reconcile(settings, temporal, sessions, reads), settings.reconcile_interval_seconds
        )
        reconciler.start()
        app.state.runtime = Runtime(settings, engine, sessions, reads, temporal, feed, reconciler)
        log.info("api started", temporal=settings.temporal_address, url=settings.base_url)
        try:
            yield
        finally:
            await reconciler.stop()
            await feed.stop()
            await engine.dispose()

    app = FastAPI(
        title="CapeControl",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        **app_options(),
    )
    # Added first, so it runs inside the body limit: it reads only bodies within the limit.
    app.add_middleware(TextGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    # Outside the body guards (only the metrics are further out): a write they refuse is not
    # the caller's change to audit.
    app.add_middleware(AuditMiddleware, trust_forwarded_for=settings.trust_forwarded_for)
    instrument(app)  # outermost: counts the 413s too
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(tasks_router, prefix="/v1")
    app.include_router(task_ops_router, prefix="/v1")
    app.include_router(task_input_router, prefix="/v1")
    app.include_router(task_tree_router, prefix="/v1")
    app.include_router(streams_router, prefix="/v1")
    app.include_router(artifacts_router, prefix="/v1")
    app.include_router(schedules_router, prefix="/v1")
    app.include_router(usage_router, prefix="/v1")
    app.include_router(agents_router, prefix="/v1")
    app.include_router(capabilities_router, prefix="/v1")
    app.include_router(marketplace_router, prefix="/v1")
    app.include_router(marketplace_installs_router, prefix="/v1")
    app.include_router(marketplace_federation_router, prefix="/v1")
    app.include_router(admin_router, prefix="/v1")
    app.include_router(sessions_router, prefix="/v1")
    app.include_router(oidc_router, prefix="/v1")
    app.include_router(keys_router, prefix="/v1")
    app.include_router(teams_router, prefix="/v1")
    app.include_router(members_router, prefix="/v1")
    app.include_router(audit_router, prefix="/v1")
    # Before the events router: /events/schedules is not an event id.
    app.include_router(event_schedules_router, prefix="/v1")
    app.include_router(events_router, prefix="/v1")
    app.include_router(trigger_test_router, prefix="/v1")
    app.include_router(hooks_router, prefix="/v1")
    app.include_router(locks_router, prefix="/v1")
    app.include_router(instances_router, prefix="/v1")
    app.include_router(runtime_router, prefix="/v1")
    install_ui(app)  # the dashboard under /ui (after the error handlers it refines)
    return app
