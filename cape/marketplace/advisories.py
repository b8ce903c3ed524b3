"""The vulnerability check of a package's declared `pip` requirements, offline.

The operator provides the advisory database as a JSON file (`CAPE_MARKETPLACE_ADVISORIES`): a
list of `{"id", "package", "affected", "summary"}`, `affected` a PEP 440 specifier such as
`<2.31.0`. A requirement pinned to an affected version blocks; a range that admits one warns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from cape.marketplace.findings import Step


@dataclass(frozen=True)
class Advisory:
    """One known vulnerability: the package and the versions it affects."""

    id: str
    package: str
    affected: SpecifierSet
    summary: str


def load_advisories(path: Path | None) -> list[Advisory]:
    """The operator's advisories (none without a file); a bad file is an error, not silence."""
    if path is None:
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Advisory(
            id=str(item["id"]),
            package=canonicalize_name(str(item["package"])),
            affected=SpecifierSet(str(item["affected"])),
            summary=str(item.get("summary", "")),
        )
        for item in data
    ]


def _pinned(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return specs[0].version
    return None


def check_requirements(requirements: list[str], advisories: list[Advisory], step: Step) -> None:
    """Add a finding for every requirement that is malformed or matches an advisory."""
    for index, text in enumerate(requirements):
        where = f"manifest.permissions.pip.{index}"
        try:
            requirement = Requirement(text)
        except (InvalidRequirement, InvalidSpecifier) as exc:
            step.block("bad_requirement", where, f"not a pip requirement: {exc}")
            continue
        name = canonicalize_name(requirement.name)
        pinned = _pinned(requirement)
        if pinned is None:
            step.warn("unpinned", where, f"{text!r} is not pinned (==): installs may vary")
        for advisory in (a for a in advisories if a.package == name):
            label = f"{advisory.id}: {advisory.summary}".rstrip(": ")
            if pinned is not None and advisory.affected.contains(pinned, prereleases=True):
                step.block("vulnerable", where, f"{name} {pinned} is affected by {label}")
            elif pinned is None:
                step.warn(
                    "may_be_vulnerable", where, f"{text!r} admits versions affected by {label}"
                )
