"""The token-exchange backend (``oic-token-exchange``) through the real fdk
runtime, called as API Gateway calls an ORACLE_FUNCTIONS_BACKEND and as an
attacker who may invoke the function directly would; OIC is the local stub
(which checks the OIC token) or a misbehaving loopback peer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.fnrun import ROOT, FnProcess
from local.seed import APIGW_OTHER_SCOPE, USER, Seeded
from tests.conftest import start_fn
from tests.servers import Peer

pytestmark = pytest.mark.usefixtures("healthy")
TOKEN_PATH = "/oauth2/v1/token"
JWKS_PATH = "/admin/v1/SigningCert/jwk"
BACKEND_DIR = ROOT / "token_exchange"


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    server = Peer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def peer_reset(peer: Peer) -> None:
    peer.script.clear()
    peer.default = "ok"
    peer.received.clear()


def backend_env(stack: Seeded, **extra: str) -> dict[str, str]:
    """The backend verifies callers with the authorizer's settings, and exchanges with client credentials."""
    return {**stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url, **extra}


def user_env(stack: Seeded, **extra: str) -> dict[str, str]:
    """The same, with user assertions (identity propagation)."""
    return {**stack.authorizer_env(), **stack.jwt_bearer_env(), "OIC_BASE_URL": stack.oic.url, **extra}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


