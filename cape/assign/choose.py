"""Choosing the agent of a task that names a capability (and maybe a complexity).

Among the team's published agents that declare the capability and whose complexity range
holds the task's, available ones (fewer unended tasks than their `max_concurrent`, or no
`max_concurrent`) come first; then the best record for the capability: the higher success
rate, then the lower mean cost, then the shorter mean duration; agents with no counted run
after those with one; the name breaks ties. When every candidate is busy the best of them
gets the task, which waits `queued` on the semaphore of every candidate (`alternatives`) and
runs on the first that frees up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cape.assign.offers import (
    Offer,
    Record,
    Run,
    active_counts,
    recent_runs,
    record_of,
    team_offers,
)
from cape.contracts.task_input import Alternative
from cape.errors import InvalidInput
from cape.registry.spec import COMPLEXITY_MAX, COMPLEXITY_MIN


@dataclass(frozen=True)
class Candidate:
    """One agent the assigner looked at, with what it weighed and why it ranked or was left out.

    `rank` is 1 for the chosen agent, None for an agent left out (`why` says why).
    """

    agent: str
    version: str
    available: bool
    running: int
    max_concurrent: int | None
    complexity_min: int
    complexity_max: int
    runs: int
    success_rate: float | None
    mean_cost_usd: float | None
    mean_duration_seconds: float | None
    rank: int | None
    why: str

    def to_data(self) -> dict[str, Any]:
        """The candidate as JSON data (the `task-assigned` event, the API)."""
        return asdict(self)


@dataclass(frozen=True)
class Assignment:
    """The chosen agent and version, the reason in words and every candidate weighed."""

    agent: str
    version: str | None
    reason: str
    candidates: list[Candidate]
    capability: str = ""
    complexity: int | None = None

    def alternatives(self) -> list[Alternative]:
        """When every candidate is busy: the others the task also waits for (in rank order).

        Empty when the chosen agent is available (the task starts on it at once).
        """
        ranked = [c for c in self.candidates if c.rank is not None]
        if not ranked or ranked[0].available:
            return []
        return [
            Alternative(c.agent, c.version, c.max_concurrent)
            for c in ranked[1:]
            if c.max_concurrent is not None
        ]

    def to_data(self) -> dict[str, Any]:
        """The `task-assigned` event's data."""
        return {
            "capability": self.capability, "complexity": self.complexity, "agent": self.agent,
            "agent_version": self.version, "reason": self.reason,
            "candidates": [c.to_data() for c in self.candidates],
        }  # fmt: skip


async def choose_agent(
    session: AsyncSession,
    team_id: str,
    capability: str,
    complexity: int | None,
    *,
    field_prefix: str = "",
) -> Assignment:
    """Choose the agent of a task of `team_id` that asks for `capability` at `complexity`.

    Args:
        session: A session of the app database (only read).
        team_id: The team whose agents (and the built-ins) and whose task history count.
        capability: The capability the task needs.
        complexity: 1-10, or None for any.
        field_prefix: Prefix of the field names in errors (`body.` for the task API).

    Raises:
        InvalidInput: The complexity is outside 1-10, or no published agent of the team
            declares the capability with a range that holds the complexity.
    """
    where = f"{field_prefix}complexity"
    if complexity is not None and not COMPLEXITY_MIN <= complexity <= COMPLEXITY_MAX:
        message = f"complexity must be {COMPLEXITY_MIN}-{COMPLEXITY_MAX}, not {complexity}"
        raise InvalidInput(message, details=[{"field": where, "message": message}])
    offers = await team_offers(session, team_id)
    capable = [o for o in offers if capability in o.spec.capabilities]
    if not any(o.spec.complexity.contains(complexity) for o in capable):
        raise _no_candidate(capability, complexity, capable, field_prefix)
    load = await active_counts(session, team_id, [o.agent for o in capable])
    runs = await recent_runs(session, team_id, [o.agent for o in capable])
    return rank(capable, load, runs, capability, complexity)


