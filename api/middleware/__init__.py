"""ASGI middleware that guards every request body (size, storable text)."""
