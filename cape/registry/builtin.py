"""The built-in agents: every YAML file in `cape/registry/builtin/`, seeded at start.

Built-ins belong to the owner `system`, are published on seeding and read-only through the API.
Seeding is idempotent and safe when several processes (API replicas, workers) start at once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cape.db.agent_models import Agent, AgentVersion
from cape.db.models import utcnow
from cape.errors import InvalidInput
from cape.registry.spec import AgentSpec, load_yaml, parse_spec
from cape.registry.store import (
    SYSTEM_OWNER,
    VersionStatus,
    audit,
    newest,
    refresh,
    versions_of,
)
from cape.settings import Settings

log = structlog.get_logger(__name__)
BUILTIN_DIR = Path(__file__).with_name("builtin")
SEED_ATTEMPTS = 3  # a concurrent seeder can win the insert race; the next attempt sees its rows


def load_builtin_specs(folder: Path = BUILTIN_DIR) -> list[AgentSpec]:
    """Parse every `*.yaml` file of `folder`, in file-name order.

    Raises:
        InvalidInput: A file is not a valid spec (the message names the file).
    """
    specs = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            # A copy: the parsed spec is cached, and no caller may change it for the next one.
            specs.append(_parse(path.read_text(encoding="utf-8")).model_copy(deep=True))
        except InvalidInput as exc:
            message = f"built-in agent {path.name}: {exc.message}"
            raise InvalidInput(message, details=exc.details) from None
    return specs


@lru_cache(maxsize=64)
def _parse(text: str) -> AgentSpec:
    # Keyed by the file's text, so an edited file is parsed again. Parsing and validating the
    # YAML is most of the cost of seeding at each API start (about 0.1 s for seven agents).
    return parse_spec(load_yaml(text))


async def seed_builtins(session: AsyncSession, folder: Path = BUILTIN_DIR) -> None:
    """Insert or update the built-in agents (the specs in `folder`) and their versions.

    A built-in version that already exists with a different spec is left as it is (a
    published version is immutable) and a warning is logged: ship a new version instead.
    The default version becomes the highest published one.
    """
    for spec in load_builtin_specs(folder):
        for attempt in range(1, SEED_ATTEMPTS + 1):
            try:
                await _seed_one(session, spec)
                await session.commit()
                break
            except IntegrityError:
                await session.rollback()
                if attempt == SEED_ATTEMPTS:
                    raise


async def _seed_one(session: AsyncSession, spec: AgentSpec) -> None:
    agent = await session.get(Agent, spec.name, populate_existing=True)
    if agent is None:
        agent = Agent(name=spec.name, owner=SYSTEM_OWNER, builtin=True, tags=[])
        session.add(agent)
        await session.flush()
    elif agent.owner != SYSTEM_OWNER or not agent.builtin:
        log.error("built-in agent name taken by a user agent", agent=spec.name, owner=agent.owner)
        return
    rows = await versions_of(session, spec.name)
    row = next((r for r in rows if r.version == spec.version), None)
    if row is None:
        now = utcnow()
        row = AgentVersion(
            agent=spec.name,
            version=spec.version,
            status=VersionStatus.PUBLISHED,
            spec=spec.to_data(),
            published_at=now,
        )
        session.add(row)
        await session.flush()
        rows.append(row)
        audit(session, SYSTEM_OWNER, "agent.seed", spec.name, version=spec.version)
        log.info("built-in agent seeded", agent=spec.name, version=spec.version)
    elif AgentSpec.model_validate(row.spec) != spec:
        log.warning(
            "built-in agent version differs from its file; kept the stored one "
            "(published versions are immutable: give the file a new version)",
            agent=spec.name,
            version=spec.version,
        )
    top = newest(rows, VersionStatus.PUBLISHED)
    if top is not None and agent.default_version != top.version:
        agent.default_version = top.version
    refresh(agent, rows)


async def ensure_builtins(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Seed the built-in agents (the API and the worker call this at start)."""
    async with sessions() as session:
        await seed_builtins(session)


async def seed_database(settings: Settings) -> None:
    """Seed the built-ins of the database `settings` names (for `cape migrate` and tests)."""
    # Imported here: cape.db.engine pulls in the async drivers, which most importers never need.
    from cape.db.engine import create_engine, session_factory

    engine = create_engine(settings)
    try:
        await ensure_builtins(session_factory(engine))
    finally:
        await engine.dispose()