def gateway_call(fn: FnProcess, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    """Call the function as API Gateway's ORACLE_FUNCTIONS_BACKEND does."""
    call_id = uuid.uuid4().hex
    fn_headers = {
        "Fn-Call-Id": call_id,
        "Fn-Intent": "httprequest",
        "Fn-Http-Method": method,
        "Fn-Http-Request-Url": url,
        "Content-Type": headers.get("Content-Type", "application/octet-stream"),
        **{f"Fn-Http-H-{k}": v for k, v in headers.items() if k != "Content-Type"},
    }
    result = fn.call(body, headers=fn_headers)
    assert result.status == 200, result.body  # the transport status; the HTTP one is in Fn-Http-Status
    returned = {k[len("fn-http-h-"):]: v for k, v in result.headers.items() if k.startswith("fn-http-h-")}
    if "content-type" in result.headers:  # fdk sends it as itself, as the agent expects
        returned.setdefault("content-type", result.headers["content-type"])
    return {
        "status": int(result.headers.get("fn-http-status", "200")),
        "headers": returned,
        "body": result.body,
        "seconds": result.seconds,
        "call_id": call_id,
    }


def assert_error(reply: dict[str, Any], status: int, code: str) -> None:
    """Callers get exactly a code and the call id: no URL, setting name or IdP text."""
    assert reply["status"] == status, reply
    assert json.loads(reply["body"]) == {"error": code, "request_id": reply["call_id"]}


def log_line(fn: FnProcess, call_id: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
    mine = [line for line in lines if line.get("call_id") == call_id]
    assert len(mine) == 1, mine  # one line per call
    line: dict[str, Any] = mine[0]
    return line


def counts(stack: Seeded) -> tuple[int, int]:
    return stack.idp.requests[TOKEN_PATH], stack.idp.requests[JWKS_PATH]


@pytest.fixture(scope="module")
def backend(stack: Seeded) -> Iterator[FnProcess]:
    env = backend_env(stack, GATEWAY_PATH_PREFIX="/oic", FORWARD_REQUEST_HEADERS="X-Custom",
                      RETURN_RESPONSE_HEADERS="X-Oic-Trace")
    with start_fn(env, BACKEND_DIR) as fn:
        yield fn


@pytest.fixture(scope="module")
def user_backend(stack: Seeded) -> Iterator[FnProcess]:
    with start_fn(user_env(stack), BACKEND_DIR) as fn:
        yield fn


@pytest.fixture(scope="module")
def peer_backend(stack: Seeded, peer: Peer) -> Iterator[FnProcess]:
    """OIC is a misbehaving peer; the whole call may last 1 s."""
    env = backend_env(stack, OIC_BASE_URL=peer.url, OIC_TIMEOUT_SECONDS="1", FORWARD_REQUEST_HEADERS="X-Custom")
    with start_fn(env, BACKEND_DIR) as fn:
        yield fn


# -- forwarding ---------------------------------------------------------------------------


def test_forwards_and_returns_oic_answer(stack: Seeded, backend: FnProcess) -> None:
    client_token = stack.vendor_token()
    seen_before = len(stack.oic.seen_headers)
    reply = gateway_call(backend, "POST", "/oic/HELLO_WORLD/1.0/hello?lang=en", {
        **bearer(client_token), "Content-Type": "application/json", "X-Custom": "kept",
    }, b'{"name":"vendor"}')
    assert reply["status"] == 200
    answer = json.loads(reply["body"])
    assert answer["integration"] == "HELLO_WORLD" and answer["path"] == "/hello" and answer["query"] == "lang=en"
    assert answer["method"] == "POST" and answer["received_bytes"] == len(b'{"name":"vendor"}')
    assert answer["caller"] == "oic-client"
    assert reply["headers"].get("x-oic-trace") == "local"  # allow-listed by RETURN_RESPONSE_HEADERS
    seen = stack.oic.seen_headers[seen_before]
    assert client_token not in seen["authorization"]  # the client token never reaches OIC
    assert seen["x-custom"] == "kept" and seen["content-type"] == "application/json"
    line = log_line(backend, reply["call_id"])
    assert line["reason"] == "forwarded" and line["sub"] == "vendor-app" and len(line["token_hash"]) == 16


def test_caches_the_oic_token_and_the_verified_caller(stack: Seeded, backend: FnProcess) -> None:
    token = stack.vendor_token()
    gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", bearer(token))
    before = counts(stack)
    for _ in range(20):
        assert gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/x", bearer(token))["status"] == 200
    assert counts(stack) == before


def test_maps_bad_requests(stack: Seeded, backend: FnProcess) -> None:
    auth = bearer(stack.vendor_token())
    assert_error(gateway_call(backend, "GET", "/elsewhere/x", auth), 404, "no_route")
    assert_error(gateway_call(backend, "GET", "/oic/HELLO_WORLD/1.0/%2e%2e/%2e%2e/admin", auth), 400, "bad_path")
    big = b"x" * (6 * 1024 * 1024 + 1)
    reply = gateway_call(backend, "POST", "/oic/HELLO_WORLD/1.0/x", {**auth, "Content-Type": "text/plain"}, big)
    assert_error(reply, 413, "payload_too_large")


# -- zero trust: the caller's own token -------------------------------------------------------


@pytest.mark.parametrize("mode", ["client_credentials", "jwt_bearer"])
def test_no_verifiable_caller_token_is_refused_in_both_grant_modes(stack: Seeded, mode: str) -> None:
    env = backend_env(stack) if mode == "client_credentials" else user_env(stack)
    genuine = stack.user_token()
    head, payload, signature = genuine.split(".")
    now = int(time.time())
    cases = [
        ({}, 401, "missing_token", 'Bearer realm="oic"'),
        ({"X-Caller-Sub": USER}, 401, "missing_token", 'Bearer realm="oic"'),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401, "invalid_token", 'error="invalid_token"'),
        (bearer(f"{head}.{payload}.{signature[:-4]}AAAA"), 401, "invalid_token", 'error="invalid_token"'),
        (bearer(stack.user_token(iat=now - 7200, exp=now - 3600)), 401, "invalid_token", 'error="invalid_token"'),
        (bearer(stack.user_token(aud="https://elsewhere/")), 401, "invalid_token", 'error="invalid_token"'),
        (bearer(stack.vendor_token(APIGW_OTHER_SCOPE)), 403, "insufficient_scope", 'error="insufficient_scope"'),
    ]
    oic_before, (tokens_before, _) = sum(stack.oic.requests.values()), counts(stack)
    with start_fn(env, BACKEND_DIR) as fn:
        for headers, status, code, challenge in cases:
            reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", headers)
            assert_error(reply, status, code)
            assert challenge in reply["headers"]["www-authenticate"]
            if code == "missing_token":
                assert reply["headers"]["www-authenticate"] == challenge  # RFC 6750: no error code without a token
            assert log_line(fn, reply["call_id"])["detail"]  # the reason is in the log
    assert sum(stack.oic.requests.values()) == oic_before and counts(stack)[0] == tokens_before


def test_identity_by_header_alone_is_refused(stack: Seeded, user_backend: FnProcess) -> None:
    """The issue's attack: a direct invoker claims to be admin by header."""
    oic_before = len(stack.oic.seen_tokens)
    reply = gateway_call(user_backend, "GET", "/HELLO_WORLD/1.0/x", {"X-Caller-Sub": "admin@example.com"})
    assert_error(reply, 401, "missing_token")
    # A genuine token of someone else does not make the header true.
    reply = gateway_call(user_backend, "GET", "/HELLO_WORLD/1.0/x",
                         {**bearer(stack.vendor_token()), "X-Caller-Sub": USER})
    assert_error(reply, 403, "caller_mismatch")
    assert len(stack.oic.seen_tokens) == oic_before  # OIC never reached
    # The verified token decides, with or without a (matching) header.
    for headers in ({"X-Caller-Sub": USER}, {}):
        reply = gateway_call(user_backend, "GET", "/HELLO_WORLD/1.0/x", {**bearer(stack.user_token()), **headers})
        assert reply["status"] == 200 and json.loads(reply["body"])["caller"] == USER


def test_direct_invoke_without_gateway_framing_is_never_2xx(stack: Seeded, user_backend: FnProcess) -> None:
    for headers in ({}, bearer(stack.user_token()), {"X-Caller-Sub": USER}):
        result = user_backend.call(b"", headers=headers)  # no Fn-Intent: the HTTP headers are not the caller's
        assert result.status == 502 and json.loads(result.body)["error"] == "missing_token"


def test_subject_mapping_decides_the_oic_user(stack: Seeded) -> None:
    """OIC_SUBJECT_CLAIM=upn: the assertion names the mapped user, never the token's sub,
    even when that sub happens to be a domain user's name."""
    with start_fn(user_env(stack, OIC_SUBJECT_CLAIM="upn"), BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.user_token("oid-1234", upn=USER)))
        assert reply["status"] == 200 and json.loads(reply["body"])["caller"] == USER
        # sub is a real domain user, upn is not: the backend asserts upn, which the IdP refuses.
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.user_token(USER, upn="nobody@example.com")))
        assert_error(reply, 502, "token_unavailable")
        assert "invalid_grant" in log_line(fn, reply["call_id"])["detail"]
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.user_token(USER)))  # no upn at all
        assert_error(reply, 403, "insufficient_scope")
        assert log_line(fn, reply["call_id"])["detail"].startswith("unmapped_subject")


