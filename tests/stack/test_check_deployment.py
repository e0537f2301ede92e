"""`make check-deployment` (python -m ops check_deployment) against the local stack:
one stack for the module, each case a real call through the local gateway."""

from __future__ import annotations

import copy
import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.fnrun import ROOT, FnProcess
from local.gateway import LocalGateway
from local.idp import App
from local.seed import APIGW_AUDIENCE, APIGW_OTHER_SCOPE, APIGW_SCOPE, VENDOR_ID
from local.stack import BACKEND_SPEC, CONTEXT_SPEC, VENDOR_B_ID, Stack, load_spec, start_stack
from ops.check_deployment import challenge_params, explain_challenge, main
from tests.conftest import FUNCTION_OUTPUT
from tests.servers import Peer
from tests.tokens import SENSITIVE, Signer, idcs_claims, leaked, remember

HELLO = "/HELLO_WORLD/1.0/hello"


@dataclass
class Chain:
    stack: Stack
    slow_ctx: LocalGateway  # /ctx with a 1 s read timeout
    dead_ctx: LocalGateway  # /ctx whose OIC host refuses connections
    peer_fn: LocalGateway  # /fn whose backend function calls a Peer as OIC, with a 1 s budget
    peer: Peer


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    stack = start_stack()
    peer = Peer()
    extra: list[LocalGateway] = []
    fn: FnProcess | None = None
    try:
        seeded = stack.seeded
        fn = FnProcess(ROOT / "token_exchange", {
            **seeded.authorizer_env(), **seeded.exchange_env(), "OIC_BASE_URL": peer.url,
            "GATEWAY_PATH_PREFIX": "/fn", "OIC_TIMEOUT_SECONDS": "1"}, FUNCTION_OUTPUT).start()
        sockets = {"<authorizer-context-function-ocid>": str(stack.functions["authorizer-context"].socket_path),
                   "<authorizer-function-ocid>": str(stack.functions["authorizer"].socket_path),
                   "<token-exchange-function-ocid>": str(fn.socket_path)}
        slow_spec = copy.deepcopy(load_spec(CONTEXT_SPEC))
        for route in slow_spec["routes"]:
            route["backend"]["readTimeoutInSeconds"] = 1
        slow = LocalGateway(slow_spec, functions=sockets, path_prefix="/ctx",
                            url_rewrites={"https://<oic-host>": seeded.oic.url}).start()
        extra.append(slow)
        dead = LocalGateway(load_spec(CONTEXT_SPEC), functions=sockets, path_prefix="/ctx",
                            url_rewrites={"https://<oic-host>": closed_port_url()}).start()
        extra.append(dead)
        peer_fn = LocalGateway(load_spec(BACKEND_SPEC), functions=sockets, path_prefix="/fn").start()
        extra.append(peer_fn)
        SENSITIVE.update({seeded.vendor_secret, seeded.oic_client_secret})
        yield Chain(stack, slow, dead, peer_fn, peer)
    finally:
        for gateway in extra:
            gateway.stop()
        if fn is not None:
            fn.stop()
        peer.stop()
        stack.stop()


