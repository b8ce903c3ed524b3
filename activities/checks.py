"""The output check: the agent's final answer must be JSON matching its output schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.recorder import StepRecorder
from activities.types import CheckInput, CheckResult
from cape.contracts.steps import CheckStepOutput, read_check
from cape.task_text import SCHEMA_REQUEST

log = structlog.get_logger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_answer(answer: str | None, schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """The answer as JSON and every way it misses `schema` (empty when it matches)."""
    text = (answer or "").strip()
    fenced = FENCE.match(text)
    if fenced:  # models often wrap JSON in a code fence
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"the answer is not JSON ({exc.msg} at position {exc.pos})"]
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]
    return value, problems


def repair_request(problems: list[str], schema: dict[str, Any]) -> str:
    """What the model is told when its answer misses the schema."""
    listed = "\n".join(f"- {p}" for p in problems)
    return (
        f"{SCHEMA_REQUEST}\n{json.dumps(schema)}\n\n"
        f"It did not:\n{listed}\n\nAnswer again with the JSON only."
    )


class CheckActivities:
    """Answer checks, recorded as steps of the task."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.recorder = StepRecorder(sessions)

    @activity.defn(name="check_output")
    async def check_output(self, inp: CheckInput) -> CheckResult:
        """Parse and validate the final answer; on a miss, tell the model what to fix."""
        ref = inp.step
        structlog.contextvars.bind_contextvars(
            task_id=ref.task_id, workflow_id=activity.info().workflow_id, step_no=ref.step_no
        )
        done = await self.recorder.begin(ref, {"attempts_left": inp.attempts_left})
        if done is not None:
            stored = read_check(done)
            return CheckResult(stored["ok"], stored.get("output"), stored.get("problems", []))
        value, problems = parse_answer(inp.answer, inp.schema)
        if not problems and not isinstance(value, dict):
            problems = ["the answer must be a JSON object"]
        if not problems:
            valid: CheckStepOutput = {"ok": True, "output": value}
            await self.recorder.finish(ref, valid)
            return CheckResult(True, value)
        log.info("answer misses the output schema", problems=problems[:5])
        output: CheckStepOutput = {"ok": False, "problems": problems}
        if inp.attempts_left > 0:
            # load_messages puts this in the conversation, so the next turn can repair it.
            output["message"] = {"role": "user", "content": repair_request(problems, inp.schema)}
        await self.recorder.finish(ref, output)
        return CheckResult(False, None, problems)
