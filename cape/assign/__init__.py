"""Assignment by capability: which of a team's agents gets a task that names a capability.

`cape.assign.choose.choose_agent` is the one entry point (the task API, delegation and
triggers call it); `cape.assign.catalog` lists the capabilities for `GET /v1/capabilities`.
"""
