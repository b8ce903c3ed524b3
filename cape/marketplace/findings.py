"""What each step of the publishing pipeline found: blocking findings refuse a package."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """A blocking finding refuses the package; a warning is shown and kept in its report."""

    BLOCKING = "blocking"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing a step found: a stable code, the field or file it is about, and why."""

    code: str
    field: str
    message: str
    severity: Severity = Severity.BLOCKING


@dataclass
class Step:
    """One step of the pipeline and its findings (passed when none of them blocks)."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    skipped: str = ""  # why the step did not run (an earlier step blocked)

    def block(self, code: str, where: str, message: str) -> None:
        """Add a blocking finding."""
        self.findings.append(Finding(code, where, message, Severity.BLOCKING))

    def warn(self, code: str, where: str, message: str) -> None:
        """Add a warning."""
        self.findings.append(Finding(code, where, message, Severity.WARNING))

    @property
    def blocked(self) -> bool:
        """Whether a finding of this step refuses the package."""
        return any(f.severity == Severity.BLOCKING for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """The step as the report shows it."""
        status = (
            "skipped"
            if self.skipped
            else "failed"
            if self.blocked
            else ("warning" if self.findings else "passed")
        )
        return {
            "step": self.name,
            "status": status,
            "skipped": self.skipped or None,
            "findings": [{**asdict(f), "severity": str(f.severity)} for f in self.findings],
        }


def report_of(steps: list[Step]) -> list[dict[str, Any]]:
    """Every step as the API shows it, in pipeline order."""
    return [step.as_dict() for step in steps]


def blocking(steps: list[Step]) -> list[dict[str, str]]:
    """The blocking findings as InvalidInput details (`field` = step and field)."""
    return [
        {
            "field": f"{step.name}.{f.field}" if f.field else step.name,
            "message": f.message,
            "code": f.code,
            "step": step.name,
        }
        for step in steps
        for f in step.findings
        if f.severity == Severity.BLOCKING
    ]
