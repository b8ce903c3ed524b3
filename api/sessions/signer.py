"""Session cookies: a short JWT signed with the session secret, naming an API key or a member.

An OIDC login's session names a team member by team and user id instead of a key.

The cookie holds no rights of its own: every request looks the key up again, so revoking the
key ends every session made with it at once. The CSRF token is derived from the session's
random id with the same secret, so it is bound to that session and cannot be planted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import structlog

from cape.auth_settings import MIN_SECRET_BYTES
from cape.errors import Unauthorized
from cape.settings import Settings

log = structlog.get_logger(__name__)
AUDIENCE = "cape-session"  # never the audience of a bearer JWT: a cookie is not a bearer token
SECRET_FILE = "session-secret"


@dataclass(frozen=True)
class Session:
    """A valid session cookie's content."""

    key_id: str  # "" for a member's session (OIDC login)
    session_id: str
    expires_at: datetime
    team_id: str = ""
    user_id: str = ""
    role: str | None = None  # the id_token's role claim (it may lower the member's role)


@dataclass(frozen=True)
class IssuedSession:
    """A new session: the cookie value, its CSRF token and when it ends."""

    cookie: str
    csrf_token: str
    expires_at: datetime


class SessionSigner:
    """Issues and reads session cookies with one secret."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, key_id: str) -> IssuedSession:
        """A session for API key `key_id`, valid for the configured time."""
        return self._issue({"key": key_id})

    def issue_member(self, team_id: str, user_id: str, role: str | None) -> IssuedSession:
        """A session for member `user_id` of team `team_id` (an OIDC login), role capped."""
        return self._issue({"team": team_id, "user": user_id, "role": role})

    def _issue(self, who: dict[str, Any]) -> IssuedSession:
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.ttl_seconds)
        sid = secrets.token_urlsafe(18)
        claims = {**who, "sid": sid, "aud": AUDIENCE, "iat": now, "exp": expires}
        cookie = jwt.encode(claims, self._secret, algorithm="HS256")
        return IssuedSession(cookie, self.csrf_token(sid), expires.replace(microsecond=0))

    def seal(self, claims: dict[str, Any], audience: str, ttl_seconds: int) -> str:
        """`claims` signed with the session secret for `audience`, valid `ttl_seconds`."""
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return jwt.encode({**claims, "aud": audience, "exp": expires}, self._secret, "HS256")

    def unseal(self, value: str, audience: str) -> dict[str, Any] | None:
        """The claims `seal` signed for `audience`; None when expired, forged or another's."""
        try:
            claims: dict[str, Any] = jwt.decode(
                value, self._secret, algorithms=["HS256"], audience=audience,
                options={"require": ["exp", "aud"]},
            )  # fmt: skip
        except jwt.PyJWTError:
            return None
        return claims

    def read(self, cookie: str) -> Session:
        """The session in `cookie`.

        Raises:
            Unauthorized: the cookie is expired, forged or not a session cookie.
        """
        try:
            claims = jwt.decode(
                cookie,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                options={"require": ["exp", "iat", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(
                "the session has expired: log in again", details={"reason": "session_expired"}
            ) from None
        except jwt.PyJWTError:
            raise Unauthorized(
                "the session cookie is not valid: log in again",
                details={"reason": "session_invalid"},
            ) from None
        key, sid = claims.get("key"), claims.get("sid")
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        team, user, role = claims.get("team"), claims.get("user"), claims.get("role")
        member = isinstance(team, str) and isinstance(user, str) and bool(team and user)
        if member and isinstance(sid, str) and sid and (role is None or isinstance(role, str)):
            return Session("", sid, expires, str(team), str(user), role)
        if not (isinstance(key, str) and isinstance(sid, str) and key and sid):
            raise Unauthorized(
                "the session cookie is not valid", details={"reason": "session_invalid"}
            )
        return Session(key, sid, expires)

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of session `session_id` (HMAC of its id with the secret)."""
        mac = hmac.new(self._secret, b"csrf:" + session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def session_secret(settings: Settings) -> bytes:
    """`CAPE_SESSION_SECRET`, or one kept in the data dir (made on first use, mode 0600).

    Several API processes must share the secret: set it for them, or share the data dir.
    """
    configured = settings.session_secret.get_secret_value()
    if configured:
        return configured.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: a process starting alongside reads either
        # no file or a whole one, and the first link wins.
        draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
            log.info("session secret created", path=str(path))
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{path} holds no usable session secret: delete it or set one")
    return secret.encode()
