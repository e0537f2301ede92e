"""Beyond the samples, through the real fdk runtime: several trusted issuers
(the IDCS-like local IdP beside an Entra-like one), cross-issuer key
confusion, per-integration access rules, and subject mapping for OIC user
assertions."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from local.entra import API_AUDIENCE, EntraLikeIssuer
from local.seed import APIGW_AUDIENCE, APIGW_SCOPE, USER, Seeded
from oic_gateway.access.paths import integration_path
from oic_gateway.access.policy import access_policy_from_env
from oic_gateway.errors import InsufficientScope, InvalidRequest
from oic_gateway.verification.claims import Claims
from tests.conftest import start_fn
from tests.tokens import SENSITIVE, multi, single

ENTRA_SCOPES = ["OIC.Invoke", "OIC.Invoke.All"]


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraLikeIssuer]:
    issuer = EntraLikeIssuer()
    yield issuer
    issuer.stop()


def trusted(stack: Seeded, entra: EntraLikeIssuer, entra_algorithms: list[str] | None = None) -> str:
    return json.dumps([
        {"issuer": "https://identity.oraclecloud.com/", "jwks_uri": stack.idp.jwks_url,
         "audiences": [APIGW_AUDIENCE], "required_scopes": [APIGW_SCOPE]},
        {"issuer": entra.issuer, "discovery": True, "audiences": [API_AUDIENCE], "principal_claim": "oid",
         "scope_claims": ["scp", "roles"], "client_id_claims": ["azp", "appid"],
         "algorithms": entra_algorithms or ["RS256", "ES256"], "required_scopes": ENTRA_SCOPES},
    ])


def minted(token: str) -> str:
    SENSITIVE.add(token)
    return token


def test_two_issuers_side_by_side(stack: Seeded, entra: EntraLikeIssuer) -> None:
    with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra)}) as fn:
        idcs = fn.call(single(stack.vendor_token())).json()
        assert idcs["active"] is True and idcs["principal"] == "vendor-app"
        user = fn.call(single(minted(entra.mint()))).json()
        assert user["active"] is True and user["principal"] == "9f3c2b1a-0000-4000-8000-000000000001"
        assert user["clientId"] == "vendor-entra-app" and "OIC.Invoke" in user["scope"]
        app = fn.call(single(minted(entra.mint(app=True)))).json()
        assert app["active"] is True and app["scope"] == ["OIC.Invoke.All"]
        assert fn.call(single(minted(entra.mint(alg="ES256")))).json()["active"] is True
        # Each issuer's own required scopes.
        no_scope = fn.call(single(minted(entra.mint(scp="User.Read")))).json()
        assert no_scope["active"] is False and "insufficient_scope" in no_scope["wwwAuthenticate"]


def test_cross_issuer_key_confusion(stack: Seeded, entra: EntraLikeIssuer) -> None:
    now = int(time.time())
    idcs_claims = {"iss": "https://identity.oraclecloud.com/", "aud": [APIGW_AUDIENCE], "scope": APIGW_SCOPE,
                   "sub": "vendor-app", "client_id": "vendor-app", "iat": now, "exp": now + 600}
    entra_claims = jwt.decode(entra.mint(), options={"verify_signature": False})
    idp_key = stack.idp.signing_key
    forgeries = {
        "IDCS iss, IDCS kid, signed by the Entra key": jwt.encode(
            idcs_claims, entra.rsa_key, algorithm="RS256", headers={"kid": stack.idp.signing_kid}),
        "Entra iss, Entra kid, signed by the IDCS key": jwt.encode(
            entra_claims, idp_key, algorithm="RS256", headers={"kid": entra.rsa_kid}),
        "Entra iss, IDCS kid, signed by the IDCS key": jwt.encode(
            entra_claims, idp_key, algorithm="RS256", headers={"kid": stack.idp.signing_kid}),
        "IDCS iss, Entra EC kid, signed by the Entra EC key": jwt.encode(
            idcs_claims, entra.ec_key, algorithm="ES256", headers={"kid": entra.ec_kid}),
    }
    with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra)}) as fn:
        assert fn.call(single(stack.vendor_token())).json()["active"] is True
        assert fn.call(single(minted(entra.mint()))).json()["active"] is True
        for name, token in forgeries.items():
            answer = fn.call(single(minted(token))).json()
            assert answer["active"] is False, name
        # An unknown issuer is refused before any key is fetched, anywhere.
        before = (stack.idp.requests["/admin/v1/SigningCert/jwk"], entra.requests)
        stranger = minted(jwt.encode({**idcs_claims, "iss": "https://evil.example/"}, idp_key, algorithm="RS256",
                                     headers={"kid": "new-kid"}))
        assert fn.call(single(stranger)).json()["active"] is False
        assert (stack.idp.requests["/admin/v1/SigningCert/jwk"], entra.requests) == before


def test_algorithms_are_per_issuer(stack: Seeded, entra: EntraLikeIssuer) -> None:
    with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra, entra_algorithms=["RS256"])}) as fn:
        assert fn.call(single(minted(entra.mint()))).json()["active"] is True
        assert fn.call(single(minted(entra.mint(alg="ES256")))).json()["active"] is False
        # PS256 signed by the issuer's own RSA key: not in its list, refused.
        assert fn.call(single(minted(entra.mint(alg="PS256")))).json()["active"] is False


def test_discovery_that_names_another_issuer_cannot_decide(stack: Seeded, entra: EntraLikeIssuer) -> None:
    entra.discovery_issuer = "https://login.example/other/v2.0"
    try:
        with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra)}) as fn:
            assert fn.call(single(minted(entra.mint()))).status == 502
            assert "discovery names another issuer" in fn.output()
            assert fn.call(single(stack.vendor_token())).json()["active"] is True  # the other issuer still works
    finally:
        entra.discovery_issuer = None


@pytest.mark.parametrize("value, problem", [
    ("not json", "not valid JSON"),
    ("[]", "list of 1 to"),
    ('[{"issuer": "https://a/", "jwks_uri": "https://a/jwk"}]', "'audiences'"),
    ('[{"issuer": "https://a/", "jwks_uri": "https://a/jwk", "discovery": true, "audiences": ["x"]}]', "exactly one"),
    ('[{"issuer": "https://a/", "jwks_uri": "http://a.example/jwk", "audiences": ["x"]}]', "https"),
    ('[{"issuer": "https://a/", "jwks_uri": "https://a/jwk", "audiences": ["x"], "algorithms": ["HS256"]}]',
     "HS256 not supported"),
    ('[{"issuer": "https://a/", "jwks_uri": "https://a/jwk", "audiences": ["x"], "principal": "oid"}]',
     "unknown member"),
])
def test_trusted_issuers_errors_name_the_key(value: str, problem: str, stack: Seeded) -> None:
    with start_fn({"TRUSTED_ISSUERS": value}) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        lines = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
        assert any("TRUSTED_ISSUERS" in line.get("detail", "") and problem in line["detail"] for line in lines)


# -- per-integration access rules ------------------------------------------------------

POLICY = json.dumps({"rules": [
    {"name": "hello-world", "path": "/HELLO_WORLD/*", "scopes": [APIGW_SCOPE]},
    {"name": "orders-partner", "path": "/ORDERS/1.0/*", "client_ids": ["partner-app"]},
    {"name": "reports-get", "path": "/REPORTS/*", "methods": ["GET"]},
]})


def claims(scopes: tuple[str, ...] = (APIGW_SCOPE,), client_id: str = "vendor-app") -> Claims:
    return Claims("vendor-app", client_id, scopes, 0.0, 0.0, None, "iss", {})


@pytest.mark.parametrize("arguments, scopes, client, verdict", [
    ({"path": "/HELLO_WORLD/1.0/hello"}, (APIGW_SCOPE,), "vendor-app", "hello-world"),
    ({"path": "HELLO_WORLD/1.0/hello"}, (APIGW_SCOPE,), "vendor-app", "hello-world"),  # a path parameter has no /
    ({"path": "/HELLO_WORLD/1.0/hello"}, ("read",), "vendor-app", "policy_denied"),
    ({"path": "/ORDERS/1.0/new"}, (APIGW_SCOPE,), "vendor-app", "policy_denied"),
    ({"path": "/ORDERS/1.0/new"}, (), "partner-app", "orders-partner"),
    ({"path": "/ORDERS/2.0/new"}, (), "partner-app", "policy_no_rule"),
    ({"path": "/REPORTS/1.0/x", "method": "GET"}, (), "x", "reports-get"),
    ({"path": "/REPORTS/1.0/x", "method": "DELETE"}, (), "x", "policy_no_rule"),
    ({"path": "/REPORTS/1.0/x"}, (), "x", "policy_no_rule"),  # a method rule never matches without a method
    ({"path": "/HELLO_WORLD/../ORDERS/1.0/x"}, (APIGW_SCOPE,), "vendor-app", "bad_path_traversal"),
    ({"path": "/HELLO_WORLD/%2e%2e/ORDERS/1.0/x"}, (APIGW_SCOPE,), "vendor-app", "bad_path_traversal"),
    ({"path": "/hello_world/1.0/x"}, (APIGW_SCOPE,), "vendor-app", "bad_path_case"),  # upper case only (issue 17 §9)
    ({}, (APIGW_SCOPE,), "vendor-app", "policy_without_path"),
])
def test_policy_table(arguments: dict[str, str], scopes: tuple[str, ...], client: str, verdict: str) -> None:
    policy = access_policy_from_env({"ACCESS_POLICY": POLICY})
    assert policy is not None
    try:
        path = integration_path(arguments["path"]) if "path" in arguments else None
        assert policy.decide(claims(scopes, client), path, arguments.get("method")) == verdict
    except (InsufficientScope, InvalidRequest) as refused:
        assert refused.reason == verdict


def test_access_policy_through_fdk(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), "ACCESS_POLICY": POLICY}
    with start_fn(env) as fn:
        token = "Bearer " + stack.vendor_token()
        allowed = fn.call(multi(token, path="/HELLO_WORLD/1.0/hello")).json()
        assert allowed["active"] is True and allowed["context"]["rule"] == "hello-world"
        denied = fn.call(multi(token, path="/ORDERS/1.0/new")).json()
        assert denied["active"] is False and 'error="insufficient_scope"' in denied["wwwAuthenticate"]
        assert fn.call(multi(token)).json()["active"] is False  # no path argument: refused
        assert fn.call(single(token.split(" ", 1)[1])).json()["active"] is False  # single-argument: no path
        logged = [json.loads(line) for line in fn.output().splitlines() if '"rule"' in line]
        assert logged and logged[-1]["rule"] == "hello-world"


def test_access_rules_never_confuse_one_issuers_client_or_scope_with_anothers(
        stack: Seeded, entra: EntraLikeIssuer) -> None:
    """A client id or scope name only means something to its issuer: another trusted issuer
    (a vendor-run one can put anything in ``azp``) must not pass a rule written for the domain's client."""
    idcs = "https://identity.oraclecloud.com/"
    unqualified = json.dumps({"rules": [{"name": "orders-vendor", "path": "/ORDERS/*", "client_ids": ["vendor-app"]}]})
    with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra), "ACCESS_POLICY": unqualified}) as fn:
        assert fn.call(multi("Bearer " + minted(entra.mint(azp="vendor-app")), path="/ORDERS/1.0/x")).status == 502
        assert "ACCESS_POLICY" in fn.output() and "issuers" in fn.output()
    qualified = json.dumps({"rules": [
        {"name": "orders-vendor", "path": "/ORDERS/*", "client_ids": ["vendor-app"], "issuers": [idcs]},
        {"name": "hello-entra", "path": "/HELLO_WORLD/*", "scopes": ["OIC.Invoke"], "issuers": [entra.issuer]},
    ]})
    with start_fn({"TRUSTED_ISSUERS": trusted(stack, entra), "ACCESS_POLICY": qualified}) as fn:
        forged = fn.call(multi("Bearer " + minted(entra.mint(azp="vendor-app")), path="/ORDERS/1.0/x")).json()
        assert forged["active"] is False and 'error="insufficient_scope"' in forged["wwwAuthenticate"]
        genuine = fn.call(multi("Bearer " + stack.vendor_token(), path="/ORDERS/1.0/x")).json()
        assert genuine["active"] is True and genuine["context"]["rule"] == "orders-vendor"
        entra_hello = fn.call(multi("Bearer " + minted(entra.mint()), path="/HELLO_WORLD/1.0/x")).json()
        assert entra_hello["active"] is True and entra_hello["context"]["rule"] == "hello-entra"
        idcs_hello = fn.call(multi("Bearer " + stack.vendor_token(), path="/HELLO_WORLD/1.0/x")).json()
        assert idcs_hello["active"] is False  # a rule for Entra's callers


