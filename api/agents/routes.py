"""Agent registry routes: specs, versions and their lifecycle, search, import and export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status

from api.agents.queries import (
    AgentFilter,
    agent_out,
    agent_view,
    agents_for_event,
    export_yaml,
    find_spec,
    find_version,
    search_agents,
    version_list,
    version_out,
)
from api.agents.schemas import (
    SPEC_DOC,
    SPEC_EXAMPLE,
    YAML_TYPES,
    AgentCreated,
    AgentOut,
    AgentPage,
    AgentVersionOut,
    DefaultBody,
    DeprecateBody,
    SchemasOut,
    TriggeredAgents,
    VersionSummary,
    YankBody,
)
from api.agents.service import (
    add_version,
    create_agent,
    deprecate_version,
    publish_version,
    read_yaml_spec,
    replace_draft,
    set_default,
    yank_version,
)
from api.deps import AgentWriterDep, ReaderDep, SessionDep, SettingsDep, WriteSessionDep

router = APIRouter(prefix="/agents", tags=["agents"])
SpecBody = Annotated[dict[str, Any], Body(description=SPEC_DOC, examples=[SPEC_EXAMPLE])]
Publish = Annotated[bool, Query(description="Publish the new version at once.")]
Q_DOC = "Text in the name, description, tags or goals."
YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": {"type": "string"}} for media in YAML_TYPES[:2]},
    }
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgentCreated)
async def create(
    data: SpecBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
    publish: Publish = False,
) -> AgentCreated:
    """Create an agent from a spec (a draft version unless `publish=true`).

    Creating a spec whose agent you already own adds it as a new version. 422 lists every
    problem of the spec by field; 409 when the version exists or the name is taken.
    """
    agent, rows, row = await create_agent(session, principal, data, publish)
    return AgentCreated(agent=agent_out(agent, rows, settings), version=version_out(row, settings))


@router.post(
    "/import", status_code=status.HTTP_201_CREATED, response_model=AgentCreated,
    openapi_extra=YAML_BODY,
)  # fmt: skip
async def import_yaml(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
    publish: Publish = False,
) -> AgentCreated:
    """Create an agent (or a new version of yours) from a YAML spec.

    Send the YAML as the body with `Content-Type: application/yaml` (or `text/yaml`); any other
    type is a 415. YAML errors give their line and column.
    """
    data = await read_yaml_spec(request)
    agent, rows, row = await create_agent(session, principal, data, publish)
    return AgentCreated(agent=agent_out(agent, rows, settings), version=version_out(row, settings))


@router.get("", response_model=AgentPage)
async def list_agents(
    session: SessionDep,
    principal: ReaderDep,
    q: Annotated[str | None, Query(max_length=200, description=Q_DOC)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=128, description="Part of the name.")] = None,
    trigger: Annotated[str | None, Query(max_length=128, description="An event type.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AgentPage:
    """List and search the agents you can use (yours and everyone's published ones), by name."""
    filt = AgentFilter(q=q, tag=tag, category=category, name=name, trigger=trigger)
    return await search_agents(session, principal, filt, limit, cursor)


@router.get("/triggers/{event_type}", response_model=TriggeredAgents)
async def triggered_by(
    event_type: str, session: SessionDep, principal: ReaderDep
) -> TriggeredAgents:
    """The agents whose default version an event of this type starts, with their filters."""
    return await agents_for_event(session, principal, event_type)


@router.get("/{name}", response_model=AgentOut)
async def get_agent(
    name: str, session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> AgentOut:
    """An agent: owner, category, tags, default and latest version, and its versions."""
    return await agent_view(session, principal, name, settings)


@router.get("/{name}/versions", response_model=list[VersionSummary])
async def list_versions(
    name: str, session: SessionDep, principal: ReaderDep
) -> list[VersionSummary]:
    """The agent's versions, oldest first (drafts only for the owner)."""
    return await version_list(session, principal, name)


@router.post(
    "/{name}/versions", status_code=status.HTTP_201_CREATED, response_model=AgentVersionOut
)
async def new_version(
    name: str,
    data: SpecBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
    publish: Publish = False,
) -> AgentVersionOut:
    """Add a version to your agent (a draft unless `publish=true`); 409 if it exists."""
    _, _, row = await add_version(session, principal, name, data, publish)
    return version_out(row, settings)


@router.get("/{name}/versions/{version}", response_model=AgentVersionOut)
async def get_version(
    name: str, version: str, session: SessionDep, settings: SettingsDep, principal: ReaderDep
) -> AgentVersionOut:
    """One version with its spec."""
    _, _, row = await find_version(session, principal, name, version)
    return version_out(row, settings)


@router.put("/{name}/versions/{version}", response_model=AgentVersionOut)
async def replace(
    name: str,
    version: str,
    data: SpecBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
) -> AgentVersionOut:
    """Replace a draft's spec; 409 once the version is published (published never changes)."""
    return version_out(await replace_draft(session, principal, name, version, data), settings)


@router.post("/{name}/versions/{version}/publish", response_model=AgentVersionOut)
async def publish_route(
    name: str,
    version: str,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
) -> AgentVersionOut:
    """Publish a draft; from then on it is immutable and tasks may start on it."""
    return version_out(await publish_version(session, principal, name, version), settings)


@router.post("/{name}/versions/{version}/deprecate", response_model=AgentVersionOut)
async def deprecate(
    name: str,
    version: str,
    body: DeprecateBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
) -> AgentVersionOut:
    """Deprecate a published version: tasks still start on it, with a warning.

    The successor, if given, must be a published version of the same agent.
    """
    row = await deprecate_version(session, principal, name, version, body.reason, body.successor)
    return version_out(row, settings)


@router.post("/{name}/versions/{version}/yank", response_model=AgentVersionOut)
async def yank(
    name: str,
    version: str,
    body: YankBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
) -> AgentVersionOut:
    """Yank a published or deprecated version: new tasks naming it get a 409 with the reason."""
    return version_out(await yank_version(session, principal, name, version, body.reason), settings)


@router.put("/{name}/default", response_model=AgentOut)
async def put_default(
    name: str,
    body: DefaultBody,
    session: WriteSessionDep,
    settings: SettingsDep,
    principal: AgentWriterDep,
) -> AgentOut:
    """Set the version tasks run when they name none (published or deprecated only)."""
    agent, rows = await set_default(session, principal, name, body.version)
    return agent_out(agent, rows, settings)


@router.get(
    "/{name}/versions/{version}/export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
async def export(name: str, version: str, session: SessionDep, principal: ReaderDep) -> Response:
    """The version's spec as YAML (import it elsewhere with `POST /v1/agents/import`)."""
    text, filename = await export_yaml(session, principal, name, version)
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{name}/versions/{version}/schemas", response_model=SchemasOut)
async def schemas(name: str, version: str, session: SessionDep, principal: ReaderDep) -> SchemasOut:
    """The version's input and output JSON Schemas."""
    _, spec = await find_spec(session, principal, name, version)
    return SchemasOut(input_schema=spec.input_schema, output_schema=spec.output_schema)
