"""A real JWKS endpoint over loopback, and signing keys generated with `cryptography`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tests.tokens.loopback import LoopbackServer, QuietHandler

ISSUER = "https://idp.example.test/"
AUDIENCE = "cape-api"
HS_SECRET = "dev-secret-" + "x" * 40


@dataclass
class SigningKey:
    """A private key, its `kid` and its algorithm."""

    kid: str
    alg: str
    private: PrivateKeyTypes

    @classmethod
    def rsa(cls, kid: str | None = None, alg: str = "RS256") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"rsa-{uuid.uuid4().hex[:8]}", alg, key)

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(
            kid or f"ec-{uuid.uuid4().hex[:8]}", "ES256", ec.generate_private_key(ec.SECP256R1())
        )

    def jwk(self) -> dict[str, Any]:
        """The public JWK, as an identity provider publishes it."""
        public = self.private.public_key()
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        public = self.private.public_key()
        pem: bytes = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def sign(
        self, claims: dict[str, Any], *, kid: str | None = "same", alg: str | None = None
    ) -> str:
        headers = {} if kid is None else {"kid": self.kid if kid == "same" else kid}
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers=headers)  # type: ignore[arg-type]


def claims(**extra: Any) -> dict[str, Any]:
    """Valid claims for the test issuer and audience, good for five minutes (None: left out)."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "team": "team-a", "role": "member"}
    merged = {**base, "iat": now, "exp": now + 300, **extra}
    return {name: value for name, value in merged.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand: `alg: none` (no signature) or HS256 with any bytes as the secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


@dataclass
class JwksServer(LoopbackServer):
    """Serves `keys` as a JWKS at `url`; `status` other than 200 simulates an outage."""

    keys: list[SigningKey] = field(default_factory=list)
    status: int = 200
    body: bytes | None = None  # served instead of the key set when set
    hits: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def __enter__(self) -> JwksServer:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = owner.body or json.dumps({"keys": [k.jwk() for k in owner.keys]}).encode()
                self.send_json(owner.status, body)

        self.serve(Handler)
        return self