def test_access_policy_is_enforced_by_the_backend_too(stack: Seeded) -> None:
    policy = {"rules": [{"name": "hello", "path": "/HELLO_WORLD/*", "scopes": ["oic-invoke"]}]}
    with start_fn(backend_env(stack, ACCESS_POLICY=json.dumps(policy)), BACKEND_DIR) as fn:
        auth = bearer(stack.vendor_token())
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert reply["status"] == 200 and log_line(fn, reply["call_id"])["rule"] == "hello"
        before = sum(stack.oic.requests.values())
        reply = gateway_call(fn, "GET", "/ORDERS/1.0/x", auth)
        assert_error(reply, 403, "insufficient_scope")
        assert sum(stack.oic.requests.values()) == before


# Issue 17 §9, through fdk: each spelling is refused or decided by its restrictive rule, never by the catch-all.
ISSUE_17_ATTACKS = [
    ("POST", "/ORDERS/1.0/new/", 403, "insufficient_scope"),
    ("POST", "/ORDERS/01.00/new", 400, "bad_path"),
    ("POST", "/ORDERS/1.00.0000/new", 400, "bad_path"),
    ("POST", "/orders/1.0/new", 400, "bad_path"),
    ("POST", "/payroll/1.0/run", 400, "bad_path"),
    ("POST", "/project/hr/PAYROLL/1.0/run", 400, "bad_path"),
    ("HEAD", "/HELLO_WORLD/2.0/x", 403, "insufficient_scope"),
    ("GET", "/HELLO_WORLD/1.0/x?integrationInstance=other", 400, "bad_query"),
    ("GET", "/HELLO_WORLD/1.0/x?INTEGRATIONINSTANCE=other", 400, "bad_query"),
]


