"""Usage: tokens and cost per agent, model or day."""
