"""The verifier facade, pure: the order of its checks, each one on its own."""

from __future__ import annotations

import time

import pytest

from oic_gateway import errors
from oic_gateway.verification.claims import ClaimRules
from oic_gateway.verification.jwk import KeySet, parse_signing_key
from oic_gateway.verification.keystore import KeyStore
from oic_gateway.verification.verifier import JwtVerifier, TrustedIssuer
from tests.fakeclock import FakeClock
from tests.tokens import AUDIENCE, ISSUER, SCOPE, Signer, idcs_claims

SIGNER = Signer.generate("k1")
ATTACKER = Signer.generate("k1")
OTHER_ISSUER = "https://login.example.com/v2.0"


class Fetch:
    def __init__(self, failing: bool = False) -> None:
        self.calls = 0
        self.failing = failing

    def __call__(self, deadline: float | None = None) -> KeySet:
        self.calls += 1
        if self.failing:
            raise errors.FetchError("jwks down")
        return KeySet({"k1": parse_signing_key(SIGNER.jwk())})


def rules(issuer: str = ISSUER) -> ClaimRules:
    return ClaimRules(frozenset({issuer}), frozenset({AUDIENCE}), frozenset({SCOPE}), 60, 86400)


def verifier(failing: bool = False, algorithms: frozenset[str] = frozenset({"RS256"})):
    fetch = Fetch(failing)
    clock = FakeClock(time.time())
    store = KeyStore(fetch, clock, fresh_seconds=900, max_stale_seconds=3600, spawn=lambda work: None)
    issuers = {ISSUER: TrustedIssuer(store, rules(), algorithms),
               OTHER_ISSUER: TrustedIssuer(store, rules(OTHER_ISSUER), algorithms)}
    return JwtVerifier(issuers, clock), fetch


def test_a_genuine_token_gives_its_claims():
    v, fetch = verifier()
    claims = v.verify(SIGNER.mint())
    assert claims.sub == "vendor-app" and claims.issuer == ISSUER and SCOPE in claims.scopes
    assert v.verify(SIGNER.mint(iss=OTHER_ISSUER)).issuer == OTHER_ISSUER
    assert fetch.calls == 1


@pytest.mark.parametrize("iss", ["https://evil.example/", ["https://identity.oraclecloud.com/"], None, 7])
def test_an_unknown_issuer_is_refused_before_any_key_is_fetched(iss):
    v, fetch = verifier()
    with pytest.raises(errors.InvalidIssuer, match="issuer not accepted"):
        v.verify(SIGNER.mint(iss=iss))
    assert fetch.calls == 0


def test_an_algorithm_the_issuer_does_not_allow_is_refused_before_any_key_is_fetched():
    v, fetch = verifier(algorithms=frozenset({"PS256"}))
    with pytest.raises(errors.UnsupportedToken) as caught:
        v.verify(SIGNER.mint())
    assert caught.value.reason == "algorithm_not_allowed" and fetch.calls == 0


def test_claims_are_refused_even_while_keys_are_unavailable():
    v, fetch = verifier(failing=True)
    now = int(time.time())
    with pytest.raises(errors.TokenExpired):
        v.verify(SIGNER.mint(exp=now - 3600, iat=now - 7200))
    with pytest.raises(errors.InvalidAudience):
        v.verify(SIGNER.mint(aud="https://other"))
    assert fetch.calls == 0
    with pytest.raises(errors.KeysUnavailable):
        v.verify(SIGNER.mint())


def test_the_signature_is_checked_before_the_scopes():
    v, _ = verifier()
    with pytest.raises(errors.InvalidSignature):
        v.verify(ATTACKER.mint(scope="other.scope"))
    with pytest.raises(errors.InsufficientScope):
        v.verify(SIGNER.mint(scope="other.scope"))


def test_an_unknown_kid_is_refused():
    v, _ = verifier()
    with pytest.raises(errors.UnknownKey):
        v.verify(Signer("k2", SIGNER.key).mint(claims=idcs_claims()))


def test_hydrate_loads_each_key_store_once():
    v, fetch = verifier()
    v.hydrate()
    assert fetch.calls == 1
    failing, _ = verifier(failing=True)
    with pytest.raises(errors.KeysUnavailable):
        failing.hydrate()


def test_a_trusted_issuer_cannot_be_changed_after_configuration():
    import dataclasses

    v, _ = verifier()
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.issuers[ISSUER].algorithms = frozenset({"HS256"})
