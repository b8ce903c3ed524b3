"""Temporal names (re-exported from `names`) and the typed search attribute keys."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from cape.contracts.names import (
    AGENT_ATTRIBUTE,
    AGENT_TASK_WORKFLOW,
    AGENT_VERSION_ATTRIBUTE,
    DEFAULT_TASK_QUEUE,
    MESSAGE_SIGNAL,
    OWNER_ATTRIBUTE,
    PAUSE_SIGNAL,
    PROVIDE_INPUT_UPDATE,
    RESUME_SIGNAL,
    SEARCH_ATTRIBUTES,
    STATE_QUERY,
    STATUS_ATTRIBUTE,
    TEAM_ATTRIBUTE,
    host_queue,
)

__all__ = [
    "AGENT_KEY",
    "AGENT_TASK_WORKFLOW",
    "AGENT_VERSION_KEY",
    "DEFAULT_TASK_QUEUE",
    "MESSAGE_SIGNAL",
    "OWNER_KEY",
    "PAUSE_SIGNAL",
    "PROVIDE_INPUT_UPDATE",
    "RESUME_SIGNAL",
    "SEARCH_ATTRIBUTES",
    "SEARCH_ATTRIBUTE_KEYS",
    "STATE_QUERY",
    "STATUS_KEY",
    "TEAM_KEY",
    "host_queue",
]

AGENT_KEY = SearchAttributeKey.for_keyword(AGENT_ATTRIBUTE)
AGENT_VERSION_KEY = SearchAttributeKey.for_keyword(AGENT_VERSION_ATTRIBUTE)
OWNER_KEY = SearchAttributeKey.for_keyword(OWNER_ATTRIBUTE)
STATUS_KEY = SearchAttributeKey.for_keyword(STATUS_ATTRIBUTE)
TEAM_KEY = SearchAttributeKey.for_keyword(TEAM_ATTRIBUTE)
SEARCH_ATTRIBUTE_KEYS = (AGENT_KEY, AGENT_VERSION_KEY, OWNER_KEY, STATUS_KEY, TEAM_KEY)
