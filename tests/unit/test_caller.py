"""Who is calling (``caller``) and what both functions check about a token (``token_checks``): the shared
settings, the verified-token cache with its clock and bound, the subject, the access rule and the challenge.

The verifier is the real one for the end-to-end cases (its keys from a loopback JWKS); the cache and
subject rules are checked with a verifier that reads a token as its claims, and a fake clock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from oic_gateway import errors
from oic_gateway.access.paths import integration_path
from oic_gateway.caller import Caller, CallerVerifier
from oic_gateway.settings import Problems
from oic_gateway.token_checks import VERIFIED_CACHE_ENTRIES, CheckSettings, TokenChecks, token_key
from oic_gateway.verification.claims import Claims
from tests.servers import JwksServer
from tests.tokens import AUDIENCE, ISSUER, SCOPE, Signer, authorizer_env

SIGNER = Signer.generate("k1")
PATH = integration_path("/HELLO/1.0/x")


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer([SIGNER.jwk()]).start()
    yield server
    server.stop()


def claims(sub: str = "app", exp: float = 2000.0, scopes: tuple[str, ...] = (SCOPE,), **payload: Any) -> Claims:
    return Claims(sub, sub, scopes, exp, 0.0, None, ISSUER, {"sub": sub, **payload})


class ReadingVerifier:
    """Reads a token "sub:exp" as its claims; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    def verify(self, token: str, deadline: float | None = None) -> Claims:
        self.calls.append((token, deadline))
        if token == "bad":
            raise errors.InvalidSignature("bad signature")
        sub, exp = token.split(":")
        return claims(sub, float(exp))


def settings(env: dict[str, str], verifier: Any = None) -> CheckSettings:
    problems = Problems()
    read = CheckSettings.read(env, problems)
    problems.raise_any()
    assert read is not None
    return read if verifier is None else CheckSettings(read.config, verifier, read.policy, read.subjects)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- token_key ---------------------------------------------------------------------------------------------


def test_the_key_is_the_sha256_of_the_token() -> None:
    assert token_key("abc") == hashlib.sha256(b"abc").digest()
    assert token_key("\ud800x") == hashlib.sha256(b"\xed\xa0\x80x").digest()  # a lone surrogate hashes, no error


# -- CheckSettings.read ------------------------------------------------------------------------------------


def test_the_settings_read_every_part(jwks: JwksServer) -> None:
    policy = json.dumps({"rules": [{"name": "hello", "path": "/HELLO/*"}]})
    read = settings(authorizer_env(jwks.url, ACCESS_POLICY=policy, OIC_SUBJECT_CLAIM="client_id"))
    assert read.config.required_scopes == frozenset({SCOPE})
    assert read.policy is not None and read.policy.decide(claims(), PATH, "GET") == "hello"
    assert read.subjects is not None and read.subjects.subject(claims("x", client_id="c")) == "c"
    plain = settings(authorizer_env(jwks.url))
    assert plain.policy is None and plain.subjects is None


def test_every_wrong_key_is_noted_even_when_the_verifier_cannot_be_built() -> None:
    problems = Problems()
    env = {"JWKS_URL": "https://idp.example/jwks", "ACCESS_POLICY": "{", "OIC_SUBJECT_MAP": "{"}
    assert CheckSettings.read(env, problems) is None
    with pytest.raises(errors.ConfigError) as raised:
        problems.raise_any()
    assert {error.key for error in raised.value.each()} == {"TOKEN_AUDIENCES", "ACCESS_POLICY", "OIC_SUBJECT_MAP"}


def test_a_wrong_policy_alone_is_noted_and_the_verifier_still_built(jwks: JwksServer) -> None:
    problems = Problems()
    read = CheckSettings.read(authorizer_env(jwks.url, ACCESS_POLICY="[]"), problems)
    assert read is not None and read.policy is None
    assert problems.failed("ACCESS_POLICY") and not problems.failed("TOKEN_AUDIENCES")


# -- TokenChecks -------------------------------------------------------------------------------------------


