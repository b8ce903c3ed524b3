"""The spec fields of assignment, `capabilities` and the `complexity` range, and their errors."""

from __future__ import annotations

from typing import Any

import pytest

from cape.errors import InvalidInput
from cape.registry.builtin import load_builtin_specs
from cape.registry.spec import parse_spec

BASE = {"name": "cap-agent", "version": "1.0.0", "system_prompt": "x"}


def problems(**fields: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as raised:
        parse_spec({**BASE, **fields})
    details: list[dict[str, str]] = raised.value.details
    return details


def test_capabilities_are_deduplicated_and_default_to_none_with_the_full_range() -> None:
    spec = parse_spec({**BASE, "capabilities": ["code-review", "qa", "code-review"]})
    assert spec.capabilities == ["code-review", "qa"]
    assert (spec.complexity.min, spec.complexity.max) == (1, 10)
    assert "complexity" not in spec.to_data()  # the default range is left out of the stored form
    plain = parse_spec(BASE)
    assert plain.capabilities == [] and "capabilities" not in plain.to_data()
    ranged = parse_spec({**BASE, "complexity": {"min": 3, "max": 3}})
    assert ranged.complexity.contains(3) and not ranged.complexity.contains(4)
    assert ranged.complexity.contains(None)
    assert ranged.to_data()["complexity"] == {"min": 3, "max": 3}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"capabilities": ["Code-Review"]}, "spec.capabilities.0", "lowercase"),
        ({"capabilities": ["ok", "bad name"]}, "spec.capabilities.1", "capability name"),
        ({"capabilities": ["trailing-"]}, "spec.capabilities.0", "not ending with '-'"),
        ({"capabilities": [f"c{i}" for i in range(33)]}, "spec.capabilities", "at most 32"),
        ({"capabilities": "qa"}, "spec.capabilities", "list"),
        ({"complexity": {"min": 7, "max": 3}}, "spec.complexity", "min (7)"),
        ({"complexity": {"min": 0}}, "spec.complexity.min", "greater than or equal to 1"),
        ({"complexity": {"max": 11}}, "spec.complexity.max", "less than or equal to 10"),
        ({"complexity": {"low": 1}}, "spec.complexity.low", "unknown key"),
    ],
)
def test_bad_capabilities_and_ranges_name_the_field(
    fields: dict[str, Any], field: str, words: str
) -> None:
    found = problems(**fields)
    assert [p["field"] for p in found] == [field], found
    assert words in found[0]["message"], found


def test_builtins_declare_the_capabilities_their_prose_describes() -> None:
    declared = {spec.name: spec.capabilities for spec in load_builtin_specs()}
    assert declared["executor"] == ["test-execution"]
    assert declared["explorer"] == ["ui-discovery"]
    assert declared["qa-manager"] == ["qa-monitoring", "smoke-tests"]
    assert declared["cape-ai-domain-specialist"] == [
        "workflow-automation", "data-analytics", "security-audit", "integration",
    ]  # fmt: skip
    assert declared["cape-ai-guide"] == ["documentation", "onboarding"]
