"""A small docs directory of known content, so rankings and answers can be asserted exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

GUIDE = """# Guide

The guide explains approvals and budgets.

## Approvals

A tool marked for approval waits for a person before it runs. Approve the call by answering
the pending input of the task.

1. Read the pending input of the task.
2. Send `approve` or `reject` with its request id.

```bash
# not a heading: a comment inside a fence
curl -X POST $API/v1/tasks/$TASK/input \\
  -d '{"action": "approve"}'   # approve the call
```

## Budgets

Limits on tokens and cost. A task that uses up its budget asks its owner for more.

### Raising a budget

Answer `raise` with a higher `max_cost`. The task then carries on.

## Budgets

A second section with the same heading. Tokens are counted per turn.

#### Deep heading

Deep text that stays in the section above.

## Restart

Restart the worker after a change of settings.
"""

OPS = """# Operations

## The sandbox

Bubblewrap isolates commands. Without it, commands run with rlimits only.

- Install bubblewrap on the host.
- Restart the worker so it probes again.

| symptom | fix |
|---|---|
| bwrap fails | install it |

## Restart

Restart the worker after a change of settings.

## Long read

{long}
""".format(
    long="\n\n".join(("Paragraph about retention of workspaces. " * 12).strip() for _ in range(5))
)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A docs dir with two files: guide.md (approvals, budgets) and ops.md (sandbox)."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "guide.md").write_text(GUIDE)
    (root / "ops.md").write_text(OPS)
    (root / "notes.txt").write_text("## Not markdown\n\nIgnored.")
    return root
