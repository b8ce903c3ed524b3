"""The agent marketplace: publish, discover, install, review and measure packages."""