def test_issue_17_spellings_never_reach_the_catch_all(stack: Seeded) -> None:
    policy = {"rules": [{"name": "orders-new", "path": "/ORDERS/1.0/new", "client_ids": ["partner-app"]},
                        {"name": "payroll", "path": "/PAYROLL/*", "client_ids": ["hr-app"]},
                        {"name": "hr-payroll", "path": "/project/HR/PAYROLL/*", "client_ids": ["hr-app"]},
                        {"name": "read", "path": "/HELLO_WORLD/2.0/*", "methods": ["GET"], "client_ids": ["x-app"]},
                        {"name": "everyone", "path": "/*", "scopes": ["oic-invoke"]}]}
    with start_fn(backend_env(stack, ACCESS_POLICY=json.dumps(policy)), BACKEND_DIR) as fn:
        auth = bearer(stack.vendor_token())
        before = sum(stack.oic.requests.values())
        for method, url, status, code in ISSUE_17_ATTACKS:
            reply = gateway_call(fn, method, url, auth)
            assert (reply["status"], method, url) == (status, method, url)
            assert_error(reply, status, code)
            assert log_line(fn, reply["call_id"]).get("rule") in (None, "orders-new", "payroll", "hr-payroll", "read")
        assert sum(stack.oic.requests.values()) == before
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert reply["status"] == 200 and log_line(fn, reply["call_id"])["rule"] == "everyone"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "get", "GET /ic/api/integration/v1/integrations?"])
def test_methods_outside_the_allow_list_never_reach_oic(stack: Seeded, peer: Peer, peer_backend: FnProcess,
                                                        method: str) -> None:
    """A direct invoker picks Fn-Http-Method freely: TRACE would have OIC's web tier echo the
    request, the OIC token in its Authorization included; a space would rewrite the request line."""
    reply = gateway_call(peer_backend, method, "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
    assert_error(reply, 405, "method_not_allowed")
    assert peer.received == [] and b"authorization" not in reply["body"].lower()
    assert log_line(peer_backend, reply["call_id"])["reason"] == "method_not_allowed"


@pytest.mark.parametrize("value", ["\u20ac", "\U0001f600"])  # sent as UTF-8 bytes: fdk decodes them as UTF-8
def test_a_header_value_that_cannot_travel_is_a_400(stack: Seeded, peer: Peer, peer_backend: FnProcess,
                                                    value: str) -> None:
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", {**bearer(stack.vendor_token()),
                                                                     "Accept": value.encode().decode("latin-1")})
    assert_error(reply, 400, "bad_header")
    assert peer.received == [] and "accept" in log_line(peer_backend, reply["call_id"])["detail"]
    latin1 = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", {**bearer(stack.vendor_token()),
                                                                      "Accept": "caf\xe9"})
    assert latin1["status"] == 200


# -- the 401 retry --------------------------------------------------------------------------


def test_oic_auth_layer_401_gets_one_fresh_token_at_most_every_30_s(stack: Seeded, peer: Peer,
                                                                    peer_backend: FnProcess) -> None:
    auth = bearer(stack.vendor_token())
    assert gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
    tokens_before = counts(stack)[0]
    peer.received.clear()
    peer.script[:] = ["invalid_token"]
    reply = gateway_call(peer_backend, "POST", "/HELLO_WORLD/1.0/x", auth, b"order")
    assert reply["status"] == 200 and counts(stack)[0] == tokens_before + 1
    first, second = peer.received
    assert first["headers"]["authorization"] != second["headers"]["authorization"]
    # Rejected again at once: the token is not thrown away again, and nothing is replayed.
    peer.received.clear()
    peer.script[:] = ["invalid_token"]
    reply = gateway_call(peer_backend, "POST", "/HELLO_WORLD/1.0/x", auth, b"order")
    assert_error(reply, 502, "oic_rejected_token")
    assert len(peer.received) == 1 and counts(stack)[0] == tokens_before + 1
    assert "www-authenticate" not in reply["headers"]


def test_integration_401_passes_through_and_is_never_replayed(stack: Seeded, peer: Peer,
                                                              peer_backend: FnProcess) -> None:
    auth = bearer(stack.vendor_token())
    gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)
    tokens_before = counts(stack)[0]
    peer.received.clear()
    peer.script[:] = ["integration_401"]
    reply = gateway_call(peer_backend, "POST", "/HELLO_WORLD/1.0/x", auth, b"order")
    assert reply["status"] == 401 and json.loads(reply["body"]) == {"title": "the integration refused"}
    assert len(peer.received) == 1 and counts(stack)[0] == tokens_before
    line = log_line(peer_backend, reply["call_id"])
    assert line["reason"] == "oic_status" and line["oic_status"] == 401


# -- one deadline for the whole call ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trickle_headers", "trickle_body"])
def test_trickling_oic_gets_504_and_the_same_container_serves_the_next_call(
        stack: Seeded, peer: Peer, peer_backend: FnProcess, mode: str) -> None:
    auth = bearer(stack.vendor_token())
    peer.script[:] = [mode]  # one byte every 0.2 s: each read is quick, the answer never ends
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)
    assert_error(reply, 504, "timeout")
    assert reply["seconds"] < 5  # OIC_TIMEOUT_SECONDS=1 bounds it (the peer would trickle for minutes)
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)
    assert reply["status"] == 200 and json.loads(reply["body"])["message"] == "hello"


