"""The package manifest (docs/marketplace.md): what a package is, needs and depends on.

A package is a named, semver-versioned bundle of agent specs plus this manifest. The pydantic
model checks structure; `parse_manifest` turns its errors into problems named by dotted field
(`manifest.permissions.network.0`), as the agent spec does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cape.errors import InvalidInput
from cape.registry.checks import validation_problems
from cape.registry.semver import parse_range, try_parse

PACKAGE_PATTERN = r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$"
HOST_PATTERN = r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
SECRET_PATTERN = r"^[A-Z][A-Z0-9_]{0,63}$"
# The seeds' ten categories, in the order the catalogue lists them.
CATEGORIES: Final = (
    "automation",
    "analytics",
    "security",
    "integration",
    "productivity",
    "development",
    "qa",
    "research",
    "communication",
    "other",
)

Tag = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_PATTERN)]
Requirement = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Permissions(_Strict):
    """What the package's agents may use once installed; an admin accepts them at install."""

    tools: list[str] = Field(default_factory=list, max_length=64)
    network: list[Host] = Field(default_factory=list, max_length=64)
    pip: list[Requirement] = Field(default_factory=list, max_length=64)
    secrets: list[Annotated[str, Field(pattern=SECRET_PATTERN)]] = Field(
        default_factory=list, max_length=32
    )

    def items(self) -> list[str]:
        """Every permission as one string (`tool:web_fetch`, `network:api.github.com`)."""
        return sorted(
            [f"tool:{t}" for t in self.tools]
            + [f"network:{h}" for h in self.network]
            + [f"pip:{p}" for p in self.pip]
            + [f"secret:{s}" for s in self.secrets]
        )


class TestCase(_Strict):
    """An example input of one agent with the text its answer must contain."""

    agent: str = Field(min_length=1, max_length=64)
    input: dict[str, Any] = Field(default_factory=dict)
    expect_contains: str = Field("", max_length=1000)


class Manifest(_Strict):
    """A package's manifest, as `cape-package.yaml` holds it (or the JSON body's `manifest`)."""

    name: str = Field(pattern=PACKAGE_PATTERN)
    version: str = Field(max_length=64)
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field("", max_length=500)
    readme: str = Field("", max_length=100_000)
    category: str = "other"
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    license: str = Field("", max_length=64)
    homepage: str = Field("", max_length=500)
    platform: str = Field("*", max_length=100, description="CapeControl versions it works with.")
    permissions: Permissions = Field(default_factory=Permissions)
    dependencies: dict[str, str] = Field(default_factory=dict, max_length=32)
    tests: list[TestCase] = Field(default_factory=list, max_length=32)


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def semantic_problems(data: dict[str, Any], prefix: str) -> list[dict[str, str]]:
    """Version, category, platform range and dependency ranges of raw manifest data."""
    problems = []
    version = data.get("version")
    if isinstance(version, str) and try_parse(version) is None:
        problems.append(_problem(f"{prefix}.version", "not a semantic version (MAJOR.MINOR.PATCH)"))
    category = data.get("category", "other")
    if isinstance(category, str) and category not in CATEGORIES:
        message = f"unknown category {category!r}; one of: {', '.join(CATEGORIES)}"
        problems.append(_problem(f"{prefix}.category", message))
    platform = data.get("platform", "*")
    if isinstance(platform, str):
        problems.extend(_range_problems(platform, f"{prefix}.platform"))
    deps = data.get("dependencies")
    if isinstance(deps, dict):
        for dep, wanted in deps.items():
            field = f"{prefix}.dependencies.{dep}"
            if not isinstance(dep, str) or not _is_name(dep):
                problems.append(_problem(field, "not a package name"))
            elif dep == data.get("name"):
                problems.append(_problem(field, "a package cannot depend on itself"))
            if isinstance(wanted, str):
                problems.extend(_range_problems(wanted, field))
    return problems


def _is_name(text: str) -> bool:
    return re.fullmatch(PACKAGE_PATTERN, text) is not None


def _range_problems(text: str, field: str) -> list[dict[str, str]]:
    try:
        parse_range(text, field=field)
    except InvalidInput as exc:
        return [_problem(field, str(exc))]
    return []


def manifest_problems(
    data: Any, prefix: str = "manifest"
) -> tuple[Manifest | None, list[dict[str, str]]]:
    """The parsed manifest (None when it does not parse) and every problem by dotted field."""
    if not isinstance(data, dict):
        return None, [_problem(prefix, "expected a mapping of manifest fields")]
    manifest: Manifest | None = None
    problems: list[dict[str, str]] = []
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, prefix))
    problems.extend(semantic_problems(data, prefix))
    return (manifest if not problems else None), problems


def parse_manifest(data: Any, prefix: str = "manifest") -> Manifest:
    """Validate manifest data; InvalidInput lists every problem by dotted field."""
    manifest, problems = manifest_problems(data, prefix)
    if problems or manifest is None:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise InvalidInput(f"invalid package manifest: {fields}", details=problems)
    return manifest
