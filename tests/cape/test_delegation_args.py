"""The delegation tools' arguments: a wrong one is named, so the model can correct its call."""

from __future__ import annotations

import pytest

from cape.tasks.delegation_args import (
    BadArguments,
    parse_await,
    parse_delegate,
)


def test_a_prompt_string_is_the_input_and_the_defaults_wait_in_an_own_workspace() -> None:
    args = parse_delegate('{"agent": "writer", "input": "write it"}')
    assert args.input == {"prompt": "write it"} and args.wait and not args.share_workspace
    assert (args.max_tokens, args.max_cost) == (None, None)
    full = parse_delegate(
        '{"agent": "w", "input": {"a": 1}, "wait": false, "max_tokens": 10, "max_cost": 0.5,'
        ' "share_workspace": true}'
    )
    assert (full.wait, full.max_tokens, full.max_cost, full.share_workspace) == (
        False, 10, 0.5, True)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"input": "x"}', "`agent` or `capability`"),
        ('{"agent": "a", "capability": "c", "input": "x"}', "`agent` or `capability`"),
        ('{"agent": "", "input": "x"}', "`agent`"),
        ('{"agent": "a", "input": 3}', "`input`"),
        ('{"agent": "a", "input": "x", "wait": "yes"}', "`wait`"),
        ('{"agent": "a", "input": "x", "max_tokens": 1.5}', "`max_tokens`"),
        ('{"agent": "a", "input": "x", "max_cost": -1}', "`max_cost`"),
        ("[1]", "JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_a_wrong_argument_is_named(text: str, named: str) -> None:
    with pytest.raises(BadArguments, match=named):
        parse_delegate(text)


def test_await_task_takes_an_id_and_a_bounded_timeout() -> None:
    assert parse_await('{"task_id": "task_1"}') == ("task_1", 3600.0)
    assert parse_await('{"task_id": "task_1", "timeout_seconds": 0}') == ("task_1", 0.0)
    assert parse_await('{"task_id": "t", "timeout_seconds": 1e9}')[1] == 86400.0
    with pytest.raises(BadArguments, match="`task_id`"):
        parse_await("{}")


def test_a_capability_may_carry_a_complexity_from_1_to_10() -> None:
    args = parse_delegate('{"capability": "writing", "complexity": 7, "input": "x"}')
    assert (args.agent, args.capability, args.complexity) == (None, "writing", 7)
    for bad in ('"complexity": 11', '"complexity": 0', '"complexity": 2.5'):
        with pytest.raises(BadArguments, match="`complexity`"):
            parse_delegate('{"capability": "writing", "input": "x", ' + bad + "}")
    with pytest.raises(BadArguments, match="`complexity` goes with `capability`"):
        parse_delegate('{"agent": "w", "complexity": 3, "input": "x"}')
