"""`/v1/capabilities`: the capabilities tasks may name, their agents, availability and records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.capabilities.schemas import CapabilityList, CapabilityOut
from api.capabilities.service import get_capability, list_capabilities
from api.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/capabilities", tags=["capabilities"])
NamePath = Annotated[str, Path(max_length=64, description="The capability, e.g. `code-review`.")]


@router.get("", response_model=CapabilityList)
async def list_all(session: SessionDep, principal: ReaderDep) -> CapabilityList:
    """The capabilities the team's published agents and the built-ins declare.

    Each lists its agents in the order the assigner would pick them for a task of any
    complexity: available ones first, then by record (success rate, mean cost, mean
    duration, from the team's own finished tasks), then by name.
    """
    return await list_capabilities(session, principal)


@router.get("/{name}", response_model=CapabilityOut)
async def get_one(name: NamePath, session: SessionDep, principal: ReaderDep) -> CapabilityOut:
    """One capability with its agents; 404 when no published agent of the team declares it."""
    return await get_capability(session, principal, name)
