"""Agent runtime instances: delivery of events, version choice, task rows (docs/instances.md)."""
