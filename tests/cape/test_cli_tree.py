"""`cape tasks tree` and the tree in `cape tasks follow`, against the real API and worker.

The tree is linked as `delegate` links it (see tests/e2e/channel_support.py).
"""

from __future__ import annotations

from temporalio.worker import Worker

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer
from cli.tree_view import child_line, tree_lines
from tests.cape.test_cli_tasks import cape
from tests.conftest import Api
from tests.e2e.channel_support import message_tree


async def test_tree_and_follow_show_the_delegation_tree(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    agent, root, child, grandchild = await message_tree(api, fake_llm, settings)

    shown = await cape(api.url, api.key, "tasks", "tree", grandchild)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"{root} {agent} succeeded"), shown.stdout
    assert lines[1].startswith(f"└─ {child} {agent} succeeded"), shown.stdout
    assert lines[2].startswith(f"   └─ {grandchild} {agent} succeeded"), shown.stdout
    assert lines[2].endswith(" <-") and lines[3].startswith("total: ")

    followed = await cape(api.url, api.key, "tasks", "follow", child)
    assert followed.exit_code == 0, followed.output
    out = followed.stdout
    assert f"[message from {root} ({agent}): hello child]" in out, out
    tree = out[out.index("delegation tree:") :].splitlines()
    assert tree[1].strip().startswith(root) and child in tree[2] and grandchild in tree[3], out


def test_tree_lines_indent_siblings_and_cut_trees() -> None:
    def node(id_: str, parent: str | None) -> dict[str, object]:
        usage = {"total_tokens": 10, "cost_usd": 0.001}
        return {"id": id_, "agent": "a", "status": "running", "parent_id": parent, "usage": usage}

    tree = {
        "nodes": [node("r", None), node("x", "r"), node("y", "r"), node("x1", "x")],
        "truncated": True,
        "usage": {"total_tokens": 40, "cost_usd": 0.004},
    }
    assert tree_lines(tree, mark="x1") == [
        "r a running, 10 tokens, $0.0010",
        "├─ x a running, 10 tokens, $0.0010",
        "│  └─ x1 a running, 10 tokens, $0.0010 <-",
        "└─ y a running, 10 tokens, $0.0010",
        "(cut at 4 tasks)",
        "total: 40 tokens, $0.0040",
    ]
    assert child_line("child-started", {"child_id": "c", "agent": "w"}) == "  ├─ c (w) started"
    finished = {"child_id": "c", "status": "failed", "usage": {"total_tokens": 5}}
    assert child_line("child-finished", finished) == "  └─ c failed, 5 tokens"
    progress = child_line("child-progress", {"child_id": "c", "step": 3, "summary": "tool: shell"})
    assert progress == "  │  c [3] tool: shell"
    # The fields the recorder and the status activity write (cape/tasks/parent_events.py).
    real = {"child_id": "c", "step_no": 4, "name": "llm: turn 2", "kind": "llm", "status": "ok"}
    assert child_line("child-progress", real) == "  │  c [4] llm: turn 2"
    waiting = {"child_id": "c", "status": "input_required", "pending": {"kind": "approval"}}
    assert child_line("child-waiting", waiting) == "  │  c waits for a person: approval"
