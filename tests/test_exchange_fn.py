"""Both topologies through the real fdk runtime, against the local identity
provider (Authlib) and the OIC stub on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime

import jwt
import pytest
import requests

from local.fnrun import ROOT, FnProcess
from local.seed import OIC_AUDIENCE, USER, Seeded
from tests.conftest import start_fn
from tests.tokens import single

TOKEN_PATH = "/oauth2/v1/token"
JWKS_PATH = "/admin/v1/SigningCert/jwk"
HELLO = "/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0"


@pytest.fixture(autouse=True)
def healthy(stack: Seeded) -> Iterator[None]:
    stack.idp.faults.clear()
    stack.oic.fault = None
    yield
    stack.idp.faults.clear()
    stack.oic.fault = None


def counts(stack: Seeded) -> tuple[int, int]:
    return stack.idp.requests[TOKEN_PATH], stack.idp.requests[JWKS_PATH]


def expires_at(answer: dict) -> float:
    return datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()


def call_oic(stack: Seeded, authorization: str) -> requests.Response:
    """What the gateway does next in the authorizer-context topology."""
    return requests.get(stack.oic.url + HELLO + "/hello", headers={"Authorization": authorization}, timeout=5)


# -- topology 1: authorizer-context -----------------------------------------------


def test_authorizer_context_2000_authorizations_cost_two_idp_requests(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    tokens = [stack.vendor_token() for _ in range(100)]
    before_token, before_jwks = counts(stack)
    with start_fn(env) as fn:
        back_end_tokens = set()
        for i in range(2000):
            client_token = tokens[i % 100]
            answer = fn.call(single(client_token)).json()
            assert answer["active"] is True
            back_end_tokens.add(answer["context"]["back_end_token"])
            client_exp = jwt.decode(client_token, options={"verify_signature": False})["exp"]
            assert expires_at(answer) <= client_exp
    token_requests, jwks_requests = counts(stack)
    assert (token_requests - before_token, jwks_requests - before_jwks) == (1, 1)
    assert len(back_end_tokens) == 1
    back_end = back_end_tokens.pop()
    oic_exp = jwt.decode(back_end.split(" ", 1)[1], options={"verify_signature": False})["exp"]
    assert expires_at(answer) <= oic_exp - 60
    reply = call_oic(stack, back_end)
    assert reply.status_code == 200 and reply.json()["caller"] == "oic-client"


def test_authorizer_context_user_assertion_propagates_identity(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.jwt_bearer_env()}
    with start_fn(env) as fn:
        answer = fn.call(single(stack.user_token())).json()
        assert answer["active"] is True and answer["principal"] == USER
        reply = call_oic(stack, answer["context"]["back_end_token"])
        assert reply.json()["caller"] == USER and reply.json()["caller_type"] == "user"


def test_idp_down_after_first_token_keeps_working_from_cache(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).json()["active"] is True
        for fault in ("status:503", "hang:5"):
            stack.idp.faults[TOKEN_PATH] = fault
            stack.idp.faults[JWKS_PATH] = fault
            for _ in range(5):
                result = fn.call(single(stack.vendor_token()))  # new client tokens, same kid
                assert result.status == 200 and result.json()["active"] is True
                assert result.seconds < 2.0


def test_no_oic_token_obtainable_is_502_not_a_denial(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_CLIENT_SECRET="wrong")}
    with start_fn(env) as fn:
        result = fn.call(single(stack.vendor_token()))
        assert result.status == 502
        decisions = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
        assert any("OIC_CLIENT_SECRET" in d.get("detail", "") for d in decisions)
        # A bad client token is still a plain denial: no exchange is attempted.
        assert fn.call(single("x.y.z")).json()["active"] is False
    stack.idp.faults[TOKEN_PATH] = "hang:5"
    with start_fn({**stack.authorizer_env(), **stack.exchange_env()}) as fn:
        result = fn.call(single(stack.vendor_token()))
        assert result.status == 502 and result.seconds < 2.5


def test_authorizer_exchange_config_errors_name_the_key(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_SCOPE="", OIC_GRANT_TYPE="password")}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        assert "OIC_SCOPE" in fn.output()


# -- topology 2: the backend function -----------------------------------------------

BACKEND_DIR = ROOT / "token_exchange"


def gateway_call(fn: FnProcess, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> dict:
    """Call the function as API Gateway's ORACLE_FUNCTIONS_BACKEND does."""
    fn_headers = {
        "Fn-Intent": "httprequest",
        "Fn-Http-Method": method,
        "Fn-Http-Request-Url": url,
        "Content-Type": headers.get("Content-Type", "application/octet-stream"),
        **{f"Fn-Http-H-{k}": v for k, v in headers.items() if k != "Content-Type"},
    }
    result = fn.call(body, headers=fn_headers)
    assert result.status == 200, result.body  # the transport status; the HTTP one is in Fn-Http-Status
    return {
        "status": int(result.headers.get("fn-http-status", "200")),
        "headers": {k[len("fn-http-h-"):]: v for k, v in result.headers.items() if k.startswith("fn-http-h-")},
        "body": result.body,
        "seconds": result.seconds,
    }


