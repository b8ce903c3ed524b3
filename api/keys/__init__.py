"""API keys of the caller's team: list, create (the secret shown once), revoke."""
