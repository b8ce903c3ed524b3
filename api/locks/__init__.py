"""Resource locks: acquire, renew, release, list, show and check fences (docs/locks.md)."""
