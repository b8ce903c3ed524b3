"""Dependency resolution: the highest fitting versions, conflicts with both paths, cycles,
yanked-only matches, and the versions a team has installed already."""

from __future__ import annotations

import pytest

from cape.marketplace.resolver import Candidate, ResolveError, resolve


def c(name: str, version: str, yanked: bool = False, **deps: str) -> Candidate:
    return Candidate(name, version, dict(deps), yanked)


CATALOGUE = {
    "app": [c("app", "1.0.0", lib="^1.0"), c("app", "2.0.0", lib="^2.0")],
    "lib": [
        c("lib", "1.0.0"),
        c("lib", "1.4.0"),
        c("lib", "1.5.0", yanked=True),
        c("lib", "2.0.0"),
    ],
}


def test_the_highest_fitting_unyanked_versions_dependencies_first() -> None:
    found = resolve("app", "^1", CATALOGUE)
    assert {n: p.version for n, p in found.picks.items()} == {"app": "1.0.0", "lib": "1.4.0"}
    assert found.order == ["lib", "app"]
    assert resolve("app", "*", CATALOGUE).picks["lib"].version == "2.0.0"


def test_an_installed_version_is_kept_or_named_in_the_conflict() -> None:
    assert resolve("app", "^1", CATALOGUE, {"lib": "1.0.0"}).picks["lib"].version == "1.0.0"
    with pytest.raises(ResolveError) as caught:
        resolve("app", "^1", CATALOGUE, {"lib": "2.0.0"})
    assert caught.value.code == "conflict"
    assert caught.value.paths == ["installed lib@2.0.0", "app@1.0.0 -> lib ^1.0"]


def test_a_diamond_conflict_names_both_paths() -> None:
    catalogue = {
        "top": [c("top", "1.0.0", left="*", right="*")],
        "left": [c("left", "1.0.0", base="^1")],
        "right": [c("right", "1.0.0", base="^2")],
        "base": [c("base", "1.0.0"), c("base", "2.0.0")],
    }
    with pytest.raises(ResolveError) as caught:
        resolve("top", "*", catalogue)
    assert caught.value.code == "conflict"
    assert caught.value.paths == [
        "top@1.0.0 -> left@1.0.0 -> base ^1",
        "top@1.0.0 -> right@1.0.0 -> base ^2",
    ]


def test_cycles_missing_and_yanked_only_are_refused() -> None:
    cycle = {"a": [c("a", "1.0.0", b="^1")], "b": [c("b", "1.0.0", c="^1")],
             "c": [c("c", "1.0.0", a="^1")]}  # fmt: skip
    with pytest.raises(ResolveError, match="dependency cycle: a -> b -> c -> a"):
        resolve("a", "*", cycle)
    with pytest.raises(ResolveError) as missing:
        resolve("app", "^1", {"app": CATALOGUE["app"]})
    assert missing.value.code == "missing"
    with pytest.raises(ResolveError) as yanked:
        resolve("lib", "=1.5.0", CATALOGUE)
    assert yanked.value.code == "yanked"


def test_an_update_keeps_to_the_ranges_other_installs_place_on_a_shared_dependency() -> None:
    # app moves to 2.0.0, whose lib ^2.0 breaks the installed `other` (lib ^1.0): refused, with
    # both paths; where a version suits both, it is the one chosen.
    held = [("lib", "^1.0", "other@1.0.0")]
    with pytest.raises(ResolveError) as caught:
        resolve("app", "*", CATALOGUE, {}, held)
    assert caught.value.code == "conflict"
    assert caught.value.paths == ["installed other@1.0.0 -> lib ^1.0", "app@2.0.0 -> lib ^2.0"]
    relaxed = [("lib", ">=1.0.0", "other@1.0.0")]
    assert resolve("app", "*", CATALOGUE, {}, relaxed).picks["lib"].version == "2.0.0"
    assert resolve("app", "^1", CATALOGUE, {}, held).picks["lib"].version == "1.4.0"
