"""Request and response models of the schedule routes, and their timing checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import ScheduleIntervalSpec, ScheduleOverlapPolicy, ScheduleSpec

from api.tasks.schemas import TaskPage as TaskPage  # a schedule's tasks: the tasks' page
from cape.errors import InvalidInput

SCHEDULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,23}$"
MAX_SECONDS = 366 * 24 * 3600
Overlap = Literal[
    "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
]


def new_schedule_id() -> str:
    """A fresh schedule id: `sch` and 12 hex digits."""
    return f"sch{uuid.uuid4().hex[:12]}"


class Timing(BaseModel):
    """When runs happen: exactly one of `cron` and `interval_seconds`, within a time window."""

    cron: str | None = Field(
        None,
        max_length=256,
        description="5-field cron (minute hour day-of-month month day-of-week).",
        examples=["0 9 * * 1-5"],
    )
    interval_seconds: int | None = Field(
        None, ge=1, le=MAX_SECONDS, description="Run every this many seconds (epoch-aligned)."
    )
    offset_seconds: int | None = Field(
        None, ge=0, le=MAX_SECONDS, description="Shift of each interval run; below the interval."
    )
    timezone: str | None = Field(
        None, max_length=64, description="IANA zone of `cron` (default UTC).", examples=["UTC"]
    )
    start_at: datetime | None = Field(None, description="No runs before this (naive means UTC).")
    end_at: datetime | None = Field(None, description="No runs after this (naive means UTC).")


class SchedulePolicyFields(BaseModel):
    """What happens when runs overlap or were missed."""

    overlap: Overlap = Field(
        "skip", description="What a run due while the previous one still runs does."
    )
    catchup_window_seconds: int = Field(
        60,
        ge=10,
        le=MAX_SECONDS,
        description="Runs missed (Temporal down, schedule busy) by at most this long still run.",
    )


class ScheduleCreate(Timing, SchedulePolicyFields):
    """Run an agent on a timetable: the task's agent and input, and when."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        pattern=SCHEDULE_ID_PATTERN,
        description="Up to 24 of a-z, 0-9 and '-' (default: generated).",
        examples=["daily-report"],
    )
    agent: str = Field(min_length=1, max_length=128, examples=["assistant"])
    input: dict[str, Any] = Field(examples=[{"prompt": "Summarise yesterday's changes"}])
    agent_version: str | None = Field(
        None, max_length=64, description="A version or range, pinned when the schedule is made."
    )
    model: str | None = Field(None, max_length=256, description="Overrides the agent's model.")
    max_steps: int | None = Field(None, ge=1, le=10_000, description="Maximum LLM turns.")
    paused: bool = Field(False, description="Create it paused (no runs until unpaused).")
    note: str | None = Field(None, max_length=1000, description="Free text shown with the state.")


class SchedulePatch(Timing):
    """Change a schedule; only the fields sent change (null clears timezone, window and note).

    Sending `cron` switches to cron (drops the interval); sending `interval_seconds` switches to
    an interval (its offset is `offset_seconds`, else none).
    """

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
    model: str | None = Field(None, max_length=256)
    max_steps: int | None = Field(None, ge=1, le=200)
    overlap: Overlap | None = None
    catchup_window_seconds: int | None = Field(None, ge=10, le=MAX_SECONDS)
    note: str | None = Field(None, max_length=1000)


class ScheduleNote(BaseModel):
    """The optional body of pause and unpause."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=1000)


class ScheduleTrigger(BaseModel):
    """The optional body of trigger: an overlap policy for this run only."""

    model_config = ConfigDict(extra="forbid")

    overlap: Overlap | None = None


class ScheduleStateOut(BaseModel):
    """Paused or not, and the note."""

    paused: bool
    note: str | None


class ScheduleActionOut(BaseModel):
    """A run the schedule started; its task id is the run's workflow id."""

    task_id: str
    scheduled_at: datetime
    started_at: datetime


class ScheduleOut(BaseModel):
    """A schedule as the API shows it."""

    id: str
    owner: str
    agent: str
    agent_version: str
    model: str
    max_steps: int
    input: dict[str, Any]
    spec: Timing
    overlap: Overlap
    catchup_window_seconds: int
    state: ScheduleStateOut
    next_run_times: list[datetime] = Field(description="The next (up to 5) run times.")
    recent_actions: list[ScheduleActionOut] = Field(description="The latest runs, oldest first.")
    running_task_ids: list[str]
    num_actions: int = Field(description="How many runs the schedule started.")
    created_at: datetime
    updated_at: datetime | None
    links: dict[str, str] = Field(default_factory=dict)


