"""`/v1/capabilities`: what tasks may name instead of an agent, with its agents and records."""