def test_denials_name_no_rule_or_setting_to_the_caller(stack: Seeded) -> None:
    """The challenge the caller reads says what was refused, not the operator's rule names or
    the value of OIC_SUBJECT_CLAIM; the log line keeps both."""
    from tests.function.test_backend_fn import BACKEND_DIR, bearer, gateway_call

    policy = json.dumps({"rules": [{"name": "payroll-admins-only", "path": "/PAYROLL/*", "scopes": ["payroll"]}]})
    env = {**stack.authorizer_env(), "ACCESS_POLICY": policy, "OIC_SUBJECT_CLAIM": "employee_upn"}
    with start_fn(env) as fn:
        denied = fn.call(multi("Bearer " + stack.user_token(employee_upn=USER), path="/PAYROLL/1.0/x")).json()
        unmapped = fn.call(multi("Bearer " + stack.user_token(), path="/PAYROLL/1.0/x")).json()
        output = fn.output()
    for answer in (denied, unmapped):
        assert answer["active"] is False and 'error="insufficient_scope"' in answer["wwwAuthenticate"]
        assert "payroll-admins-only" not in answer["wwwAuthenticate"]
        assert "employee_upn" not in answer["wwwAuthenticate"]
    assert "payroll-admins-only" in output and "employee_upn" in output
    with start_fn({**env, **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url}, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/PAYROLL/1.0/x", bearer(stack.user_token(employee_upn=USER)))
        assert reply["status"] == 403 and "payroll-admins-only" not in reply["headers"]["www-authenticate"]


def test_access_policy_spec_through_the_local_gateway(stack: Seeded) -> None:
    from local.fnrun import ROOT
    from local.gateway import LocalGateway
    from local.stack import load_spec

    env = {**stack.authorizer_env(), **stack.exchange_env(), "ACCESS_POLICY": POLICY,
           "GATEWAY_INTEGRATIONS": (ROOT / "deploy" / "integrations.json").read_text()}
    with start_fn(env) as fn:
        gateway = LocalGateway(load_spec(ROOT / "deploy" / "apigw-access-policy.json"),
                               functions={"<authorizer-context-function-ocid>": str(fn.socket_path)},
                               path_prefix="/oic", url_rewrites={"https://<oic-host>": stack.oic.url}).start()
        try:
            bearer = {"Authorization": "Bearer " + stack.vendor_token()}
            hello = requests.get(gateway.url + "/HELLO_WORLD/1.0/hello", headers=bearer, timeout=10)
            assert hello.status_code == 200 and hello.json()["integration"] == "HELLO_WORLD"
            assert gateway.authorizer_calls == 1
            # ORDERS is granted to partner-app only: the route's ANY_OF refuses it, the gateway answers
            # by itself, with no challenge naming a scope the caller has, nor the rule.
            orders = requests.get(gateway.url + "/ORDERS/1.0/new", headers=bearer, timeout=10)
            assert orders.status_code == 403 and "WWW-Authenticate" not in orders.headers
            assert "orders-partner" not in orders.text and APIGW_SCOPE not in orders.text
            assert gateway.authorizer_calls == 1  # one answer (the token alone) serves every route
        finally:
            gateway.stop()


# -- subject mapping for user assertions -----------------------------------------------------


def test_entra_user_mapped_to_a_domain_user_for_oic(stack: Seeded, entra: EntraLikeIssuer) -> None:
    base = {"TRUSTED_ISSUERS": trusted(stack, entra), **stack.jwt_bearer_env()}
    for mapping in ({"OIC_SUBJECT_CLAIM": "upn"},
                    {"OIC_SUBJECT_MAP": json.dumps({entra.issuer: {"9f3c2b1a-0000-4000-8000-000000000001": USER}})}):
        with start_fn({**base, **mapping}) as fn:
            answer = fn.call(single(minted(entra.mint()))).json()
            assert answer["active"] is True and answer["context"]["oic_sub"] == USER
            reply = requests.get(stack.oic.url + "/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0/x",
                                 headers={"Authorization": answer["context"]["back_end_token"]}, timeout=10)
            assert reply.json()["caller"] == USER and reply.json()["caller_type"] == "user"
            # An app token has no upn, and its oid is not in the map: no OIC identity, refused.
            refused = fn.call(single(minted(entra.mint(app=True)))).json()
            assert refused["active"] is False


def test_another_issuers_principal_never_names_a_domain_user(stack: Seeded, entra: EntraLikeIssuer) -> None:
    """Subject confusion across issuers: a foreign issuer's principal that happens to equal
    a domain user's name (or another issuer's mapped principal) must not become that user."""
    from tests.function.test_backend_fn import BACKEND_DIR, bearer, gateway_call

    base = {"TRUSTED_ISSUERS": trusted(stack, entra), **stack.jwt_bearer_env()}
    foreign = minted(entra.mint(oid=USER))  # the Entra principal is literally the domain user's name
    # No mapping with several issuers and user assertions: refused at start, naming the keys.
    with start_fn(base) as fn:
        assert fn.call(single(foreign)).status == 502
        assert "OIC_SUBJECT_MAP" in fn.output()
    with start_fn({**base, "OIC_BASE_URL": stack.oic.url}, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(foreign))
        assert reply["status"] == 502 and json.loads(reply["body"])["error"] == "configuration_error"
        assert "OIC_SUBJECT_MAP" in fn.output()
    # A flat map cannot say whose principal it means: refused too.
    with start_fn({**base, "OIC_SUBJECT_MAP": json.dumps({"partner-admin": USER})}) as fn:
        assert fn.call(single(foreign)).status == 502
        assert "OIC_SUBJECT_MAP" in fn.output()
    # Keyed by issuer: the identity domain's "partner-admin" is alice, Entra's is nobody.
    keyed = {"https://identity.oraclecloud.com/": {"partner-admin": USER},
             entra.issuer: {"9f3c2b1a-0000-4000-8000-000000000001": USER}}
    with start_fn({**base, "OIC_SUBJECT_MAP": json.dumps(keyed)}) as fn:
        assert fn.call(single(minted(entra.mint(oid="partner-admin")))).json()["active"] is False
        answer = fn.call(single(minted(entra.mint()))).json()
        assert answer["active"] is True and answer["context"]["oic_sub"] == USER
    with start_fn({**base, "OIC_SUBJECT_MAP": json.dumps(keyed), "OIC_BASE_URL": stack.oic.url},
                  BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(minted(entra.mint(oid="partner-admin"))))
        assert reply["status"] == 403
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(minted(entra.mint())))
        assert reply["status"] == 200 and json.loads(reply["body"])["caller"] == USER


