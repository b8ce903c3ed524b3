"""`/v1/instances` and `/v1/runtime`: agent runtime instances (docs/instances.md)."""
