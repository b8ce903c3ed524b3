"""Resolving a package's dependency graph to exact versions, or saying why not.

Pure: it works on a catalogue of candidates the caller read. Each package gets the highest
non-yanked version that satisfies every range required of it (and, for a package the team has
installed already, that installed version); a conflict names the two requirement paths that
cannot both hold, a cycle names its loop, a yanked-only match says it was yanked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cape.registry.semver import Range, Version, parse_range, try_parse

MAX_ROUNDS = 64


@dataclass(frozen=True)
class Candidate:
    """One published version of a package and its dependencies (name -> range)."""

    name: str
    version: str
    dependencies: dict[str, str] = field(default_factory=dict)
    yanked: bool = False

    @property
    def parsed(self) -> Version:
        """The version for ordering."""
        return try_parse(self.version) or Version(-1, 0, 0)


@dataclass(frozen=True)
class Requirement:
    """A range required of a package and the chain of packages that asks for it."""

    range: Range
    path: tuple[str, ...]

    def describe(self) -> str:
        """The path as `app@1.0.0 -> lib ^1.0`."""
        return " -> ".join(self.path)


class ResolveError(Exception):
    """The graph cannot be installed: `code` (conflict, cycle, missing, yanked) and details."""

    def __init__(self, code: str, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.code = code
        self.paths = paths


@dataclass
class Resolution:
    """The exact version of every package of the graph, dependencies before dependents."""

    picks: dict[str, Candidate]
    order: list[str]


def _choose(name: str, reqs: list[Requirement], catalogue: dict[str, list[Candidate]]) -> Candidate:
    versions = catalogue.get(name, [])
    if not versions:
        raise ResolveError(
            "missing", f"package {name!r} does not exist", [r.describe() for r in reqs]
        )
    fits = [c for c in versions if all(r.range.matches(c.parsed) for r in reqs)]
    usable = [c for c in fits if not c.yanked]
    if usable:
        return max(usable, key=lambda c: c.parsed)
    if fits:
        raise ResolveError(
            "yanked",
            f"every version of {name!r} that matches was yanked "
            f"({', '.join(c.version for c in fits)})",
            [r.describe() for r in reqs],
        )
    for index, first in enumerate(reqs):
        for second in reqs[index + 1 :]:
            if not any(
                first.range.matches(c.parsed) and second.range.matches(c.parsed) for c in versions
            ):
                raise ResolveError(
                    "conflict",
                    f"conflicting requirements of {name!r}: {first.describe()} and "
                    f"{second.describe()}",
                    [first.describe(), second.describe()],
                )
    raise ResolveError(
        "missing",
        f"no version of {name!r} matches {reqs[0].range.text}",
        [r.describe() for r in reqs],
    )


def resolve(
    root: str,
    wanted: str,
    catalogue: dict[str, list[Candidate]],
    installed: dict[str, str] | None = None,
    required: list[tuple[str, str, str]] | None = None,
) -> Resolution:
    """Exact versions for `root` (range `wanted`) and everything it needs.

    Args:
        root: The package to install.
        wanted: A version range for it (`*` for the newest).
        catalogue: Every version of every package that may be needed.
        installed: Packages the team keeps as they are (name -> version): a dependency on one
            of them must accept that version.
        required: Ranges the team's other installs place on packages that may move
            (name, range, the installed package asking), so an update never breaks them.

    Raises:
        ResolveError: A conflict (both paths), a cycle, a missing or yanked-only package.
    """
    fixed = {n: v for n, v in (installed or {}).items() if n != root}
    picks: dict[str, Candidate] = {}
    for _ in range(MAX_ROUNDS):
        reqs: dict[str, list[Requirement]] = {
            root: [Requirement(parse_range(wanted, "version"), (f"{root} {wanted}",))]
        }
        for name, version in fixed.items():
            reqs.setdefault(name, []).append(
                Requirement(parse_range(version), (f"installed {name}@{version}",))
            )
        for name, text, asker in required or []:
            reqs.setdefault(name, []).append(
                Requirement(parse_range(text, name), (f"installed {asker}", f"{name} {text}"))
            )
        paths: dict[str, tuple[str, ...]] = {
            root: (f"{root}@{picks[root].version}",) if root in picks else (root,)
        }
        queue = [root]
        seen: set[str] = set()
        while queue:
            name = queue.pop(0)
            if name in seen or name not in picks:
                continue
            seen.add(name)
            pick = picks[name]
            for dep, text in sorted(pick.dependencies.items()):
                path = (*paths[name], f"{dep} {text}")
                reqs.setdefault(dep, []).append(Requirement(parse_range(text, dep), path))
                label = f"{dep}@{picks[dep].version}" if dep in picks else dep
                paths.setdefault(dep, (*paths[name], label))
                queue.append(dep)
        # A package only the team's installs constrain is not part of this graph.
        new = {
            name: _choose(name, rs, catalogue)
            for name, rs in reqs.items()
            if any(not r.path[0].startswith("installed") for r in rs)
        }
        if new == picks:
            break
        picks = new
    else:
        raise ResolveError("conflict", "the dependency graph does not settle", [])
    return Resolution(picks, _order(root, picks))


def _order(root: str, picks: dict[str, Candidate]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            loop = [*trail[trail.index(name) :], name]
            raise ResolveError(
                "cycle", f"dependency cycle: {' -> '.join(loop)}", [" -> ".join(loop)]
            )
        state[name] = "open"
        for dep in sorted(picks[name].dependencies):
            if dep in picks:
                visit(dep, [*trail, name])
        state[name] = "done"
        order.append(name)

    visit(root, [])
    return order
