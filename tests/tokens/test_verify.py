"""JWT verification against a real JWKS over loopback, with keys made in the test."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cape.settings import Settings
from cape.tokens.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    KeysUnavailable,
    MissingClaim,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)
from cape.tokens.verifier import TokenVerifier
from tests.tokens.jwks_server import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    JwksServer,
    SigningKey,
    claims,
    hand_signed,
)


class Clock:
    """A monotonic clock the test moves by hand (cache ages without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RSA = SigningKey.rsa("rsa-1")
EC = SigningKey.ec("ec-1")


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer(keys=[RSA, EC]) as server:
        yield server


def verifier(server: JwksServer | None, clock: Clock | None = None, **extra: Any) -> TokenVerifier:
    config: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, **extra}
    if server is not None:
        config["jwt_jwks_url"] = server.url
    built = TokenVerifier.from_settings(Settings(**config), clock or Clock())
    assert built is not None
    return built


async def refused(check: TokenVerifier, token: str, kind: type[TokenError]) -> TokenError:
    with pytest.raises(TokenError) as caught:
        await check.verify(token)
    assert type(caught.value) is kind, caught.value
    assert caught.value.status_code == 401
    assert caught.value.details["reason"] == kind.reason
    return caught.value


async def test_rs256_and_es256_tokens_from_the_jwks_verify(jwks: JwksServer) -> None:
    check = verifier(jwks)
    token = await check.verify(RSA.sign(claims(sub="alice", team="blue", role="admin")))
    assert (token.subject, token.team, token.role) == ("alice", "blue", "admin")
    assert (token.algorithm, token.key_id, token.issuer) == ("RS256", "rsa-1", ISSUER)
    ec_token = await check.verify(EC.sign(claims(sub="bob")))
    assert (ec_token.subject, ec_token.algorithm) == ("bob", "ES256")
    assert jwks.hits == 1  # one fetch served both keys


async def test_claim_names_are_configurable(jwks: JwksServer) -> None:
    check = verifier(
        jwks, jwt_subject_claim="email", jwt_team_claim="org,tenant", jwt_role_claim="cape_role"
    )
    token = await check.verify(
        RSA.sign(claims(email="a@x.test", tenant="t-9", cape_role="viewer", team="ignored"))
    )
    assert (token.subject, token.team, token.role) == ("a@x.test", "t-9", "viewer")
    default = await verifier(jwks).verify(RSA.sign(claims(team=None, cape_team="green")))
    assert default.team == "green"  # the second default team claim
    await refused(check, RSA.sign(claims()), MissingClaim)  # no `email`


async def test_hs256_with_the_configured_secret() -> None:
    check = verifier(None, jwt_hs256_secret=HS_SECRET)
    token = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(), HS_SECRET.encode())
    assert (await check.verify(token)).subject == "user-1"
    other = hand_signed({"alg": "HS256"}, claims(), b"another-secret-" + b"y" * 40)
    await refused(check, other, BadSignature)


async def test_alg_none_is_refused_whatever_is_configured(jwks: JwksServer) -> None:
    token = hand_signed({"alg": "none", "kid": "rsa-1"}, claims(), None)
    for check in (verifier(jwks), verifier(jwks, jwt_hs256_secret=HS_SECRET)):
        await refused(check, token, AlgorithmNotAllowed)
    lowercase = hand_signed({"alg": "None"}, claims(), None)
    await refused(verifier(jwks), lowercase, AlgorithmNotAllowed)


async def test_hs256_signed_with_the_rsa_public_key_is_refused(jwks: JwksServer) -> None:
    """The HS/RS confusion: the public key (known to anyone) used as an HMAC secret."""
    for public in (RSA.public_pem(), RSA.public_pem().strip()):
        forged = hand_signed({"alg": "HS256", "kid": "rsa-1"}, claims(), public)
        # JWKS only: HS256 is no algorithm of any key source.
        error = await refused(verifier(jwks), forged, AlgorithmNotAllowed)
        assert "HS256" in error.message
        # With a secret too: HS256 is checked against the secret, never against a JWKS key.
        await refused(verifier(jwks, jwt_hs256_secret=HS_SECRET), forged, BadSignature)


