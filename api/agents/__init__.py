"""The agent registry: specs, versions and their lifecycle, search, import and export."""
