"""Response models of `/v1/capabilities`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CapableAgentOut(BaseModel):
    """An agent that declares the capability, as the assigner weighs it."""

    agent: str
    version: str = Field(description="The published version a task would run.")
    available: bool = Field(description="Fewer unended tasks than `max_concurrent` (or none set).")
    running: int = Field(description="Its tasks of the team not ended (queued ones included).")
    max_concurrent: int | None
    complexity_min: int
    complexity_max: int
    runs: int = Field(description="Finished runs counted for the capability (latest 200).")
    success_rate: float | None = Field(description="Succeeded over counted runs; null: none.")
    mean_cost_usd: float | None
    mean_duration_seconds: float | None
    rank: int | None = Field(description="Its place for a task of any complexity (1: chosen).")
    why: str = Field(description="Its availability and record in words.")


class CapabilityOut(BaseModel):
    """A capability with its agents in the assigner's order."""

    name: str
    available: bool = Field(description="Whether a task for it would start at once.")
    agents: list[CapableAgentOut]


class CapabilityList(BaseModel):
    """The team's capabilities, by name."""

    items: list[CapabilityOut]