async def test_an_algorithm_outside_the_allow_list_is_refused(jwks: JwksServer) -> None:
    check = verifier(jwks, jwt_algorithms=["ES256"])
    await refused(check, RSA.sign(claims()), AlgorithmNotAllowed)  # RS256 not allowed here
    rs384 = SigningKey.rsa("rsa-384", alg="RS384")
    jwks.keys.append(rs384)
    await refused(verifier(jwks), rs384.sign(claims()), AlgorithmNotAllowed)
    assert (await verifier(jwks, jwt_algorithms=["RS384"]).verify(rs384.sign(claims()))).subject


async def test_a_key_of_the_wrong_type_for_the_alg_is_not_used(jwks: JwksServer) -> None:
    # An ES256 header naming the RSA key's kid: no ES256 key has that kid.
    token = EC.sign(claims(), kid="rsa-1")
    await refused(verifier(jwks), token, UnknownKey)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "!!!.###.$$$",
        hand_signed({"alg": "RS256"}, {}, None).replace(".", ".%%%", 1),
        "bm90IGpzb24.e30.c2ln",  # header is not JSON
        hand_signed({"typ": "JWT"}, {}, None),  # no alg
        hand_signed({"alg": "RS256", "kid": 7}, {}, None),  # kid not a string
        hand_signed({"alg": "RS256", "kid": "rsa-1", "crit": ["b64"]}, {}, None),
        "x" * 20_000,
    ],
)
async def test_malformed_tokens_are_refused(jwks: JwksServer, token: str) -> None:
    with pytest.raises(TokenError) as caught:
        await verifier(jwks).verify(token)
    assert caught.value.status_code == 401
    assert caught.value.details["reason"] == "malformed", caught.value


async def test_a_signature_by_another_key_with_a_known_kid_is_refused(jwks: JwksServer) -> None:
    impostor = SigningKey.rsa("rsa-1")  # same kid, different key
    await refused(verifier(jwks), impostor.sign(claims()), BadSignature)
    # A payload that is not JSON: the signature is checked before the payload is read.
    await refused(verifier(jwks), "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", BadSignature)


async def test_times_are_checked_with_the_configured_leeway(jwks: JwksServer) -> None:
    now = int(time.time())
    check = verifier(jwks, jwt_leeway_seconds=60)
    await refused(check, RSA.sign(claims(exp=now - 120)), TokenExpired)
    assert await check.verify(RSA.sign(claims(exp=now - 30)))  # within the skew
    await refused(check, RSA.sign(claims(nbf=now + 120)), TokenNotYetValid)
    assert await check.verify(RSA.sign(claims(nbf=now + 30)))
    await refused(check, RSA.sign(claims(iat=now + 600, exp=now + 900)), TokenNotYetValid)
    strict = verifier(jwks, jwt_leeway_seconds=0)
    await refused(strict, RSA.sign(claims(exp=now - 30)), TokenExpired)


async def test_required_claims(jwks: JwksServer) -> None:
    check = verifier(jwks)
    no_exp = {k: v for k, v in claims().items() if k != "exp"}
    error = await refused(check, RSA.sign(no_exp), MissingClaim)
    assert "exp" in error.message
    await refused(check, RSA.sign(claims(sub=None)), MissingClaim)
    await refused(check, RSA.sign(claims(sub="")), MissingClaim)
    token = await check.verify(RSA.sign(claims(team=None, role=None)))
    assert (token.team, token.role) == (None, None)  # the API decides (403), not the verifier