@pytest.fixture
def backend(stack: Seeded) -> Iterator[FnProcess]:
    env = {**stack.exchange_env(), "OIC_BASE_URL": stack.oic.url, "GATEWAY_PATH_PREFIX": "/oic"}
    with start_fn(env, BACKEND_DIR) as fn:
        yield fn


def test_backend_forwards_and_returns_oic_answer(stack: Seeded, backend: FnProcess) -> None:
    client_token = stack.vendor_token()
    seen_before = len(stack.oic.seen_headers)
    reply = gateway_call(backend, "POST", "/oic/HELLO_WORLD/1.0/hello?lang=en", {
        "Authorization": "Bearer " + client_token, "Content-Type": "application/json", "X-Custom": "kept",
    }, b'{"name":"vendor"}')
    assert reply["status"] == 200
    answer = json.loads(reply["body"])
    assert answer["integration"] == "HELLO_WORLD" and answer["path"] == "/hello" and answer["query"] == "lang=en"
    assert answer["method"] == "POST" and answer["received_bytes"] == len(b'{"name":"vendor"}')
    assert reply["headers"].get("x-oic-trace") == "local"
    seen = stack.oic.seen_headers[seen_before]
    assert client_token not in seen["authorization"]  # the client token never reaches OIC
    assert seen["x-custom"] == "kept" and seen["content-type"] == "application/json"


def test_backend_caches_the_oic_token(stack: Seeded, backend: FnProcess) -> None:
    before, _ = counts(stack)
    for _ in range(20):
        assert gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", {})["status"] == 200
    assert counts(stack)[0] - before == 1


def test_backend_refreshes_once_on_oic_401(stack: Seeded, backend: FnProcess) -> None:
    gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", {})
    before, _ = counts(stack)
    stack.oic.fault = "reject_next:1"
    assert gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", {})["status"] == 200
    assert counts(stack)[0] - before == 1
    stack.oic.fault = "reject_next:5"
    assert gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", {})["status"] == 401  # only one retry


def test_backend_passes_oic_errors_and_maps_failures(stack: Seeded, backend: FnProcess) -> None:
    stack.oic.fault = "status:503"
    assert gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", {})["status"] == 503
    stack.oic.fault = None
    reply = gateway_call(backend, "GET", "/elsewhere/x", {})
    assert reply["status"] == 404
    reply = gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/%2e%2e/%2e%2e/admin", {})
    assert reply["status"] == 400
    big = b"x" * (6 * 1024 * 1024 + 1)
    reply = gateway_call(backend, "POST", "/oic/HELLO_WORLD/1.0/x", {"Content-Type": "text/plain"}, big)
    assert reply["status"] == 413 and json.loads(reply["body"])["error"] == "payload_too_large"


