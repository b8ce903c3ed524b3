"""Schedules: Temporal Schedules whose runs start tasks."""