def test_subject_mapping_errors_name_the_key(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), "OIC_SUBJECT_MAP": "[1]"}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        assert "OIC_SUBJECT_MAP" in fn.output()




# -- optional revocation check (RFC 7662 introspection) ----------------------------------------


def test_introspection_refuses_a_revoked_token_and_caches_verdicts(stack: Seeded) -> None:
    from local.seed import AUTHORIZER_ID

    env = {**stack.authorizer_env(), "IDCS_DOMAIN_URL": stack.idp.url, "INTROSPECTION_CLIENT_ID": AUTHORIZER_ID,
           "INTROSPECTION_CLIENT_SECRET": stack.authorizer_secret, "INTROSPECTION_CACHE_SECONDS": "2"}
    path = "/oauth2/v1/introspect"
    with start_fn(env) as fn:
        token = stack.vendor_token()
        before = stack.idp.requests[path]
        first = fn.call(single(token)).json()
        assert first["active"] is True
        expires = first["expiresAt"]
        assert calendar.timegm(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")) <= time.time() + 2
        for _ in range(5):
            assert fn.call(single(token)).json()["active"] is True
        assert stack.idp.requests[path] - before == 1  # cached verdict
        stack.idp.revoked.add(token)
        time.sleep(2.1)
        revoked = fn.call(single(token)).json()
        assert revoked["active"] is False and "revoked" in revoked["wwwAuthenticate"]
        # The local checks still come first: a forged token costs no introspection.
        count = stack.idp.requests[path]
        assert fn.call(single(token[:-4] + "AAAA")).json()["active"] is False
        assert stack.idp.requests[path] == count


def test_introspection_failure_is_cannot_decide(stack: Seeded) -> None:
    from local.seed import AUTHORIZER_ID

    env = {**stack.authorizer_env(), "INTROSPECTION_URL": "http://127.0.0.1:9/introspect",
           "INTROSPECTION_CLIENT_ID": AUTHORIZER_ID, "INTROSPECTION_CLIENT_SECRET": "x"}
    with start_fn(env) as fn:
        result = fn.call(single(stack.vendor_token()))
        assert result.status == 502 and "introspection unavailable" in fn.output()
    env.update(INTROSPECTION_URL=stack.idp.url + "/oauth2/v1/introspect", INTROSPECTION_CLIENT_SECRET="wrong")
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        assert "INTROSPECTION_CLIENT_SECRET" in fn.output()


def test_json_settings_from_files_in_the_image(tmp_path: Path) -> None:
    from oic_gateway.errors import ConfigError

    policy_file = tmp_path / "policy.json"
    policy_file.write_text(POLICY)
    policy = access_policy_from_env({"ACCESS_POLICY_FILE": str(policy_file)})
    assert policy is not None and [r.name for r in policy.rules] == ["hello-world", "orders-partner", "reports-get"]
    with pytest.raises(ConfigError) as both:
        access_policy_from_env({"ACCESS_POLICY_FILE": str(policy_file), "ACCESS_POLICY": POLICY})
    assert "keep one" in both.value.problem
    with pytest.raises(ConfigError) as missing:
        access_policy_from_env({"ACCESS_POLICY_FILE": str(tmp_path / "nope.json")})
    assert missing.value.key == "ACCESS_POLICY_FILE" and "cannot read" in missing.value.problem
