"""Property-based tests (Hypothesis) through the real fdk runtime: whatever
the input body, and however a valid token is mutated, the authorizer answers
HTTP 200 with a decision (never a crash, never a 502) and accepts nothing
that the trusted key did not sign."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.fnrun import FnProcess
from tests.tokens import Signer, remember, single

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
token_like = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(max_size=60), st.text(max_size=60), st.text(max_size=60)),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \t\r\n", max_size=300),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda t: json.dumps({"type": "TOKEN", "token": t}).encode(), token_like),
    st.builds(lambda t: json.dumps({"type": "TOKEN", "token": "Bearer " + t}).encode(), token_like),
    st.builds(lambda t, extra: json.dumps({"type": "USER_DEFINED", "data": {"token": t, **extra}}).encode(),
              st.one_of(token_like, json_values), st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
)


def decision(fn: FnProcess, body: bytes | dict[str, Any]) -> dict[str, Any]:
    result = fn.call(body)
    assert result.status == 200, (result.status, result.body[:200])
    answer: dict[str, Any] = result.json()
    assert isinstance(answer.get("active"), bool)
    return answer


@SETTINGS
@given(body=bodies)
def test_any_body_gets_a_decision_and_no_access(authorizer_fn: FnProcess, body: bytes) -> None:
    assert decision(authorizer_fn, body)["active"] is False


mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(min_value=0), st.characters(codec="ascii")),
    st.tuples(st.just("insert"), st.integers(min_value=0), st.characters(codec="ascii")),
    st.tuples(st.just("delete"), st.integers(min_value=0), st.just("")),
    st.tuples(st.just("truncate"), st.integers(min_value=0), st.just("")),
)


def mutate(token: str, kind: str, position: int, char: str) -> str:
    if not token:
        return char
    i = position % len(token)
    if kind == "replace":
        return token[:i] + char + token[i + 1:]
    if kind == "insert":
        return token[:i] + char + token[i:]
    if kind == "delete":
        return token[:i] + token[i + 1:]
    return token[:i]


@SETTINGS
@given(steps=st.lists(mutations, min_size=1, max_size=4))
def test_mutated_tokens_are_never_accepted(authorizer_fn: FnProcess, signer: Signer,
                                           steps: list[tuple[str, int, str]]) -> None:
    token = signer.mint()
    mutated = token
    for kind, position, char in steps:
        mutated = mutate(mutated, kind, position, char)
    answer = decision(authorizer_fn, single(remember(mutated)))
    if mutated != token:
        assert answer["active"] is False
    else:
        assert answer["active"] is True


@SETTINGS
@given(claims=st.dictionaries(st.sampled_from(["iss", "aud", "sub", "exp", "iat", "nbf", "scope", "client_id", "jti"]),
                              json_values, max_size=9))
def test_validly_signed_arbitrary_claims_never_crash(authorizer_fn: FnProcess, signer: Signer,
                                                      claims: dict[str, Any]) -> None:
    """Signed by the trusted key but with arbitrary claim values: a decision,
    never a crash; accepted only if every required claim is right."""
    answer = decision(authorizer_fn, single(signer.mint(claims=claims)))
    if answer["active"]:
        assert claims.get("iss") == "https://identity.oraclecloud.com/" and isinstance(claims.get("sub"), str)


@SETTINGS
@given(segments=st.lists(st.sampled_from(["HELLO_WORLD", "ORDERS", "1.0", "..", ".", "%2e%2e", "%2E%2e", "x", ""]),
                         min_size=1, max_size=6))
def test_access_rules_cannot_be_escaped(segments: list[str]) -> None:
    """No path that climbs out of a matched prefix is ever allowed by it."""
    from oic_gateway.access.paths import integration_path
    from oic_gateway.access.policy import access_policy_from_env
    from oic_gateway.errors import TokenRejected
    from oic_gateway.verification.claims import Claims

    policy = access_policy_from_env({"ACCESS_POLICY": json.dumps(
        {"rules": [{"name": "hello", "path": "/HELLO_WORLD/*"}]})})
    assert policy is not None
    path = "/" + "/".join(segments)
    claims = Claims("s", "c", (), 0.0, 0.0, None, "i", {})
    try:
        rule = policy.decide(claims, integration_path(path))
    except TokenRejected:
        return
    # Leading slashes are one slash (a path parameter has none): compare the normalised path.
    normalised = "/" + path.lstrip("/")
    assert rule == "hello" and normalised.startswith("/HELLO_WORLD/")
    assert ".." not in path.split("/") and "%2e%2e" not in path.lower()
