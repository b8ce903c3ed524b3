"""Events: publish, list, show, stats, the live stream, webhooks and the trigger dry-run."""
