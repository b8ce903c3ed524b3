"""Semantic versions and ranges: parsing, precedence and npm's matching rules."""

from __future__ import annotations

import itertools

import pytest

from cape.errors import InvalidInput
from cape.registry.semver import highest, parse, parse_range, sort_versions, try_parse


def test_precedence_follows_the_semver_spec() -> None:
    # The example chain of semver.org section 11, plus numeric parts compared as numbers.
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    parsed = [parse(v) for v in chain]
    assert parsed == sorted(parsed)
    assert all(a < b for a, b in itertools.pairwise(parsed))
    assert sort_versions(reversed(chain)) == chain
    assert highest(["1.2.0", "1.10.0", "1.9.9", "junk"]) == "1.10.0"


def test_build_metadata_does_not_count() -> None:
    assert parse("1.0.0+build.7") == parse("1.0.0")
    assert str(parse("1.2.3-rc.1+sha.5114f85")) == "1.2.3-rc.1+sha.5114f85"


@pytest.mark.parametrize(
    "text", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0 ", "a.b.c", ""]
)
def test_bad_versions_are_refused(text: str) -> None:
    assert try_parse(text) is None
    with pytest.raises(InvalidInput) as raised:
        parse(text, field="spec.version")
    assert [d["field"] for d in raised.value.details] == ["spec.version"]


VERSIONS = [
    *("0.1.0", "0.2.3", "0.2.9", "1.0.0", "1.2.0", "1.2.5", "1.3.0"),
    *("2.0.0-beta.1", "2.0.0", "2.1.0"),
]


@pytest.mark.parametrize(
    ("wanted", "best"),
    [
        ("1.2.0", "1.2.0"),
        ("=1.2.5", "1.2.5"),
        ("^1.2", "1.3.0"),
        ("^1.2.3", "1.3.0"),
        ("^1", "1.3.0"),
        ("^0.2.3", "0.2.9"),
        ("^0.1.0", "0.1.0"),
        ("~1.2", "1.2.5"),
        ("~1.2.1", "1.2.5"),
        ("~1", "1.3.0"),
        ("1.x", "1.3.0"),
        ("1.2.x", "1.2.5"),
        ("1.2", "1.2.5"),
        ("1", "1.3.0"),
        (">=1.2.0 <2.0.0", "1.3.0"),
        (">= 1.0.0 < 1.2.1", "1.2.0"),
        (">1.2", "2.1.0"),
        ("<=1.2", "1.2.5"),
        ("<1.2", "1.0.0"),
        ("*", "2.1.0"),
        ("latest", "2.1.0"),
        ("x", "2.1.0"),
        ("^3.0.0", None),
        ("0.2.x || ^2.0.0", "2.1.0"),
        ("<0.2.0 || >5", "0.1.0"),
    ],
)
def test_ranges_pick_the_highest_match(wanted: str, best: str | None) -> None:
    found = parse_range(wanted).best(parse(v) for v in VERSIONS)
    assert (str(found) if found else None) == best


def test_pre_releases_match_only_when_the_range_names_one() -> None:
    beta1, beta2 = parse("2.0.0-beta.1"), parse("2.0.0-beta.2")
    assert not parse_range("^1.0.0").matches(beta1)
    assert not parse_range("*").matches(beta1)
    assert not parse_range(">=1.0.0").matches(beta1)
    assert not parse_range("<2.0.0").matches(beta1)
    assert parse_range("^2.0.0-beta.1").matches(beta2)
    assert parse_range(">=2.0.0-beta.1 <3").matches(beta1)
    assert not parse_range("^2.0.0-beta.1").matches(parse("2.1.0-beta.1"))  # other core
    assert parse_range("2.0.0-beta.1").matches(beta1)
    assert parse_range("2.0.0-beta.1").exact == beta1


def test_exact_ranges_are_recognised() -> None:
    assert parse_range("1.2.3").exact == parse("1.2.3")
    assert parse_range("=1.2.3").exact == parse("1.2.3")
    assert parse_range("1.2").exact is None
    assert parse_range("^1.2.3").exact is None


BAD_RANGES = ["", "   ", "^", "~x.y", "1.2.3 - 2.0.0", "=>1.0.0", "1.2.3.4", "^1.2 ||", "a" * 300]


@pytest.mark.parametrize("text", BAD_RANGES)
def test_bad_ranges_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_range(text, field="body.agent_version")
    assert [d["field"] for d in raised.value.details] == ["body.agent_version"]
