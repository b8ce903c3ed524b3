"""The identity provider's public keys (a JWKS over HTTPS), cached, refreshed and rate-limited.

Keys are kept for `ttl` seconds and refetched on the first request after that, or when a token
names a `kid` the cache lacks (key rotation). Fetches are at most one per `min_refresh` seconds,
however many unknown `kid`s arrive, so forged tokens cannot make us hammer the provider. A failed
fetch keeps the keys we had: tokens signed with them keep working while the provider is down.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog

from cape.tokens.errors import KeysUnavailable, UnknownKey

log = structlog.get_logger(__name__)
MAX_JWKS_BYTES = 512 * 1024
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
FETCH_ERRORS = (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, OSError, ValueError)
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


@dataclass(frozen=True)
class JwksPolicy:
    """Where the keys are and how long they are trusted without a refetch."""

    url: str
    ttl: float = 300.0
    min_refresh: float = 30.0
    timeout: float = 5.0


def fits(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether a JWK may verify a signature made with `alg` (its type, curve, `alg` and `use`)."""
    if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
        return False
    if jwk.get("kty") != KEY_TYPES.get(alg[:2]):
        return False
    return jwk.get("kty") != "EC" or jwk.get("crv") == CURVES.get(alg)


def _usable(data: Any) -> dict[str, dict[str, Any]]:
    """The signing keys of a JWKS document by `kid` (keys PyJWT cannot load are left out)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('not a JWKS: no "keys" list')
    keys: dict[str, dict[str, Any]] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC"):
            continue
        try:
            jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError) as exc:
            log.warning("jwks key skipped", kid=jwk.get("kid"), error=str(exc))
            continue
        keys[str(jwk.get("kid", ""))] = jwk
    return keys


class JwksCache:
    """The keys of one JWKS URL; `key()` is safe to call from many requests at once."""

    def __init__(self, policy: JwksPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.fetches = 0  # attempts, successful or not (logs, tests)
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None, alg: str) -> Any:
        """The public key to verify a token with header `kid` and `alg`.

        Raises:
            UnknownKey: no key with that `kid` (and type) even after a refresh.
            KeysUnavailable: the JWKS could not be fetched and no cached key fits.
        """
        fetched = self._fetched_at
        if fetched is None or self._clock() - fetched >= self.policy.ttl:
            await self._refresh("expired" if fetched is not None else "first use")
        jwk = self._find(kid, alg)
        if jwk is None:
            await self._refresh("unknown kid")
            jwk = self._find(kid, alg)
        if jwk is not None:
            return jwt.PyJWK(jwk, algorithm=alg).key
        if self._error is not None:
            raise KeysUnavailable(
                f"no cached key fits (kid {kid!r}, {alg}) and the key set could not be "
                f"fetched: {self._error}",
                details={"kid": kid},
            )
        named = f"kid {kid!r}" if kid is not None else "no `kid` header"
        raise UnknownKey(f"no {alg} key of the key set matches the token ({named})")

    def _find(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        if kid is None:  # allowed only when exactly one key could have signed it
            candidates = [jwk for jwk in self._keys.values() if fits(jwk, alg)]
            return candidates[0] if len(candidates) == 1 else None
        jwk = self._keys.get(kid)
        return jwk if jwk is not None and fits(jwk, alg) else None

    async def _refresh(self, why: str) -> None:
        started = self._clock()
        async with self._lock:
            last = self._attempted_at
            if last is not None and (last >= started or started - last < self.policy.min_refresh):
                return  # another request just fetched, or too soon to fetch again
            self._attempted_at = self._clock()
            self.fetches += 1
            try:
                self._keys = _usable(await self._download())
            except FETCH_ERRORS as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                log.warning("jwks fetch failed", url=self.policy.url, why=why, error=self._error)
                return
            self._fetched_at, self._error = self._attempted_at, None
            log.info("jwks fetched", url=self.policy.url, why=why, kids=sorted(self._keys))

    async def _download(self) -> Any:
        timeout = httpx.Timeout(self.policy.timeout)
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", self.policy.url, headers={"Accept": "application/json"}) as resp,
        ):
            if resp.status_code != 200:
                raise ValueError(f"HTTP {resp.status_code}")
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
        return json.loads(bytes(body))
