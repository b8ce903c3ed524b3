"""The audit trail: `GET /v1/audit`."""