@pytest.mark.parametrize("mode", ["status:503", "trickle_headers", "trickle_body"])
def test_token_endpoint_keeps_its_own_budget(stack: Seeded, peer: Peer, mode: str) -> None:
    """OIC_TOKEN_TIMEOUT_SECONDS (1.5 s) bounds the token request inside the call's 25 s."""
    env = backend_env(stack, OIC_TOKEN_URL=peer.url + TOKEN_PATH)
    with start_fn(env, BACKEND_DIR) as fn:
        peer.default = mode
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
        assert_error(reply, 502, "token_unavailable")
        assert reply["seconds"] < 3.5  # 1.5 s budget (it took 4.7 s against a 503 before)
        assert "token_endpoint_unavailable" in log_line(fn, reply["call_id"])["detail"]
        assert "idp internal detail" not in fn.output()  # the IdP's error text is never repeated


@pytest.mark.parametrize("where", ["oic", "token_endpoint"])
def test_a_tls_handshake_that_trickles_is_cut_at_the_deadline(stack: Seeded, where: str) -> None:
    from tests.servers import SlowTlsPeer

    slow = SlowTlsPeer()
    try:
        env = (backend_env(stack, OIC_BASE_URL=slow.url, OIC_TIMEOUT_SECONDS="1") if where == "oic"
               else backend_env(stack, OIC_TOKEN_URL=slow.url + TOKEN_PATH))
        with start_fn(env, BACKEND_DIR) as fn:
            reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
            expected = (504, "timeout") if where == "oic" else (502, "token_unavailable")
            assert_error(reply, *expected)
            assert reply["seconds"] < 5  # 1 s (OIC) or 1.5 s (token endpoint); the peer would trickle for an hour
            assert slow.connections >= 1
    finally:
        slow.stop()


def test_a_token_endpoint_redirect_with_an_unreadable_port_is_token_unavailable(stack: Seeded, peer: Peer) -> None:
    with start_fn(backend_env(stack, OIC_TOKEN_URL=peer.url + TOKEN_PATH), BACKEND_DIR) as fn:
        peer.default = "location:http://{host}x/oauth2/v1/token"
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
        assert_error(reply, 502, "token_unavailable")  # not internal_error: a redirect is never prepared
        assert "HTTP 302" in log_line(fn, reply["call_id"])["detail"]


# -- headers and state ---------------------------------------------------------------------------


FORBIDDEN_TO_OIC = {
    "X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
    "Forwarded": "for=10.0.0.1", "X-Original-URL": "/ic/api/integration/v1/integrations",
    "X-HTTP-Method-Override": "DELETE", "Cookie": "OICSESSION=stolen", "X-Other": "not allow-listed",
}


def test_request_headers_pass_by_allow_list(stack: Seeded, peer: Peer, peer_backend: FnProcess) -> None:
    auth = bearer(stack.vendor_token())
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x",
                         {**auth, **FORBIDDEN_TO_OIC, "Accept": "application/json", "X-Custom": "yes"})
    assert reply["status"] == 200
    seen = peer.received[-1]["headers"]
    assert seen["accept"] == "application/json" and seen["x-custom"] == "yes"
    assert not {name.lower() for name in FORBIDDEN_TO_OIC} & set(seen)
    assert seen["authorization"] != auth["Authorization"]
    # A header named in Connection is hop-by-hop, even when allow-listed.
    gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", {**auth, "Connection": "X-Custom", "X-Custom": "yes"})
    assert "x-custom" not in peer.received[-1]["headers"]


def test_response_headers_pass_by_allow_list(stack: Seeded, peer: Peer, peer_backend: FnProcess) -> None:
    auth = bearer(stack.vendor_token())
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)
    assert reply["headers"]["content-type"] == "application/json"
    assert not {"server", "x-oracle-dms-ecid", "x-oic-trace"} & set(reply["headers"])
    peer.script[:] = ["redirect"]  # 302 with Location at the hidden OIC host
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", auth)
    assert reply["status"] == 302
    assert not {"location", "server", "x-oracle-dms-ecid"} & set(reply["headers"])
    assert peer.url.split("//")[1] not in json.dumps(reply["headers"])


