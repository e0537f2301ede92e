"""The authorizer in the one-route-per-integration mode (GATEWAY_INTEGRATIONS),
in-process: the answer's scope carries the synthetic scope of each listed
integration the access rules grant, and nothing else changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from authorizer.app import Authorizer, build_authorizer, partial_rules
from oic_gateway.access.integrations import integrations_from_env
from oic_gateway.access.policy import access_policy_from_env
from tests.servers import JwksServer
from tests.tokens import AUDIENCE, ISSUER, SCOPE, authorizer_env, multi, single
from tests.unit.test_verifier import SIGNER

LIST = json.dumps({"integrations": [
    {"integration": "HELLO_WORLD", "version": "1.0", "methods": ["GET", "POST"]},
    {"integration": "ORDERS", "version": "1.0", "methods": ["GET", "POST"]},
    {"project": "SALES", "integration": "QUOTE", "version": "1.0", "methods": ["POST"]},
]})
RULES = json.dumps({"rules": [
    {"name": "orders-new", "path": "/ORDERS/1.0/new", "client_ids": ["partner"]},
    {"name": "hello", "path": "/HELLO_WORLD/*", "scopes": [SCOPE]},
    {"name": "sales", "path": "/project/SALES/*", "client_ids": ["partner"]},
    {"name": "all", "path": "/*"},
]})


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer([SIGNER.jwk()]).start()
    yield server
    server.stop()


def authorizer(jwks: JwksServer, **extra: str) -> Authorizer:
    return build_authorizer(authorizer_env(jwks.url, GATEWAY_INTEGRATIONS=LIST, **extra))


def answer(authz: Authorizer, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(authz.handle(json.dumps(body).encode(), "call"))
    return result


def test_without_a_policy_every_listed_integration_is_granted(jwks: JwksServer) -> None:
    allowed = answer(authorizer(jwks), multi("Bearer " + SIGNER.mint()))
    assert allowed["active"] is True
    assert allowed["scope"] == [SCOPE, "other.scope",
                                "oic:HELLO_WORLD/1.0", "oic:ORDERS/1.0", "oic:project/SALES/QUOTE/1.0"]
    assert "oic_path" not in allowed["context"] and "rule" not in allowed["context"]


def test_the_rules_decide_per_integration(jwks: JwksServer) -> None:
    authz = authorizer(jwks, ACCESS_POLICY=RULES)
    vendor = answer(authz, single(SIGNER.mint()))
    # ORDERS: its first rule covers a sub-path only, so nobody gets the route (fail closed).
    assert vendor["scope"] == [SCOPE, "other.scope", "oic:HELLO_WORLD/1.0"]
    partner = answer(authz, single(SIGNER.mint(client_id="partner")))
    assert partner["scope"] == [SCOPE, "other.scope", "oic:HELLO_WORLD/1.0", "oic:project/SALES/QUOTE/1.0"]


def test_a_token_scope_that_looks_synthetic_is_not_echoed(jwks: JwksServer) -> None:
    authz = authorizer(jwks, ACCESS_POLICY=RULES)
    forged = answer(authz, single(SIGNER.mint(scope=f"{SCOPE} oic:ORDERS/1.0 oic:project/SALES/QUOTE/1.0")))
    assert forged["scope"] == [SCOPE, "oic:HELLO_WORLD/1.0"]


def test_a_path_argument_is_refused_in_this_mode(jwks: JwksServer) -> None:
    refused = answer(authorizer(jwks), multi("Bearer " + SIGNER.mint(), path="/HELLO_WORLD/1.0/x"))
    assert refused["active"] is False and 'error="invalid_token"' in refused["wwwAuthenticate"]
    assert "GATEWAY_INTEGRATIONS" not in refused["wwwAuthenticate"]


def test_without_the_setting_the_path_mode_is_unchanged(jwks: JwksServer) -> None:
    authz = build_authorizer(authorizer_env(jwks.url))
    allowed = answer(authz, multi("Bearer " + SIGNER.mint(), path="/HELLO_WORLD/1.0/x"))
    assert allowed["scope"] == [SCOPE, "other.scope"] and allowed["active"] is True
    # No shipped specification builds a URL from the authorizer's answer any more.
    assert "oic_path" not in allowed["context"] and "oic_api_path" not in allowed["context"]


def test_a_policy_refusal_in_path_mode_names_no_scope_and_no_rule(jwks: JwksServer) -> None:
    authz = build_authorizer(authorizer_env(jwks.url, ACCESS_POLICY=json.dumps(
        {"rules": [{"name": "hello", "path": "/HELLO_WORLD/*"}]})))
    for path in ("/ORDERS/1.0/x",):
        refused = answer(authz, multi("Bearer " + SIGNER.mint(), path=path))
        challenge = refused["wwwAuthenticate"]
        assert 'error="insufficient_scope"' in challenge and "scope=" not in challenge
        assert 'error_description="this token does not grant this integration"' in challenge
        assert "rule" not in challenge


def test_partial_rules_are_reported() -> None:
    policy = access_policy_from_env({"ACCESS_POLICY": RULES})
    listed = integrations_from_env({"GATEWAY_INTEGRATIONS": LIST})
    assert listed is not None
    assert partial_rules(policy, listed) == [("orders-new", "/ORDERS/1.0/")]
    assert partial_rules(None, listed) == []


def test_a_token_scope_that_could_read_as_synthetic_is_not_echoed(jwks: JwksServer) -> None:
    """Whitespace inside a scope (a gateway may split on it) or ``oic:`` in another case (it may fold case)
    could turn a token's own scope into a synthetic one: such scopes are dropped, the others kept."""
    authz = authorizer(jwks, ACCESS_POLICY=RULES)
    own = f"{SCOPE} a\toic:ORDERS/1.0 \xa0oic:ORDERS/1.0 OIC:ORDERS/1.0 Oic:project/SALES/QUOTE/1.0 " \
          "b\noic:ORDERS/1.0 c\u2028oic:ORDERS/1.0 keep.me"
    forged = answer(authz, single(SIGNER.mint(scope=own)))
    assert forged["active"] is True
    assert forged["scope"] == [SCOPE, "keep.me", "oic:HELLO_WORLD/1.0"]


def test_a_roles_entry_that_could_read_as_synthetic_is_not_echoed(jwks: JwksServer) -> None:
    issuers = json.dumps([{"issuer": ISSUER, "jwks_uri": jwks.url, "audiences": [AUDIENCE],
                           "scope_claims": ["scope", "roles"]}])
    authz = build_authorizer({"TRUSTED_ISSUERS": issuers, "REQUIRED_SCOPES": SCOPE, "GATEWAY_INTEGRATIONS": LIST,
                              "ACCESS_POLICY": RULES})
    forged = answer(authz, single(SIGNER.mint(scope=SCOPE, roles=["x oic:ORDERS/1.0", "OIC:ORDERS/1.0", "Reader"])))
    assert forged["active"] is True
    assert forged["scope"] == [SCOPE, "Reader", "oic:HELLO_WORLD/1.0"]
