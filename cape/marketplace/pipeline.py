"""The publishing pipeline: every check a package version passes before it is stored.

Steps, in order, each reported with its findings (docs/marketplace.md): `archive` (archives
only, see `cape.marketplace.archive`), `manifest`, `specs` (the registry's own validation),
`version`, `dependencies`, `security`, `advisories`, `signature` and `quality`. A step that
needs the manifest is skipped when it did not parse. Pure: the caller reads the package's
earlier versions and the catalogue the dependencies resolve against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cape.errors import InvalidInput
from cape.marketplace.advisories import Advisory, check_requirements
from cape.marketplace.content import PackageContent, content_hash, verify
from cape.marketplace.findings import Step
from cape.marketplace.manifest import Manifest, manifest_problems
from cape.marketplace.resolver import Candidate, ResolveError, resolve
from cape.marketplace.scan import scan
from cape.registry.semver import try_parse
from cape.registry.spec import parse_spec

MAX_AGENTS = 16


@dataclass
class Context:
    """What the pipeline checks a package against."""

    team_id: str
    owner_team: str | None  # the team that holds the package name, None for a new name
    versions: list[str]  # the package's versions already published (any status)
    catalogue: dict[str, list[Candidate]]
    advisories: list[Advisory] = field(default_factory=list)


@dataclass
class Outcome:
    """The steps and, when none blocks, what is stored."""

    steps: list[Step]
    manifest: Manifest | None = None
    agents: list[dict[str, Any]] = field(default_factory=list)
    content_hash: str = ""
    quality: float = 0.0

    @property
    def blocked(self) -> bool:
        """Whether a step refuses the package."""
        return any(step.blocked for step in self.steps)


def _specs(content: PackageContent, manifest: Manifest | None, step: Step) -> list[dict[str, Any]]:
    if not content.agents:
        step.block("no_agents", "agents", "a package holds at least one agent spec")
    if len(content.agents) > MAX_AGENTS:
        step.block("too_many_agents", "agents", f"at most {MAX_AGENTS} agents per package")
    specs: list[dict[str, Any]] = []
    for index, data in enumerate(content.agents):
        try:
            specs.append(parse_spec(data, prefix=f"agents.{index}").to_data())
        except InvalidInput as exc:
            for problem in exc.details or []:
                step.block("invalid_spec", problem["field"], problem["message"])
    names = [s["name"] for s in specs]
    for name in {n for n in names if names.count(n) > 1}:
        step.block("duplicate_agent", f"agents.{name}", "two agents have this name")
    if manifest is not None:
        for index, case in enumerate(manifest.tests):
            if case.agent not in names:
                step.block(
                    "unknown_agent",
                    f"manifest.tests.{index}.agent",
                    f"no agent {case.agent!r} in the package",
                )
    return specs


def _version(manifest: Manifest, ctx: Context, step: Step) -> None:
    if ctx.owner_team is not None and ctx.owner_team != ctx.team_id:
        step.block("name_taken", "manifest.name", f"package {manifest.name!r} is another team's")
        return
    new = try_parse(manifest.version)
    if new is None:
        return  # the manifest step said so
    if manifest.version in ctx.versions:
        step.block(
            "version_exists",
            "manifest.version",
            f"{manifest.version} is published: a version never changes, pick a new one",
        )
        return
    parsed = [v for v in (try_parse(text) for text in ctx.versions) if v is not None]
    if parsed and new <= max(parsed):
        step.block(
            "version_not_greater",
            "manifest.version",
            f"{manifest.version} must be greater than the last version {max(parsed)}",
        )


def _dependencies(manifest: Manifest, ctx: Context, step: Step) -> None:
    if not manifest.dependencies:
        return
    own = Candidate(manifest.name, manifest.version, dict(manifest.dependencies))
    catalogue = {**ctx.catalogue, manifest.name: [*ctx.catalogue.get(manifest.name, []), own]}
    try:
        resolve(manifest.name, manifest.version, catalogue)
    except ResolveError as exc:
        step.block(f"dependency_{exc.code}", "manifest.dependencies", str(exc))


def _signature(content: PackageContent, digest: str, step: Step) -> None:
    if not content.signature and not content.public_key:
        step.warn("unsigned", "signature", "the package is not signed")
        return
    if not content.signature or not content.public_key:
        step.block("bad_signature", "signature", "a signature needs both the signature and key")
        return
    if (why := verify(content.public_key, content.signature, digest)) is not None:
        step.block("bad_signature", "signature", why)


def _quality(outcome: Outcome, manifest: Manifest, content: PackageContent, step: Step) -> None:
    warnings = sum(len(s.findings) for s in outcome.steps)
    score = 100.0 - 10.0 * warnings
    score -= 0 if manifest.readme.strip() else 15
    score -= 0 if manifest.tests else 10
    score -= 0 if content.signature else 10
    outcome.quality = max(0.0, min(100.0, score))
    if not manifest.tests:
        step.warn("no_tests", "manifest.tests", "no test cases: the quality score counts them")


def run_pipeline(content: PackageContent, ctx: Context, archive: Step | None = None) -> Outcome:
    """Every step of the pipeline over `content` (the archive step already ran, if any)."""
    steps = [archive] if archive is not None else []
    outcome = Outcome(steps)
    step = Step("manifest")
    manifest, problems = manifest_problems(content.manifest)
    for problem in problems:
        step.block("invalid_manifest", problem["field"], problem["message"])
    steps.append(step)
    if manifest is not None and not manifest.readme and "README.md" in content.files:
        manifest = manifest.model_copy(
            update={"readme": content.files["README.md"].decode("utf-8", "replace")}
        )
    step = Step("specs")
    outcome.agents = _specs(content, manifest, step)
    steps.append(step)
    outcome.content_hash = content_hash(content)
    for name, check in (("version", _version), ("dependencies", _dependencies)):
        step = Step(name)
        if manifest is None:
            step.skipped = "the manifest did not parse"
        else:
            check(manifest, ctx, step)
        steps.append(step)
    step = Step("security")
    if manifest is None:
        step.skipped = "the manifest did not parse"
    else:
        specs = [a for a in content.agents if isinstance(a, dict)]
        scan(manifest, specs, content.files, step)
    steps.append(step)
    step = Step("advisories")
    if manifest is not None:
        check_requirements(manifest.permissions.pip, ctx.advisories, step)
    steps.append(step)
    step = Step("signature")
    _signature(content, outcome.content_hash, step)
    steps.append(step)
    outcome.manifest = manifest
    if manifest is not None:
        step = Step("quality")
        _quality(outcome, manifest, content, step)
        steps.append(step)
    return outcome