async def test_audience_and_issuer(jwks: JwksServer) -> None:
    check = verifier(jwks)
    await refused(check, RSA.sign(claims(aud="another-app")), WrongAudience)
    await refused(check, RSA.sign(claims(aud=None)), MissingClaim)
    assert await check.verify(RSA.sign(claims(aud=["another-app", AUDIENCE])))
    await refused(check, RSA.sign(claims(iss="https://evil.test/")), WrongIssuer)
    await refused(check, RSA.sign(claims(iss=None)), MissingClaim)


async def test_a_rotated_key_is_fetched_when_its_kid_appears(jwks: JwksServer) -> None:
    clock = Clock()
    check = verifier(jwks, clock, jwt_jwks_min_refresh_seconds=10)
    assert await check.verify(RSA.sign(claims()))
    assert jwks.hits == 1
    new = SigningKey.rsa("rsa-2")
    jwks.keys = [new]  # the provider rotates: the old key is gone, a new one appears
    clock.now += 11
    assert (await check.verify(new.sign(claims()))).key_id == "rsa-2"
    assert jwks.hits == 2
    await refused(check, RSA.sign(claims()), UnknownKey)  # dropped with the refresh


async def test_keys_expire_from_the_cache_after_the_ttl(jwks: JwksServer) -> None:
    clock = Clock()
    check = verifier(jwks, clock, jwt_jwks_cache_seconds=60, jwt_jwks_min_refresh_seconds=5)
    for _ in range(3):
        assert await check.verify(RSA.sign(claims()))
    assert jwks.hits == 1
    clock.now += 61
    assert await check.verify(RSA.sign(claims()))
    assert jwks.hits == 2


async def test_cached_keys_keep_working_while_the_jwks_is_down(jwks: JwksServer) -> None:
    clock = Clock()
    check = verifier(jwks, clock, jwt_jwks_cache_seconds=60, jwt_jwks_min_refresh_seconds=5)
    assert await check.verify(RSA.sign(claims()))
    jwks.stop()  # connection refused from now on
    clock.now += 120  # the cache is stale: a refresh is tried and fails
    assert (await check.verify(RSA.sign(claims()))).key_id == "rsa-1"
    clock.now += 10
    error = await refused(check, SigningKey.rsa("rsa-new").sign(claims()), KeysUnavailable)
    assert "could not be fetched" in error.message


@pytest.mark.parametrize("status,body", [(503, None), (200, b"<html>not json"), (200, b"[]")])
async def test_a_broken_jwks_is_a_401_not_a_crash(
    jwks: JwksServer, status: int, body: bytes | None
) -> None:
    jwks.status, jwks.body = status, body
    await refused(verifier(jwks), RSA.sign(claims()), KeysUnavailable)


async def test_unknown_kids_refetch_at_most_once_per_interval(jwks: JwksServer) -> None:
    clock = Clock()
    check = verifier(jwks, clock, jwt_jwks_min_refresh_seconds=30)
    assert await check.verify(RSA.sign(claims()))
    forger = SigningKey.rsa()
    for _ in range(25):
        await refused(check, forger.sign(claims(), kid=uuid.uuid4().hex), UnknownKey)
    assert jwks.hits == 1  # the first fetch was under 30 s ago: no refetch at all
    clock.now += 31
    results = await asyncio.gather(
        *(check.verify(forger.sign(claims(), kid=uuid.uuid4().hex)) for _ in range(25)),
        return_exceptions=True,
    )
    assert all(isinstance(r, UnknownKey) for r in results), results
    assert jwks.hits == 2  # 25 concurrent unknown kids: one refetch


async def test_a_token_without_kid_uses_the_only_fitting_key() -> None:
    with JwksServer(keys=[RSA]) as single:
        assert (await verifier(single).verify(RSA.sign(claims(), kid=None))).subject
    with JwksServer(keys=[RSA, SigningKey.rsa()]) as two:
        await refused(verifier(two), RSA.sign(claims(), kid=None), UnknownKey)
