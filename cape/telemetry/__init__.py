"""Prometheus metrics and OpenTelemetry traces of every process (docs/operations.md)."""
