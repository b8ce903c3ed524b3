"""A delegation tree as text: one line per task, children indented under their parent.

`cape tasks tree` prints it; `cape tasks follow` prints it at the end of a task that delegated
work or was delegated. The data is `GET /v1/tasks/{id}/tree`.
"""

from __future__ import annotations

from typing import Any

from cli.formatting import one_line, total_tokens

MESSAGE_CHARS = 160


def node_line(node: dict[str, Any]) -> str:
    """`task_… agent status, N tokens, $cost`."""
    usage = node.get("usage") or {}
    parts = [str(node.get("status", "?"))]
    if tokens := total_tokens(usage):
        parts.append(f"{tokens} tokens")
    if cost := float(usage.get("cost_usd") or 0):
        parts.append(f"${cost:.4f}")
    return f"{node.get('id')} {node.get('agent')} {', '.join(parts)}"


def tree_lines(tree: dict[str, Any], mark: str | None = None) -> list[str]:
    """The tree, root first, each child under its parent with box-drawing guides.

    Args:
        tree: The JSON of `GET /v1/tasks/{id}/tree`.
        mark: A task to point out (`<-`), usually the one asked for.

    Returns:
        One line per node, then a note when the tree was cut.
    """
    nodes = list(tree.get("nodes") or [])
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for node in nodes[1:]:
        kids.setdefault(node.get("parent_id"), []).append(node)
    lines: list[str] = []

    def walk(node: dict[str, Any], prefix: str, branch: str) -> None:
        here = " <-" if mark and node.get("id") == mark and len(nodes) > 1 else ""
        lines.append(f"{prefix}{branch}{node_line(node)}{here}")
        children = kids.get(node.get("id"), [])
        inner = prefix + ("" if not branch else ("   " if branch == "└─ " else "│  "))
        for i, child in enumerate(children):
            walk(child, inner, "└─ " if i == len(children) - 1 else "├─ ")

    if nodes:
        walk(nodes[0], "", "")
    if tree.get("truncated"):
        lines.append(f"(cut at {len(nodes)} tasks)")
    usage = tree.get("usage") or {}
    if len(nodes) > 1 and total_tokens(usage):
        lines.append(
            f"total: {total_tokens(usage)} tokens, ${float(usage.get('cost_usd') or 0):.4f}"
        )
    return lines


def message_line(data: dict[str, Any]) -> str:
    """A `message` event as one line: who wrote to whom, and the text."""
    text = one_line(str(data.get("text") or ""), MESSAGE_CHARS)
    if data.get("direction") == "out":
        to = ", ".join(data.get("recipients") or []) or data.get("to")
        return f"  [message to {to}: {text}]"
    return f"  [message from {data.get('from')} ({data.get('from_agent')}): {text}]"


def child_line(kind: str, data: dict[str, Any]) -> str:
    """A child's event in its parent's stream (`cape/tasks/parent_events.py`), indented under it.

    `child-started` carries `child_id` and `agent`; `child-progress` the step's `step_no` and
    `name`; `child-waiting` the question as `pending`; `child-finished` `status` and `usage`.
    """
    child = data.get("child_id") or data.get("task_id") or "child"
    agent = f" ({data['agent']})" if data.get("agent") else ""
    if kind == "child-started":
        return f"  ├─ {child}{agent} started"
    if kind == "child-finished":
        status = data.get("status") or "ended"
        tokens = total_tokens(data.get("usage"))
        used = f", {tokens} tokens" if tokens else ""
        return f"  └─ {child}{agent} {status}{used}"
    if kind == "child-waiting":  # the child waits for a person (an approval, a budget)
        pending = data.get("pending") or {}
        what = pending.get("reason") or pending.get("kind") or data.get("status") or "input"
        return f"  │  {child}{agent} waits for a person: {one_line(str(what), MESSAGE_CHARS)}"
    step = data.get("step") or data.get("step_no")
    what = data.get("summary") or data.get("name") or data.get("current_step") or "progress"
    where = f" [{step}]" if step else ""
    return f"  │  {child}{where} {one_line(str(what), MESSAGE_CHARS)}"
