"""Trigger matching and input mapping (pure: the routing activity and the dry-run share them)."""

from __future__ import annotations

import pytest

from cape.events.mapping import MappingError, map_input
from cape.events.match import filter_matches, type_matches
from cape.events.plan import concurrency_lock, plan_agent
from cape.registry.spec import AgentSpec, Trigger

EVENT = {"id": "evt_1", "type": "alert.disk", "data": {"host": "db1", "free": 3, "tags": ["a"]}}


@pytest.mark.parametrize(
    ("pattern", "kind", "matches"),
    [
        ("alert.*", "alert.disk", True),
        ("alert.*", "alert.disk.full", True),
        ("alert.*", "alerts.disk", False),
        ("*.failed", "build.failed", True),
        ("build.deployed", "build.deployed", True),
        ("build.deployed", "build.deployedx", False),
        ("a.b", "aXb", False),  # a dot is a dot, not any character
    ],
)
def test_type_patterns(pattern: str, kind: str, matches: bool) -> None:
    assert type_matches(pattern, kind) is matches


def test_filters_equal_any_of_nested_and_missing() -> None:
    data = {"env": "prod", "build": {"branch": "main"}, "n": 0}
    assert filter_matches({"env": "prod", "build.branch": "main"}, data)
    assert filter_matches({"env": ["staging", "prod"]}, data)
    assert not filter_matches({"env": "dev"}, data)
    assert not filter_matches({"missing.field": None}, data)  # missing never matches, not even None
    assert filter_matches({"n": 0}, data) and filter_matches(None, data)


def test_mapping_templates_keep_types_and_refuse_unsafe_or_undefined() -> None:
    mapped = map_input(
        {"prompt": "Free {{ event.data.free }} on {{ event.data.host }}",
         "free": "{{ event.data.free }}", "tags": ["{{ event.data.tags }}"], "fixed": 1},
        EVENT,
    )  # fmt: skip
    assert mapped == {"prompt": "Free 3 on db1", "free": 3, "tags": [["a"]], "fixed": 1}
    assert map_input(None, EVENT)["prompt"].startswith("Event alert.disk: ")
    with pytest.raises(MappingError, match=r"input\.prompt"):
        map_input({"prompt": "{{ event.data.nothing.deeper }}"}, EVENT)
    with pytest.raises(MappingError):
        map_input({"prompt": "{{ event.__class__.__mro__ }}"}, EVENT)


def test_concurrency_keys_render_to_a_lock_or_fail_the_route() -> None:
    view = {**EVENT, "priority": "normal"}
    keyed = Trigger(event="alert.*", concurrency_key="{{ event.data.host }}")
    assert concurrency_lock("ops", keyed, view) == "concurrency:ops:alert._:db1"
    assert concurrency_lock("ops", Trigger(event="alert.*"), view) is None
    for key in ("{{ event.data.tags }}", "{{ event.data.nothing }}", " "):
        with pytest.raises(MappingError):
            concurrency_lock("ops", Trigger(event="alert.*", concurrency_key=key), view)
    spec = AgentSpec(
        name="ops", version="1.0.0", system_prompt="x",
        triggers=[Trigger(event="alert.*", concurrency_key="{{ event.data.tags }}")],
    )  # fmt: skip
    plan = plan_agent(spec, view)
    assert plan is not None and plan.status == "failed" and "concurrency_key" in (plan.reason or "")