def derive_subject(claims: Claims, subject: str | None, key: bytes, deadline: float | None) -> tuple[Any, float]:
    return (claims.sub, subject, key, deadline), claims.exp


def test_derive_passes_the_claims_the_subject_the_key_and_the_deadline(jwks: JwksServer) -> None:
    verifier = ReadingVerifier()
    mapped = settings(authorizer_env(jwks.url, OIC_SUBJECT_MAP=json.dumps({"app": "user@example"})), verifier)
    checks = TokenChecks(mapped, derive_subject)
    assert checks.derive("app:50", b"k", 7.5) == (("app", "user@example", b"k", 7.5), 50.0)
    assert verifier.calls == [("app:50", 7.5)]
    with pytest.raises(errors.UnmappedSubject):
        checks.derive("other:50", b"k")
    unmapped = TokenChecks(settings(authorizer_env(jwks.url), ReadingVerifier()), derive_subject)
    assert unmapped.derive("app:50", b"k") == (("app", None, b"k", None), 50.0)


def test_a_verified_token_is_kept_until_the_time_derive_names(jwks: JwksServer) -> None:
    checks = TokenChecks(settings(authorizer_env(jwks.url), ReadingVerifier()), derive_subject)
    assert checks.cached(b"k", 10.0) is None
    entry = checks.verify("app:50", b"k", 10.0)
    assert entry == ("app", None, b"k", None)
    assert checks.cached(b"k", 49.9) == entry
    assert checks.cached(b"k", 50.0) is None


def test_the_cache_holds_its_bound_and_no_more(jwks: JwksServer) -> None:
    checks = TokenChecks(settings(authorizer_env(jwks.url), ReadingVerifier()), derive_subject, entries=2)
    for key in (b"1", b"2", b"3"):
        checks.verify("app:50", key, 0.0)
    assert checks.cached(b"1", 0.0) is None and checks.cached(b"2", 0.0) and checks.cached(b"3", 0.0)


def test_the_default_bound_is_verified_cache_entries(jwks: JwksServer) -> None:
    assert VERIFIED_CACHE_ENTRIES == 4096
    checks = TokenChecks(settings(authorizer_env(jwks.url), ReadingVerifier()), derive_subject)
    for number in range(VERIFIED_CACHE_ENTRIES + 1):
        checks.verify("app:50", number.to_bytes(2, "big"), 0.0)
    assert checks.cached((0).to_bytes(2, "big"), 0.0) is None
    assert checks.cached((1).to_bytes(2, "big"), 0.0) is not None


def test_the_access_rule_and_the_challenge(jwks: JwksServer) -> None:
    policy = json.dumps({"rules": [{"name": "hello", "path": "/HELLO/*", "methods": ["GET"]}]})
    env = authorizer_env(jwks.url, ACCESS_POLICY=policy, REQUIRED_SCOPES="b.scope a.scope", AUTH_REALM="gw")
    checks = TokenChecks(settings(env), derive_subject)
    assert checks.required_scope == "a.scope b.scope"
    assert checks.authorize(claims(), PATH, "GET") == "hello"
    with pytest.raises(errors.AccessDenied):
        checks.authorize(claims(), PATH, "POST")
    assert checks.challenge(errors.InsufficientScope("x", for_caller="no")) == (
        'Bearer realm="gw", error="insufficient_scope", error_description="no", scope="a.scope b.scope"')
    open_checks = TokenChecks(settings(authorizer_env(jwks.url)), derive_subject)
    assert open_checks.authorize(claims(), None, None) is None


# -- CallerVerifier ----------------------------------------------------------------------------------------


def test_a_genuine_token_names_its_caller(jwks: JwksServer) -> None:
    verifier = CallerVerifier.from_env(authorizer_env(jwks.url))
    token = SIGNER.mint(sub="vendor-app")
    caller = verifier.verify("Bearer " + token)
    assert caller.oic_subject == "vendor-app" and caller.claims.issuer == ISSUER
    assert AUDIENCE and caller.token_hash == hashlib.sha256(token.encode()).hexdigest()[:16]
    with pytest.raises(errors.InvalidSignature):
        verifier.verify("Bearer " + Signer.generate("k1").mint())
    with pytest.raises(errors.MissingToken):
        verifier.verify(None)


