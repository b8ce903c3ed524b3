"""Browser sessions (cookie and CSRF) and JWT bearer tokens.

How a caller who is not an API key in a header authenticates (docs/security.md).
"""
