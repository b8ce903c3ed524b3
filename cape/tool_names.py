"""The names of every tool an agent spec may list.

`cape/` imports nothing above it, so the names are kept here rather than read from
`activities.tools.registry.TOOLS`; tests/registry/test_tool_names.py keeps the two in step.
"""

from __future__ import annotations

FILE_TOOLS = ("write_file", "read_file", "list_files", "append_file", "delete_file", "patch_file")
CODE_TOOLS = ("shell", "python", "pip_install")
WEB_TOOLS = ("web_search", "web_fetch", "research")
GITHUB_TOOLS = (
    "git_clone",
    "git_branch",
    "git_commit",
    "git_push",
    "github_issue",
    "github_pull_request",
)
DOCUMENT_TOOLS = ("create_pdf", "send_email")
KNOWLEDGE_TOOLS = ("docs_search",)
EVENT_TOOLS = ("publish_event",)
CHANNEL_TOOLS = ("send_message", "read_messages")  # between tasks of a delegation tree
DELEGATION_TOOLS = ("delegate", "await_task")  # run by the task's workflow (docs/multi-agent.md)

TOOL_NAMES: frozenset[str] = frozenset(
    FILE_TOOLS
    + CODE_TOOLS
    + WEB_TOOLS
    + GITHUB_TOOLS
    + DOCUMENT_TOOLS
    + KNOWLEDGE_TOOLS
    + EVENT_TOOLS
    + CHANNEL_TOOLS
    + DELEGATION_TOOLS
)
