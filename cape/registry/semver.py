"""Semantic versions (semver 2.0.0) and npm-style version ranges.

Ranges: exact `1.2.3`, caret `^1.2` / `^1.2.3`, tilde `~1.2`, X-ranges `1.x` / `1.2.x` / `1`,
comparator sets `>=1.2.0 <2.0.0`, alternatives joined by `||`, and `*` / `latest` (anything).
As in npm, a pre-release version matches a range only when one of the range's comparators names
a pre-release of the same MAJOR.MINOR.PATCH, so `^1.0.0` never picks `2.0.0-beta.1`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cape.errors import InvalidInput

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_PART = r"0|[1-9]\d*|[xX*]"
_PARTIAL = re.compile(
    rf"^(?P<major>{_PART})(?:\.(?P<minor>{_PART})(?:\.(?P<patch>{_PART})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?)?)?$"
)
_COMPARATOR = re.compile(r"^(?P<op><=|>=|<|>|=|\^|~)?\s*(?P<version>\S+)$")
MAX_RANGE_CHARS = 256


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ordering is semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    build: str = ""

    @property
    def core(self) -> tuple[int, int, int]:
        """MAJOR.MINOR.PATCH as a tuple."""
        return (self.major, self.minor, self.patch)

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        # A version without pre-release ranks above all of its pre-releases; numeric
        # identifiers rank below alphanumeric ones; a longer list wins when the rest is equal.
        pre = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.pre)
        return (self.core, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(str(p) for p in self.pre)
        return text + (f"+{self.build}" if self.build else "")


def _pre(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def _invalid(field: str, text: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"invalid {field}: {text!r} {why}", details=[{"field": field, "message": why}]
    )


def try_parse(text: str) -> Version | None:
    """The version `text` spells, or None when it is not a semver 2.0 version."""
    match = SEMVER.match(text)
    if match is None:
        return None
    return Version(
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        _pre(match["pre"]),
        match["build"] or "",
    )


def parse(text: str, field: str = "version") -> Version:
    """Parse a version (`MAJOR.MINOR.PATCH[-pre][+build]`); InvalidInput names `field`."""
    version = try_parse(text)
    if version is None:
        raise _invalid(field, text, "is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])")
    return version


@dataclass(frozen=True)
class Comparator:
    """One bound of a range, e.g. `>=` 1.2.0."""

    op: str  # one of <, <=, >, >=, =
    version: Version

    def test(self, version: Version) -> bool:
        """Whether `version` satisfies this bound."""
        if self.op == "=":
            return version == self.version
        if self.op == "<":
            return version < self.version
        if self.op == "<=":
            return version <= self.version
        if self.op == ">":
            return version > self.version
        return version >= self.version


@dataclass(frozen=True)
class Range:
    """A parsed range: alternatives (`||`), each a set of comparators that must all hold."""

    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    @property
    def exact(self) -> Version | None:
        """The one version this range names, when it is an exact version (`1.2.3`, `=1.2.3`)."""
        if len(self.alternatives) == 1 and len(self.alternatives[0]) == 1:
            [only] = self.alternatives[0]
            if only.op == "=":
                return only.version
        return None

    def matches(self, version: Version) -> bool:
        """Whether `version` satisfies the range (with the npm pre-release rule)."""
        return any(_set_matches(comparators, version) for comparators in self.alternatives)

    def best(self, versions: Iterable[Version]) -> Version | None:
        """The highest of `versions` that satisfies the range, or None."""
        return max((v for v in versions if self.matches(v)), default=None)


def _set_matches(comparators: tuple[Comparator, ...], version: Version) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.pre:
        return True
    return any(c.version.pre and c.version.core == version.core for c in comparators)


def _bound(op: str, major: int, minor: int, patch: int, pre: str = "") -> Comparator:
    return Comparator(op, Version(major, minor, patch, _pre(pre)))


def _expand(op: str, text: str, field: str, whole: str) -> list[Comparator]:
    match = _PARTIAL.match(text)
    if match is None:
        raise _invalid(field, whole, f"has a bad version {text!r}")
    parts = [match[name] for name in ("major", "minor", "patch")]
    given = [p is not None and p not in ("x", "X", "*") for p in parts]
    # A wildcard ends the version: what follows it counts as a wildcard too (`1.x.3` = `1.x`).
    known = given.index(False) if False in given else 3
    nums = [int(p) for p in parts[:known]] + [0] * (3 - known)
    major, minor, patch = nums
    pre = match["pre"] or ""
    if known < 3:
        pre = ""
    if op in ("", "="):
        if known == 3:
            return [_bound("=", major, minor, patch, pre)]
        op = "^x"  # an X-range: everything under the given parts
    if op == "^x":
        if known == 0:
            return []
        upper = (major + 1, 0, 0) if known == 1 else (major, minor + 1, 0)
        return [_bound(">=", major, minor, patch), _bound("<", *upper)]
    if op == "^":
        if known == 0:
            return []
        if major > 0 or known == 1:
            upper = (major + 1, 0, 0)
        elif minor > 0 or known == 2:
            upper = (0, minor + 1, 0)
        else:
            upper = (0, 0, patch + 1)
        return [_bound(">=", major, minor, patch, pre), _bound("<", *upper)]
    if op == "~":
        if known == 0:
            return []
        upper = (major + 1, 0, 0) if known == 1 else (major, minor + 1, 0)
        return [_bound(">=", major, minor, patch, pre), _bound("<", *upper)]
    if known == 0:
        # `>=*` and `<=*` mean anything; `<*` and `>*` mean nothing.
        return [] if op in (">=", "<=") else [_bound("<", 0, 0, 0, "0")]
    if known == 3:
        return [_bound(op, major, minor, patch, pre)]
    # A partial bound: `>=1.2` = `>=1.2.0`; `>1.2` = `>=1.3.0`; `<=1.2` = `<1.3.0`.
    next_up = (major + 1, 0, 0) if known == 1 else (major, minor + 1, 0)
    if op == ">=" or op == "<":
        return [_bound(op, major, minor, 0)]
    return [_bound(">=" if op == ">" else "<", *next_up)]


def parse_range(text: str, field: str = "version") -> Range:
    """Parse a version range; InvalidInput names `field` when it is not one."""
    source = text.strip()
    if not source or len(source) > MAX_RANGE_CHARS:
        raise _invalid(field, text, "is not a version or range")
    alternatives = []
    for alternative in source.split("||"):
        # `>= 1.2.0` is allowed: glue an operator to the version that follows it.
        tokens = re.sub(r"(<=|>=|<|>|=|\^|~)\s+", r"\1", alternative.strip()).split()
        if not tokens:
            raise _invalid(field, text, "has an empty alternative")
        comparators: list[Comparator] = []
        for token in tokens:
            if token in ("*", "latest", "x", "X"):
                continue
            match = _COMPARATOR.match(token)
            if match is None:
                raise _invalid(field, text, f"has a bad comparator {token!r}")
            comparators.extend(_expand(match["op"] or "", match["version"], field, text))
        alternatives.append(tuple(comparators))
    return Range(source, tuple(alternatives))


def highest(versions: Iterable[str]) -> str | None:
    """The highest of version strings (ones that do not parse are ignored)."""
    parsed = [(v, p) for v in versions if (p := try_parse(v)) is not None]
    return max(parsed, key=lambda pair: pair[1])[0] if parsed else None


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Version strings in ascending precedence (ones that do not parse come first)."""
    low = Version(-1, 0, 0)
    return sorted(versions, key=lambda v: try_parse(v) or low)
