"""CSRF defence of cookie-authenticated requests: a matching Origin and a session-bound token.

A browser attaches the session cookie to requests other sites make it send; it never lets
them set a custom header or read our cookies. So every state-changing request that rides on the
cookie must carry `X-CSRF-Token` equal to its session's token, and an `Origin` header, when the
browser sends one, must be ours. Requests with `Authorization: Bearer` are not checked: no
browser adds that header on another site's behalf.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from cape.errors import Forbidden
from cape.settings import Settings

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin(url: str) -> str | None:
    """`scheme://host[:port]`, default port left out; None for a value that is no URL."""
    try:
        parts = urlsplit(url.strip())
        default = {"http": 80, "https": 443}.get(parts.scheme)
        port = f":{parts.port}" if parts.port and parts.port != default else ""
    except ValueError:  # "http://[::1", "http://h:99999"
        return None
    if not (parts.scheme and parts.hostname):
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def allowed_origins(connection: HTTPConnection, settings: Settings) -> set[str]:
    """Our own origin (as configured and as this request reached us) and the configured ones."""
    scheme = "https" if connection.url.scheme in ("https", "wss") else "http"
    own = f"{scheme}://{connection.headers.get('host', '')}"
    origins = (_origin(url) for url in (settings.base_url, own, *settings.session_allowed_origins))
    return {origin for origin in origins if origin is not None}


def check_origin(connection: HTTPConnection, settings: Settings) -> None:
    """Refuse a request whose `Origin` header names another site (`null` included).

    Raises:
        Forbidden: with `details.reason` `origin_mismatch`.
    """
    origin = connection.headers.get("origin")
    if origin is None:
        return
    parsed = _origin(origin)
    if parsed is None or parsed not in allowed_origins(connection, settings):
        raise Forbidden(
            f"requests made with the session cookie must come from this site, not {origin!r}",
            details={"reason": "origin_mismatch", "origin": origin},
        )


def check_csrf(connection: HTTPConnection, settings: Settings, expected: str) -> None:
    """Check a cookie-authenticated request: Origin always, the token on state changes.

    Raises:
        Forbidden: with `details.reason` `origin_mismatch`, `csrf_token_missing` or
            `csrf_token_mismatch`.
    """
    check_origin(connection, settings)
    method = connection.scope.get("method", "GET")
    if connection.scope["type"] != "http" or method in SAFE_METHODS:
        return
    sent = connection.headers.get(CSRF_HEADER)
    if not sent:
        raise Forbidden(
            f"a {method} with the session cookie needs the {CSRF_HEADER} header "
            "(the csrf_token from login, also in the cape_csrf cookie)",
            details={"reason": "csrf_token_missing", "header": CSRF_HEADER},
        )
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(
            f"the {CSRF_HEADER} header does not match this session's token",
            details={"reason": "csrf_token_mismatch", "header": CSRF_HEADER},
        )
