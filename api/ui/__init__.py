"""The web dashboard: server-rendered pages (Jinja2 + htmx) served by `cape api` under `/ui`."""