@pytest.mark.parametrize("location", [
    "{url}/ic/home", "HTTP://{host}/ic/home", "http://127.0.0.1.:{port}/ic/home", "http://x@{host}/ic/home",
    "http://{host}./ic/home", "http://127.0.0.1:99999999/ic/home",  # ports requests cannot parse
    "//{host}/ic/home", "/ic/home", "ic/home", "http:/{host}/ic/home",
    "https://login.example/sso?redirect_uri=http%3A%2F%2F{host}%2Fic%2Fhome",
    "https://login.example/sso?redirect_uri={url}/ic/home",
    "https://other-name.integration.ocp.oraclecloud.com/x", "https://10.1.2.3/x", "/home",
])
def test_no_location_reveals_the_oic_host(stack: Seeded, peer: Peer, peer_backend: FnProcess, location: str) -> None:
    """Whatever the spelling (case, trailing dot, userinfo, a port nobody can parse, relative, or
    OIC's URL inside another host's redirect, as a login redirect carries it), the hidden host is
    not returned, and the 302 is OIC's answer (never a 502: a redirect is never followed, nor parsed)."""
    peer.script[:] = ["location:" + location]
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
    assert reply["status"] == 302 and "location" not in reply["headers"], reply


@pytest.mark.parametrize("location, rewritten", [
    ("{url}/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0/orders/7", "/HELLO_WORLD/1.0/orders/7"),
    ("https://other-name.integration.ocp.oraclecloud.com/ic/api/integration/v2/flows/rest/project/P/ORDERS/1.0/x",
     "/project/P/ORDERS/1.0/x"),
])
def test_a_location_into_an_integration_is_rewritten_to_the_gateway_path(
        stack: Seeded, peer: Peer, peer_backend: FnProcess, location: str, rewritten: str) -> None:
    """As a reverse proxy's ProxyPassReverse: a reference without a host, in the gateway's
    path space; the log says it was rewritten, never what it said."""
    peer.script[:] = ["location:" + location]
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
    assert reply["status"] == 302 and reply["headers"]["location"] == rewritten, reply
    line = log_line(peer_backend, reply["call_id"])
    assert line["location"] == "rewritten" and "orders/7" not in json.dumps(line) and "ORDERS" not in json.dumps(line)


def test_a_location_elsewhere_passes(stack: Seeded, peer: Peer, peer_backend: FnProcess) -> None:
    peer.script[:] = ["location:https://docs.example/moved"]
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
    assert reply["headers"]["location"] == "https://docs.example/moved"


def test_no_cookie_crosses_callers(stack: Seeded, peer: Peer, peer_backend: FnProcess) -> None:
    peer.script[:] = ["set_cookie"]
    reply = gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.user_token()))
    assert reply["status"] == 200 and "set-cookie" not in reply["headers"]
    gateway_call(peer_backend, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))  # the next caller
    assert "cookie" not in peer.received[-1]["headers"]


# -- errors for callers, reasons for operators ------------------------------------------------------