def check(url: str, env: dict[str, str] | None = None, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main([url, "--timeout", "10", *args], env or {}, io.StringIO(), out)
    text = out.getvalue()
    assert not leaked(text), leaked(text)
    return status, text


def token_env(token: str) -> dict[str, str]:
    return {"TOKEN": remember(token)}


def vendor(chain: Chain, scope: str = APIGW_SCOPE, **extra: Any) -> dict[str, str]:
    idp = chain.stack.seeded.idp
    return token_env(idp.mint(idp.apps[VENDOR_ID], None, APIGW_AUDIENCE + scope, **extra))


def test_a_healthy_call_by_client_credentials(chain: Chain) -> None:
    seeded = chain.stack.seeded
    env = {"CLIENT_ID": VENDOR_ID, "CLIENT_SECRET": seeded.vendor_secret, "TOKEN_URL": seeded.idp.token_url,
           "SCOPE": APIGW_AUDIENCE + APIGW_SCOPE}
    before = len(seeded.idp.issued)
    status, text = check(chain.stack.context_url + HELLO, env)
    assert status == 0, text
    remember(seeded.idp.issued[before])  # the token the check obtained: never printed
    assert not leaked(text)
    assert f"token: client credentials from {seeded.idp.token_url} as {VENDOR_ID}" in text
    assert "hop: OIC answered 200" in text and "OK healthy" in text
    assert "opc-request-id: " in text and "where data.opcRequestId = '" in text


def test_a_healthy_call_through_the_function_backend_with_a_given_token(chain: Chain) -> None:
    status, text = check(chain.stack.backend_url + HELLO, vendor(chain))
    assert status == 0, text
    assert "token: given (TOKEN): client_id=vendor-app" in text and "hop: OIC answered 200" in text


@pytest.mark.parametrize(("kind", "meaning"), [
    ("expired", "the token has expired"),
    ("wrong-audience", "another audience"),
    ("missing-scope", "lacks the required scope (missing scope)"),
    ("unknown-key", "a key the authorizer does not know (unknown key)"),
])
def test_each_authorizer_denial_is_explained(chain: Chain, kind: str, meaning: str) -> None:
    now = int(time.time())
    url = chain.stack.context_url + HELLO
    if kind == "expired":
        env = vendor(chain, iat=now - 7200, exp=now - 3600)
    elif kind == "wrong-audience":
        env = vendor(chain, aud=["https://elsewhere.example/"])
    elif kind == "missing-scope":
        env = vendor(chain, APIGW_OTHER_SCOPE)
    elif kind == "unknown-key":
        env = token_env(Signer.generate("NOT-THE-DOMAINS").mint(
            idcs_claims(aud=[APIGW_AUDIENCE], scope=APIGW_SCOPE)))
    else:
        raise AssertionError(kind)
    status, text = check(url, env)
    assert status == 1, text
    assert "hop: the authorizer denied the call; the gateway answered 401" in text, text
    assert meaning in text, text
    assert "FAIL authorizer" in text and "verdict" in text  # the log search for the deny line


def test_no_token(chain: Chain) -> None:
    status, text = check(chain.stack.context_url + HELLO)
    assert status == 1
    assert "token: none" in text and "hop: the authorizer denied the call; the gateway answered 401" in text
    assert "no token was sent" in text and "send Authorization: Bearer <token>" in text


def test_403_route_scope_and_usage_plan(chain: Chain) -> None:
    # The validate-only /fn authorizer leaves scopes to the route: ANY_OF refuses read-only.
    status, text = check(chain.stack.backend_url + HELLO, vendor(chain, APIGW_OTHER_SCOPE))
    assert status == 1
    assert "hop: the gateway itself answered 403" in text
    assert "  1. the route's ANY_OF allowedScope matches none" in text and "  3. usage plans" in text
    # /acl: the authorizer grants oic:<INTEGRATION>/<VERSION> scopes; no rule grants ORDERS.
    status, text = check(chain.stack.policy_url + "/ORDERS/1.0/orders", vendor(chain))
    assert status == 1 and "hop: the gateway itself answered 403" in text
    assert "2. with an access policy" in text and "this token does not grant this integration" in text
    idp = chain.stack.seeded.idp
    stranger = token_env(idp.mint(App("stranger-app", name="S"), None, APIGW_AUDIENCE + APIGW_SCOPE))
    status, text = check(chain.stack.plans_url + HELLO, stranger)
    assert status == 1 and "hop: the gateway itself answered 403" in text


def test_404_no_route(chain: Chain) -> None:
    status, text = check(chain.stack.context_url + "/NOT_DEPLOYED/1.0/x", vendor(chain))
    assert status == 1
    assert "hop: the gateway itself answered 404" in text and "no route of the deployment matches" in text


def test_429_usage_plan_with_retry_after(chain: Chain) -> None:
    idp = chain.stack.seeded.idp
    env = token_env(idp.mint(App(VENDOR_B_ID, name="Vendor B"), None, APIGW_AUDIENCE + APIGW_SCOPE))
    results = [check(chain.stack.plans_url + HELLO, env) for _ in range(3)]
    assert [status for status, _ in results[:2]] == [0, 0]
    status, text = results[2]
    assert status == 1
    assert "hop: the gateway itself answered 429" in text and "Retry-After: " in text
    assert "1. the vendor's usage plan: its rate limit" in text and "its quota for the period is spent" in text


def test_502_from_the_gateway_lists_causes_in_order(chain: Chain) -> None:
    status, text = check(chain.dead_ctx.url + HELLO, vendor(chain))
    assert status == 1
    assert "hop: the gateway itself answered 502" in text
    causes = [line for line in text.splitlines() if line.startswith("  ") and ". " in line[:6]]
    assert causes[0].startswith("  1. the authorizer cannot decide: its keys are unavailable"), causes
    assert "2. the backend function failed" in causes[1] and "3. OIC is unreachable" in causes[2]
    assert '"level":"ERROR"' in text


def test_502_and_504_from_the_backend_function(chain: Chain) -> None:
    chain.peer.default = "invalid_token"
    try:
        status, text = check(chain.peer_fn.url + HELLO, vendor(chain))
    finally:
        chain.peer.default = "ok"
    assert status == 1
    assert "hop: the backend function (token exchange) answered 502" in text
    assert "OIC's auth layer refused a fresh OIC token (error=oic_rejected_token)" in text
    assert "the function's log, its call_id" in text
    chain.peer.default, chain.peer.trickle_seconds = "trickle_headers", 0.3
    try:
        status, text = check(chain.peer_fn.url + HELLO, vendor(chain))
    finally:
        chain.peer.default = "ok"
    assert status == 1
    assert "hop: the backend function (token exchange) answered 504" in text
    assert "1. OIC did not answer within OIC_TIMEOUT_SECONDS" in text


def test_504_from_the_gateway(chain: Chain) -> None:
    oic = chain.stack.seeded.oic
    oic.fault = "hang:2"
    try:
        status, text = check(chain.slow_ctx.url + HELLO, vendor(chain))
    finally:
        oic.fault = None
    assert status == 1
    assert "hop: the gateway itself answered 504" in text
    assert "1. OIC did not answer within the route's readTimeoutInSeconds" in text


def test_usage_errors_and_the_secret_stays_in_the_environment() -> None:
    assert main(["not-a-url"], {}, io.StringIO(), io.StringIO()) == 2
    assert main(["https://h/p", "--client-secret", "x"], {}, io.StringIO(), io.StringIO()) == 2
    assert main(["https://h/p"], {"CLIENT_ID": "a"}, io.StringIO(), io.StringIO()) == 2


def test_the_access_policy_and_path_denials_read_from_the_challenge() -> None:
    meaning, _ = explain_challenge('Bearer realm="oic", error="insufficient_scope", '
                                   'error_description="this token does not grant this integration"')
    assert meaning.startswith("the token is valid, but no access rule lets it call this integration")
    meaning, fixes = explain_challenge('Bearer realm="oic", error="invalid_request", '
                                       'error_description="the integration identifier is not in upper case"')
    assert "(path refused)" in meaning and "upper-case" in fixes[0]


def test_challenge_params() -> None:
    assert challenge_params('Bearer realm="oic", error="invalid_token", error_description="token expired"') == {
        "realm": "oic", "error": "invalid_token", "error_description": "token expired"}