def rank(
    offers: list[Offer],
    load: dict[str, int],
    runs: dict[str, list[Run]],
    capability: str,
    complexity: int | None,
) -> Assignment:
    """Rank the `offers` declaring `capability` (at least one fits `complexity`); no I/O.

    `load` counts each agent's unended tasks, `runs` holds its recent finished tasks.
    """
    capable = [o for o in offers if capability in o.spec.capabilities]
    weighed = [
        (o, record_of(runs.get(o.agent, []), o, capability), load.get(o.agent, 0)) for o in capable
    ]
    fits = [w for w in weighed if w[0].spec.complexity.contains(complexity)]
    outside = [w for w in weighed if not w[0].spec.complexity.contains(complexity)]
    ranked = sorted(fits, key=_key)
    candidates = [_candidate(*w, i + 1, _why(*w)) for i, w in enumerate(ranked)] + [
        _candidate(*w, None, _outside(w[0], complexity)) for w in outside
    ]
    best = candidates[0]
    return Assignment(
        best.agent, best.version, _reason(best, candidates, capability), candidates,
        capability, complexity,
    )  # fmt: skip


def is_available(offer: Offer, running: int) -> bool:
    """Whether a new task of the agent would start now (no `max_concurrent`: always)."""
    cap = offer.spec.max_concurrent
    return cap is None or running < cap


def _key(weighed: tuple[Offer, Record, int]) -> tuple[Any, ...]:
    offer, record, running = weighed
    rate = record.success_rate
    return (
        not is_available(offer, running),
        rate is None,  # agents with a record before agents without one
        -(rate or 0.0),
        record.mean_cost_usd or 0.0,
        record.mean_duration_seconds or 0.0,
        offer.agent,
    )


def _candidate(offer: Offer, record: Record, running: int, rank: int | None, why: str) -> Candidate:
    spec = offer.spec
    return Candidate(
        agent=offer.agent, version=offer.version, available=is_available(offer, running),
        running=running, max_concurrent=spec.max_concurrent,
        complexity_min=spec.complexity.min, complexity_max=spec.complexity.max,
        runs=record.runs, success_rate=record.success_rate, mean_cost_usd=record.mean_cost_usd,
        mean_duration_seconds=record.mean_duration_seconds, rank=rank, why=why,
    )  # fmt: skip


def _why(offer: Offer, record: Record, running: int) -> str:
    cap = offer.spec.max_concurrent
    load = "no max_concurrent" if cap is None else f"{running} of {cap} running"
    state = "available" if is_available(offer, running) else "busy"
    if record.runs == 0:
        return f"{state} ({load}); no finished run for the capability yet"
    rate = f"{record.success_rate or 0.0:.0%}"
    return f"{state} ({load}); {rate} succeeded over {record.runs} runs"


def _outside(offer: Offer, complexity: int | None) -> str:
    low, high = offer.spec.complexity.min, offer.spec.complexity.max
    return f"left out: complexity {complexity} is outside its range {low}-{high}"


def _reason(best: Candidate, candidates: list[Candidate], capability: str) -> str:
    ranked = [c for c in candidates if c.rank is not None]
    if not best.available:
        return (
            f"every one of the {len(ranked)} candidates for {capability!r} is busy: {best.agent} "
            f"has the best record ({best.why}); the task waits queued for its slot"
        )
    available = [c for c in ranked if c.available]
    if len(available) == 1:
        return f"{best.agent} is the only available candidate for {capability!r} ({best.why})"
    return (
        f"{best.agent} has the best record of {len(available)} available candidates for "
        f"{capability!r} ({best.why})"
    )


def _no_candidate(
    capability: str, complexity: int | None, offers: list[Offer], prefix: str
) -> InvalidInput:
    if not offers:
        message = f"no published agent of the team declares the capability {capability!r}"
    else:
        ranges = ", ".join(
            f"{o.agent} {o.spec.complexity.min}-{o.spec.complexity.max}" for o in offers
        )
        message = (
            f"no published agent declares the capability {capability!r} for complexity "
            f"{complexity} (ranges: {ranges})"
        )
    details = [{"field": f"{prefix}capability", "message": message, "capability": capability}]
    if offers:
        details.append({"field": f"{prefix}complexity", "message": message})
    return InvalidInput(message, details=details)