def test_errors_name_no_url_or_setting_and_the_log_says_why(stack: Seeded, peer: Peer) -> None:
    auth = bearer(stack.vendor_token())
    with start_fn(backend_env(stack, OIC_CLIENT_SECRET="wrong"), BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert_error(reply, 502, "token_unavailable")
        line = log_line(fn, reply["call_id"])
        assert line["reason"] == "token_unavailable" and "OIC_CLIENT_SECRET" in line["detail"]
        assert "wrong" not in fn.output()
    with start_fn({**backend_env(stack), "OIC_BASE_URL": ""}, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert_error(reply, 502, "configuration_error")
        assert "OIC_BASE_URL" in log_line(fn, reply["call_id"])["detail"]
    with start_fn(backend_env(stack, OIC_BASE_URL="http://127.0.0.1:9"), BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert_error(reply, 502, "oic_unreachable")
    with start_fn(backend_env(stack, OIC_BASE_URL=peer.url), BACKEND_DIR) as fn:
        peer.default = "status:503"
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)
        assert reply["status"] == 503  # OIC's own answer passes through, and the log says so
        assert log_line(fn, reply["call_id"])["reason"] == "oic_status"


def test_refreshes_ahead_of_expiry(stack: Seeded) -> None:
    """With 9 s tokens the advisory window opens 3 s before expiry: one call
    then refreshes while the token is still valid."""
    auth = bearer(stack.vendor_token())
    stack.idp.token_lifetime = 9
    try:
        with start_fn(backend_env(stack), BACKEND_DIR) as fn:
            start = stack.idp.requests[TOKEN_PATH]
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
            time.sleep(2)
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
            assert stack.idp.requests[TOKEN_PATH] - start == 1  # still fresh
            time.sleep(4.5)  # about 2.5 s left: advisory window
            seen = len(stack.oic.seen_tokens)
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
            assert stack.idp.requests[TOKEN_PATH] - start == 2  # refreshed ahead of expiry
            assert stack.oic.seen_tokens[seen] != stack.oic.seen_tokens[seen - 1]
    finally:
        stack.idp.token_lifetime = 3600


# -- the same through the local gateway and the shipped specification -----------------------------


@pytest.fixture(scope="module")
def gateways(stack: Seeded, peer: Peer) -> Iterator[dict[str, str]]:
    """deploy/apigw-function-backend.json twice: to the OIC stub with user assertions and
    OIC_SUBJECT_CLAIM=upn on both functions, and to the misbehaving peer."""
    from local.gateway import LocalGateway
    from local.stack import BACKEND_SPEC, load_spec

    validate_only = {"REQUIRED_SCOPES": ""}  # the route's ANY_OF checks the scope
    functions = {
        "authz-mapped": start_fn(stack.authorizer_env(**validate_only, OIC_SUBJECT_CLAIM="upn")),
        "authz": start_fn(stack.authorizer_env(**validate_only)),
        "to-stub": start_fn(user_env(stack, OIC_SUBJECT_CLAIM="upn", GATEWAY_PATH_PREFIX="/fn"), BACKEND_DIR),
        "to-peer": start_fn(backend_env(stack, OIC_BASE_URL=peer.url, OIC_TIMEOUT_SECONDS="1",
                                        GATEWAY_PATH_PREFIX="/fn"), BACKEND_DIR),
    }
    spec = load_spec(BACKEND_SPEC)
    started = {
        name: LocalGateway(spec, path_prefix="/fn", functions={
            "<authorizer-function-ocid>": str(functions[authz].socket_path),
            "<token-exchange-function-ocid>": str(functions[backend].socket_path),
        }).start()
        for name, authz, backend in (("stub", "authz-mapped", "to-stub"), ("peer", "authz", "to-peer"))
    }
    try:
        yield {name: gateway.url for name, gateway in started.items()}
    finally:
        for gateway in started.values():
            gateway.stop()
        for fn in functions.values():
            fn.stop()


def test_gateway_route_passes_the_token_and_the_mapped_subject(stack: Seeded, gateways: dict[str, str]) -> None:
    import requests

    token = stack.user_token("oid-1234", upn=USER)  # an Entra-like principal, mapped by upn
    reply = requests.get(gateways["stub"] + "/HELLO_WORLD/1.0/hello", timeout=30,
                         headers={**bearer(token), "X-Caller-Sub": "admin@example.com"})  # overwritten by the route
    assert reply.status_code == 200 and reply.json()["caller"] == USER and reply.json()["caller_type"] == "user"
    reply = requests.get(gateways["stub"] + "/HELLO_WORLD/1.0/hello", timeout=30)
    assert reply.status_code == 401


def test_gateway_in_front_of_a_misbehaving_oic(stack: Seeded, peer: Peer, gateways: dict[str, str]) -> None:
    import requests

    url = gateways["peer"] + "/HELLO_WORLD/1.0/hello"
    auth = bearer(stack.vendor_token())
    assert requests.get(url, headers={**auth, **FORBIDDEN_TO_OIC}, timeout=30).status_code == 200
    assert not {name.lower() for name in FORBIDDEN_TO_OIC} & set(peer.received[-1]["headers"])
    peer.script[:] = ["trickle_headers"]
    reply = requests.get(url, headers=auth, timeout=30)
    assert reply.status_code == 504 and set(reply.json()) == {"error", "request_id"}
    assert requests.get(url, headers=auth, timeout=30).status_code == 200  # the same container, next call
    peer.script[:] = ["redirect"]
    reply = requests.get(url, headers=auth, timeout=30, allow_redirects=False)
    assert reply.status_code == 302 and "Location" not in reply.headers
    assert not any(name.lower().startswith("x-oracle") for name in reply.headers)
    assert "Oracle-HTTP-Server" not in reply.headers.get("Server", "")
    peer.script[:] = ["set_cookie"]
    assert "Set-Cookie" not in requests.get(url, headers=auth, timeout=30).headers
    requests.get(url, headers=bearer(stack.user_token()), timeout=30)
    assert "cookie" not in peer.received[-1]["headers"]
    peer.received.clear()
    peer.script[:] = ["integration_401"]
    assert requests.post(url, headers=auth, data=b"order", timeout=30).status_code == 401
    assert len(peer.received) == 1  # never replayed


@pytest.mark.parametrize("spec_name", ["apigw-authorizer-context.json", "apigw-access-policy.json"])
def test_authorizer_context_routes_filter_headers_both_ways(stack: Seeded, peer: Peer, spec_name: str) -> None:
    """There the gateway itself calls OIC: the shipped route's header policies must keep the same
    allow-lists as the backend, or OIC's cookie, host and server reach callers and theirs reach OIC
    (except the protected headers, which no OCI filter removes)."""
    import requests

    from local.gateway import LocalGateway
    from local.stack import LOCAL_ACCESS_POLICY, load_spec

    env = {**stack.authorizer_env(), **stack.exchange_env(), "ACCESS_POLICY": LOCAL_ACCESS_POLICY,
           "GATEWAY_INTEGRATIONS": (ROOT / "deploy" / "integrations.json").read_text()}
    with start_fn(env) as fn:
        gateway = LocalGateway(load_spec(ROOT / "deploy" / spec_name), path_prefix="/ctx",
                               functions={"<authorizer-context-function-ocid>": str(fn.socket_path)},
                               url_rewrites={"https://<oic-host>": peer.url}).start()
        try:
            url = gateway.url + "/HELLO_WORLD/1.0/hello"
            auth = bearer(stack.vendor_token())
            reply = requests.get(url, headers={**auth, **FORBIDDEN_TO_OIC, "Accept": "application/json"}, timeout=30)
            assert reply.status_code == 200
            seen = peer.received[-1]["headers"]
            # Cookie and X-Forwarded-For are protected request headers: OCI's filters cannot remove
            # them, so on this topology they reach OIC (docs/oci-fidelity.md). Every other one is filtered.
            protected = {"cookie", "x-forwarded-for"}
            assert protected <= set(seen), seen
            assert not ({name.lower() for name in FORBIDDEN_TO_OIC} - protected) & set(seen), seen
            assert seen["accept"] == "application/json" and seen["authorization"] != auth["Authorization"]
            assert "Server" not in reply.headers or "Oracle" not in reply.headers["Server"]
            assert not any(name.lower().startswith("x-oracle") for name in reply.headers)
            peer.script[:] = ["set_cookie"]
            assert "Set-Cookie" not in requests.get(url, headers=auth, timeout=30).headers
            peer.script[:] = ["redirect"]
            reply = requests.get(url, headers=auth, timeout=30, allow_redirects=False)
            assert reply.status_code == 302 and "Location" not in reply.headers
            assert peer.url.split("//")[1] not in json.dumps(dict(reply.headers))
        finally:
            gateway.stop()


def test_fdk_debug_never_logs_the_callers_token(stack: Seeded) -> None:
    """fdk's debug lines carry request headers; the image's sitecustomize keeps fdk quiet
    from interpreter start, so even the first call (before func.py is imported) logs no token."""
    with start_fn(backend_env(stack, FDK_DEBUG="1"), BACKEND_DIR) as fn:
        tokens = [stack.vendor_token(), stack.vendor_token()]
        for token in tokens:
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(token))["status"] == 200
        output = fn.output()
    assert "FDK_DEBUG ignored" in output
    assert not any(token in output or token.split(".")[2] in output for token in tokens)
    assert "request headers" not in output  # fdk's own debug line never appears


def test_every_wrong_key_in_one_log_line() -> None:
    """The forwarder's, the exchange's and the caller verifier's keys are read
    in full: one log line names every wrong key, so one redeploy fixes them."""
    env = {"OIC_BASE_URL": "", "OIC_GRANT_TYPE": "password", "CLOCK_SKEW_SECONDS": "abc"}
    with start_fn(env, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", {})
        assert_error(reply, 502, "configuration_error")
        detail = log_line(fn, reply["call_id"])["detail"]
    for key in ("OIC_BASE_URL", "OIC_TOKEN_URL", "OIC_CLIENT_ID", "OIC_SCOPE", "OIC_GRANT_TYPE", "IDCS_DOMAIN_URL",
                "TOKEN_AUDIENCES", "CLOCK_SKEW_SECONDS"):
        assert f"configuration {key}:" in detail, (key, detail)