def test_from_env_names_every_wrong_key() -> None:
    with pytest.raises(errors.ConfigError) as raised:
        CallerVerifier.from_env({"JWKS_URL": "https://idp.example/jwks", "ACCESS_POLICY": "{"})
    assert {error.key for error in raised.value.each()} == {"TOKEN_AUDIENCES", "ACCESS_POLICY"}


def test_the_caller_is_the_mapped_subject_else_the_token_sub(jwks: JwksServer) -> None:
    mapped = CallerVerifier(settings(authorizer_env(jwks.url, OIC_SUBJECT_MAP=json.dumps({"app": "u@example"})),
                                     ReadingVerifier()), clock=Clock())
    assert mapped.verify("Bearer app:2000").oic_subject == "u@example"
    plain = CallerVerifier(settings(authorizer_env(jwks.url), ReadingVerifier()), clock=Clock())
    caller = plain.verify("Bearer app:2000", 9.0)
    assert caller == Caller(claims("app"), "app", hashlib.sha256(b"app:2000").hexdigest()[:16])


def test_a_verified_caller_is_cached_by_its_own_clock_until_exp(jwks: JwksServer) -> None:
    verifier, clock = ReadingVerifier(), Clock(1000.0)
    callers = CallerVerifier(settings(authorizer_env(jwks.url), verifier), clock=clock)
    first = callers.verify("Bearer app:2000", 5.0)
    clock.now = 1999.9
    assert callers.verify("Bearer app:2000") is first and verifier.calls == [("app:2000", 5.0)]
    clock.now = 2000.0
    assert callers.verify("Bearer app:2000", 6.0) == first and verifier.calls[-1] == ("app:2000", 6.0)
    assert len(verifier.calls) == 2
    with pytest.raises(errors.InvalidSignature):
        callers.verify("Bearer bad")


@pytest.mark.parametrize("claimed, matches", [(None, True), ("", True), ("app", True), ("other", False),
                                              ("APP", False)])
def test_a_claimed_subject_must_name_the_verified_one(claimed: str | None, matches: bool) -> None:
    caller = Caller(claims("app"), "app", "0" * 16)
    assert CallerVerifier.matches_claimed_subject(caller, claimed) is matches


def test_the_caller_is_authorized_and_challenged_by_the_shared_checks(jwks: JwksServer) -> None:
    policy = json.dumps({"rules": [{"name": "hello", "path": "/HELLO/*", "methods": ["GET"]}]})
    callers = CallerVerifier(settings(authorizer_env(jwks.url, ACCESS_POLICY=policy, AUTH_REALM="gw")))
    caller = Caller(claims("app"), "app", "0" * 16)
    assert callers.authorize(caller, PATH, "GET") == "hello"
    with pytest.raises(errors.AccessDenied):
        callers.authorize(caller, PATH, "DELETE")
    assert callers.challenge(errors.MissingToken("x")) == 'Bearer realm="gw"'


def test_a_claimed_subject_is_compared_by_value_also_through_an_instance(jwks: JwksServer) -> None:
    callers = CallerVerifier(settings(authorizer_env(jwks.url)))
    caller = Caller(claims("app"), "".join(["a", "pp"]), "0" * 16)
    assert callers.matches_claimed_subject(caller, "app") is True
    assert callers.matches_claimed_subject(caller, "ap") is False


def test_the_clock_is_given_by_name_only(jwks: JwksServer) -> None:
    with pytest.raises(TypeError):
        CallerVerifier(settings(authorizer_env(jwks.url)), Clock())  # type: ignore[call-arg]


def test_settings_and_callers_cannot_be_changed(jwks: JwksServer) -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings(authorizer_env(jwks.url)).policy = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Caller(claims("app"), "app", "0" * 16).oic_subject = "other"  # type: ignore[misc]
