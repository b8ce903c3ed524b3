"""The trigger dry-run route: `POST /v1/agents/{name}/versions/{version}/triggers/test`."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AgentWriterDep, SessionDep
from api.events.dryrun import dry_run
from api.events.schemas import TriggerTest, TriggerTestOut

router = APIRouter(tags=["events"])


@router.post("/agents/{name}/versions/{version}/triggers/test", response_model=TriggerTestOut)
async def try_triggers(
    name: str, version: str, body: TriggerTest, session: SessionDep, principal: AgentWriterDep
) -> TriggerTestOut:
    """What this version's triggers would do, starting nothing.

    Tries `event` when given, else the team's last `last` logged events: for each, whether a
    task would start, with the mapped input, or why not (no trigger for the type, no filter
    matched, a mapping that fails or does not validate, with each bad field). Any version of
    your team's agent, drafts included: use it before publishing.
    """
    return await dry_run(session, principal, name, version, body)