class SchedulePage(BaseModel):
    """The caller's schedules."""

    items: list[ScheduleOut]


# --- timing and policy ----------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# (name, lowest, highest) of the five cron fields; 7 is Sunday too.
CRON_FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12)]
CRON_FIELDS.append(("day-of-week", 0, 7))


def cron_problem(cron: str) -> str | None:
    """Why `cron` cannot be a 5-field cron expression, or None.

    Only what is certainly wrong is reported here (field count, numbers out of range, a zero
    step), so every problem of a request comes back at once; Temporal checks names and the
    rest when the schedule is created.
    """
    fields = cron.split()
    if len(fields) != len(CRON_FIELDS):
        return "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
    for text, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
        for item in text.split(","):
            base, _, step = item.partition("/")
            if step.isdigit() and int(step) == 0:
                return f"{name} {item!r}: a step must be at least 1"
            for end in base.split("-"):
                if end.isdigit() and not low <= int(end) <= high:
                    return f"{name} {item!r}: {end} is outside {low}-{high}"
    return None


def timing_problems(timing: Timing) -> list[dict[str, str]]:
    """Every problem of the timing, each naming its field (empty when it is valid)."""
    problems: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        problems.append({"field": f"body.{field}", "message": message})

    if (timing.cron is None) == (timing.interval_seconds is None):
        for field in ("cron", "interval_seconds"):
            bad(field, "give exactly one of cron and interval_seconds")
    if timing.cron is not None and (why := cron_problem(timing.cron)) is not None:
        bad("cron", why)
    if timing.offset_seconds is not None:
        if timing.interval_seconds is None:
            bad("offset_seconds", "offset_seconds needs interval_seconds")
        elif timing.offset_seconds >= timing.interval_seconds:
            bad("offset_seconds", "offset_seconds must be below interval_seconds")
    if timing.timezone is not None and not _known_zone(timing.timezone):
        bad("timezone", f"unknown time zone {timing.timezone!r}")
    start, end = _utc(timing.start_at), _utc(timing.end_at)
    if start is not None and end is not None and end <= start:
        bad("end_at", "end_at must be after start_at")
    return problems


def refuse(problems: list[dict[str, str]]) -> None:
    """Raise one InvalidInput listing every problem, if there is any."""
    if problems:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise InvalidInput(f"invalid request: {fields}", details=problems)


def check_timing(timing: Timing) -> ScheduleSpec:
    """Validate the timing (422 names each bad field) and return Temporal's spec of it."""
    refuse(timing_problems(timing))
    start, end = _utc(timing.start_at), _utc(timing.end_at)
    intervals = []
    if timing.interval_seconds is not None:
        offset = timedelta(seconds=timing.offset_seconds) if timing.offset_seconds else None
        intervals.append(
            ScheduleIntervalSpec(every=timedelta(seconds=timing.interval_seconds), offset=offset)
        )
    return ScheduleSpec(
        cron_expressions=[" ".join(timing.cron.split())] if timing.cron else [],
        intervals=intervals,
        time_zone_name=timing.timezone,
        start_at=start,
        end_at=end,
    )


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def timing_of(spec: ScheduleSpec, cron: str | None) -> Timing:
    """The timing of Temporal's `spec` as the API shows it (`cron` as the client wrote it)."""
    interval = spec.intervals[0] if spec.intervals else None
    return Timing(
        cron=cron,
        interval_seconds=_seconds(interval.every) if interval else None,
        offset_seconds=_seconds(interval.offset) if interval else None,
        timezone=spec.time_zone_name,
        start_at=spec.start_at,
        end_at=spec.end_at,
    )


def merged_timing(current: Timing, patch: SchedulePatch) -> Timing:
    """The timing after `patch`: cron and interval replace each other; null clears the rest."""
    values = current.model_dump()
    sent = patch.model_fields_set
    if patch.cron is not None:
        values.update(cron=patch.cron, interval_seconds=None, offset_seconds=None)
    if patch.interval_seconds is not None:
        values.update(interval_seconds=patch.interval_seconds, offset_seconds=None)
        values["cron"] = patch.cron  # both given: check_timing rejects it
    for name in ("offset_seconds", "timezone", "start_at", "end_at"):
        if name in sent:
            values[name] = getattr(patch, name)
    return Timing.model_validate(values)


def overlap_policy(name: Overlap) -> ScheduleOverlapPolicy:
    """Temporal's overlap policy called `name`."""
    return ScheduleOverlapPolicy[name.upper()]


def overlap_name(policy: ScheduleOverlapPolicy) -> Overlap:
    """The API's name of an overlap policy."""
    name: Overlap = policy.name.lower()  # type: ignore[assignment]
    return name
