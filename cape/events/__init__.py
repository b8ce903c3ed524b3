"""The event bus's core: ids and priorities, trigger matching, input mapping and routing.

Shared by the API (publishing, the trigger dry-run) and the routing activity, so a dry-run
answers exactly what a real event would do (docs/events.md).
"""
