"""A real OpenID Connect provider over loopback: discovery, /authorize, /token (PKCE), /jwks.

`/authorize` logs in whoever `subject` names at once and redirects back with a one-time code;
`/token` checks the client's secret, the redirect URI and the PKCE verifier, and answers an
id_token signed with `key`, its claims changed by `overrides` (a None value removes a claim).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.tokens.jwks_server import SigningKey
from tests.tokens.loopback import LoopbackServer, QuietHandler

CLIENT_ID = "cape-dashboard"
CLIENT_SECRET = "client-secret-" + "y" * 30


@dataclass
class OidcProvider(LoopbackServer):
    """The provider; `deny` makes /authorize answer `error=access_denied`."""

    key: SigningKey = field(default_factory=SigningKey.rsa)
    subject: str = "user-1"
    team: str | None = "team-a"
    role: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    deny: bool = False
    sign_with: SigningKey | None = None  # signs id_tokens instead of the published `key`
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: int = 0

    @property
    def url(self) -> str:
        """The issuer (also the base of every endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect:
            return 400, {}, {"error": "invalid_request"}
        if self.deny:
            answer = {"error": "access_denied", "state": query.get("state", "")}
            return 302, {"Location": f"{redirect}?{urlencode(answer)}"}, {}
        if query.get("code_challenge_method") != "S256" or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": query.get("nonce", ""),
            "challenge": query.get("code_challenge", ""),
            "redirect_uri": redirect,
        }
        answer = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{redirect}?{urlencode(answer)}"}, {}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {basic}":
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # one use only
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": CLIENT_ID, "sub": self.subject, "team": self.team,
            "role": self.role, "nonce": grant["nonce"], "iat": now, "exp": now + 300,
            **self.overrides,
        }  # fmt: skip
        payload = {k: v for k, v in claims.items() if v is not None}
        signer = self.sign_with or self.key
        return 200, {"id_token": signer.sign(payload), "token_type": "Bearer"}

    def __enter__(self) -> OidcProvider:
        owner = self

        class Handler(QuietHandler):
            def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                self.send_json(status, json.dumps(body).encode(), headers)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._answer(200, owner.discovery(), {})
                elif parts.path == "/jwks":
                    self._answer(200, {"keys": [owner.key.jwk()]}, {})
                elif parts.path == "/authorize":
                    status, headers, body = owner.authorize(query)
                    self._answer(status, body, headers)
                else:
                    self._answer(404, {"error": "not_found"}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if urlsplit(self.path).path != "/token":
                    self._answer(404, {"error": "not_found"}, {})
                    return
                status, body = owner.token(form, self.headers.get("Authorization", ""))
                self._answer(status, body, {})

        self.serve(Handler)
        return self
