"""The assigner's order on records alone: success rate, then cost, then duration, then name."""

from __future__ import annotations

from typing import Any

from cape.assign.choose import rank
from cape.assign.offers import Offer, Run
from cape.registry.spec import parse_spec

CAP = "summaries"


def offer(name: str, **fields: Any) -> Offer:
    spec = parse_spec({"name": name, "version": "1.0.0", "system_prompt": "x",
                       "capabilities": [CAP], **fields})  # fmt: skip
    return Offer(name, "1.0.0", spec, {"1.0.0": frozenset(spec.capabilities), "0.9.0": frozenset()})


def runs(ok: int, failed: int, cost: float = 0.0, seconds: float = 1.0) -> list[Run]:
    return [Run("1.0.0", True, cost, seconds)] * ok + [Run("1.0.0", False, cost, seconds)] * failed


def order(offers: list[Offer], history: dict[str, list[Run]], **kw: Any) -> list[str]:
    chosen = rank(offers, kw.pop("load", {}), history, CAP, kw.pop("complexity", None))
    return [c.agent for c in chosen.candidates]


def test_success_rate_then_cost_then_duration_then_name() -> None:
    names = ["ccc", "bbb", "aaa", "ddd"]
    offers = [offer(n) for n in names]
    assert order(offers, {}) == ["aaa", "bbb", "ccc", "ddd"]  # no record anywhere: by name
    history = {"ddd": runs(3, 1), "ccc": runs(1, 0, cost=0.2), "bbb": runs(2, 0, cost=0.1)}
    assert order(offers, history) == ["bbb", "ccc", "ddd", "aaa"]  # no record ranks last
    history["ccc"] = runs(1, 0, cost=0.1, seconds=0.5)
    assert order(offers, history) == ["ccc", "bbb", "ddd", "aaa"]


def test_runs_on_versions_without_the_capability_do_not_count() -> None:
    old = [Run("0.9.0", False, 0.0, 1.0)] * 5
    chosen = rank([offer("aaa"), offer("bbb")], {}, {"aaa": old, "bbb": runs(0, 1)}, CAP, None)
    weighed = {c.agent: (c.runs, c.success_rate) for c in chosen.candidates}
    assert weighed == {"aaa": (0, None), "bbb": (1, 0.0)}


def test_availability_outranks_the_record_and_complexity_leaves_agents_out() -> None:
    offers = [offer("aaa", max_concurrent=2), offer("bbb"), offer("ccc", complexity={"max": 3})]
    history = {"aaa": runs(5, 0), "bbb": runs(1, 4), "ccc": runs(9, 0)}
    assert order(offers, history, load={"aaa": 2}, complexity=5) == ["bbb", "aaa", "ccc"]
    chosen = rank(offers, {"aaa": 2}, history, CAP, 5)
    last = chosen.candidates[-1]
    assert (last.rank, last.why) == (None, "left out: complexity 5 is outside its range 1-3")
    assert chosen.agent == "bbb" and "only available candidate" in chosen.reason
    # Both available with a perfect record: the name decides.
    assert order(offers, history, load={"aaa": 1}, complexity=2) == ["aaa", "ccc", "bbb"]