def test_backend_timeout_is_504_and_unreachable_is_502(stack: Seeded) -> None:
    env = {**stack.exchange_env(), "OIC_BASE_URL": stack.oic.url, "OIC_TIMEOUT_SECONDS": "1"}
    with start_fn(env, BACKEND_DIR) as fn:
        stack.oic.fault = "hang:3"
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})
        assert reply["status"] == 504 and reply["seconds"] < 2.5
    env = {**stack.exchange_env(), "OIC_BASE_URL": "http://127.0.0.1:9"}
    with start_fn(env, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})
        assert reply["status"] == 502 and json.loads(reply["body"])["error"] == "oic_unreachable"


def test_backend_token_exchange_failure_is_502_with_a_reason(stack: Seeded) -> None:
    env = {**stack.exchange_env(OIC_CLIENT_SECRET="wrong"), "OIC_BASE_URL": stack.oic.url}
    with start_fn(env, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})
        body = json.loads(reply["body"])
        assert reply["status"] == 502 and body["error"] == "token_exchange_failed"
        assert "OIC_CLIENT_SECRET" in body["detail"] and "wrong" not in body["detail"]


def test_backend_identity_propagation(stack: Seeded) -> None:
    env = {**stack.jwt_bearer_env(), "OIC_BASE_URL": stack.oic.url}
    with start_fn(env, BACKEND_DIR) as fn:
        user_token = stack.user_token()
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {
            "Authorization": "Bearer " + user_token, "X-Caller-Sub": USER,
        })
        assert reply["status"] == 200 and json.loads(reply["body"])["caller"] == USER
        # Without the identity header set by the route, nothing is forwarded.
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {"Authorization": "Bearer " + user_token})
        assert reply["status"] == 502 and json.loads(reply["body"])["error"] == "caller_identity_missing"


def test_backend_config_error_is_a_clear_502(stack: Seeded) -> None:
    with start_fn(stack.exchange_env(), BACKEND_DIR) as fn:  # no OIC_BASE_URL
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})
        assert reply["status"] == 502 and "OIC_BASE_URL" in json.loads(reply["body"])["detail"]


def test_oic_audience_is_what_the_stub_checks(stack: Seeded) -> None:
    assert stack.oic.audience == OIC_AUDIENCE
    assert call_oic(stack, "Bearer " + stack.vendor_token()).status_code == 401  # an APIGW token is not for OIC


def test_jwks_behind_client_authentication(stack: Seeded) -> None:
    """"Access signing certificate" off: the authorizer reads the keys with a
    client-credentials token of its own."""
    from local.seed import AUTHORIZER_ID

    stack.idp.jwks_requires_token = True
    try:
        env = {**stack.authorizer_env(), "JWKS_URL": "", "IDCS_DOMAIN_URL": stack.idp.url}
        with start_fn(env) as fn:
            assert fn.call(single(stack.vendor_token())).status == 502  # cannot read the keys
        env.update(JWKS_CLIENT_ID=AUTHORIZER_ID, JWKS_CLIENT_SECRET=stack.authorizer_secret)
        with start_fn(env) as fn:
            assert fn.call(single(stack.vendor_token())).json()["active"] is True
    finally:
        stack.idp.jwks_requires_token = False


def test_backend_refreshes_ahead_of_expiry(stack: Seeded) -> None:
    """With 9 s tokens the advisory window opens 3 s before expiry: one call
    then refreshes while the token is still valid."""
    stack.idp.token_lifetime = 9
    try:
        with start_fn({**stack.exchange_env(), "OIC_BASE_URL": stack.oic.url}, BACKEND_DIR) as fn:
            start = stack.idp.requests[TOKEN_PATH]
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})["status"] == 200
            time.sleep(2)
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})["status"] == 200
            assert stack.idp.requests[TOKEN_PATH] - start == 1  # still fresh
            time.sleep(4.5)  # about 2.5 s left: advisory window
            seen = len(stack.oic.seen_tokens)
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})["status"] == 200
            assert stack.idp.requests[TOKEN_PATH] - start == 2  # refreshed ahead of expiry
            assert stack.oic.seen_tokens[seen] != stack.oic.seen_tokens[seen - 1]
    finally:
        stack.idp.token_lifetime = 3600
