"""Artifacts: the files a task produced or received."""
