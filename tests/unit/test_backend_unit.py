"""The backend's forwarder, fast: its own code path by path, with real HTTP
peers on 127.0.0.1 (JWKS, token endpoint, a scripted OIC) and no fdk process.
(The function through fdk, against the seeded stack, is in test_backend_fn.)"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from local.loopback import QuietHandler, http_server
from oic_gateway.access.paths import IntegrationPath
from oic_gateway.caller import Caller, CallerVerifier
from oic_gateway.errors import BadPath, ConfigError, TokenEndpointError, TokenEndpointThrottled
from oic_gateway.forwarding.forwarder import (
    DEFAULT_OIC_PATH_PREFIX,
    FORWARDED_HEADERS,
    MAX_PAYLOAD_BYTES,
    RETURNED_HEADERS,
    BackendConfig,
    BackendResponse,
    GatewayRequest,
    OicForwarder,
)
from oic_gateway.net import deadline
from oic_gateway.net.deadline import MARGIN_SECONDS
from oic_gateway.oic_tokens.config import ExchangeConfig
from oic_gateway.oic_tokens.exchanger import ExchangedToken, TokenExchanger
from tests.fakeclock import FakeClock
from tests.servers import JwksServer, Peer, record_request, send_half
from tests.tokens import SCOPE, Signer, authorizer_env
from tests.unit.test_location import GEN2

SIGNER = Signer.generate("k1")
REST = DEFAULT_OIC_PATH_PREFIX


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"message":"hello"}'
    hang: bool = False
    truncate: bool = False  # promise the whole body, send half, close
    stall: bool = False  # promise the whole body, send half, then wait


class ScriptedOic:
    """OIC on loopback: each request takes the next scripted reply (then ``default``)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply()
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()
        outer = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                outer.received.append(record_request(self))
                reply = outer.script.pop(0) if outer.script else outer.default
                if reply.stall or reply.truncate:
                    send_half(self, reply.status, reply.body)
                    if reply.stall:
                        outer.release.wait(5)
                    else:
                        self.connection.shutdown(2)
                    return
                if reply.hang:
                    outer.release.wait(5)
                    self.close_connection = True
                    return
                with contextlib.suppress(OSError):  # the client gave up first
                    self.send_body(reply.status, reply.body, reply.headers.get("Content-Type", "application/json"),
                                   {k: v for k, v in reply.headers.items() if k != "Content-Type"})

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

        self._server = http_server(Handler).start("scripted-oic")
        self.url = self._server.base_url

    def stop(self) -> None:
        self.release.set()
        self._server.stop()


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[JwksServer, Peer, ScriptedOic]]:
    jwks = JwksServer([SIGNER.jwk()]).start()
    token_endpoint = Peer()
    oic = ScriptedOic()
    yield jwks, token_endpoint, oic
    jwks.stop()
    token_endpoint.stop()
    oic.stop()


@pytest.fixture(autouse=True)
def reset(peers) -> None:
    _, token_endpoint, oic = peers
    token_endpoint.script.clear()
    token_endpoint.default = "token"
    token_endpoint.received.clear()
    oic.script.clear()
    oic.default = Reply()
    oic.received.clear()


def environment(peers, **extra: str) -> dict[str, str]:
    jwks, token_endpoint, oic = peers
    return {**authorizer_env(jwks.url), "OIC_TOKEN_URL": token_endpoint.url + "/oauth2/v1/token",
            "OIC_CLIENT_ID": "oic-app", "OIC_CLIENT_SECRET": "secret", "OIC_SCOPE": "urn:oic:all",
            "OIC_BASE_URL": oic.url, "GATEWAY_PATH_PREFIX": "/oic", **extra}


def forwarder(peers, *, session: requests.Session | None = None, callers: CallerVerifier | None = None,
              exchanger: TokenExchanger | None = None, monotonic: Callable[[], float] = time.monotonic,
              clock: Callable[[], float] = time.time, **extra: str) -> OicForwarder:
    env = environment(peers, **extra)
    return OicForwarder(BackendConfig.from_env(env), exchanger or TokenExchanger.from_env(env),
                        callers or CallerVerifier.from_env(env), session=session, monotonic=monotonic, clock=clock)


def warmed(peers) -> OicForwarder:
    """A forwarder that has verified a caller and fetched a token once: a short
    budget after this is spent on OIC alone."""
    fwd = forwarder(peers)
    assert call(fwd).status == 200
    _, token_endpoint, oic = peers
    token_endpoint.received.clear()
    oic.received.clear()
    return fwd


def call(fwd: OicForwarder, url: str = "/oic/HELLO/1.0/hi", method: str = "GET", body: bytes = b"",
         token: str | None = None, budget: float = 10.0, **headers: str | list[str]) -> BackendResponse:
    sent: dict[str, str | list[str]] = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is None:
        token = SIGNER.mint()
    if token:
        sent.setdefault("authorization", "Bearer " + token)
    return fwd.forward(GatewayRequest(method, url, sent, body), time.monotonic() + budget)


def call_at(fwd: OicForwarder, deadline_at: float, url: str = "/oic/HELLO/1.0/hi", method: str = "GET",
            body: bytes = b"", **headers: str | list[str]) -> BackendResponse:
    """As ``call``, with the deadline given on the forwarder's own clock."""
    sent: dict[str, str | list[str]] = {k.replace("_", "-"): v for k, v in headers.items()}
    sent.setdefault("authorization", "Bearer " + SIGNER.mint())
    return fwd.forward(GatewayRequest(method, url, sent, body), deadline_at)


class ScriptedSession(requests.Session):
    """OIC as a session: each request takes the next answer (a ``requests.Response``
    or an exception to raise) and records the timeouts it was given."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        super().__init__()
        self.answers = list(answers)
        self.timeouts: list[tuple[float, float]] = []
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs["timeout"])
        self.sent.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def error(result: BackendResponse) -> tuple[int, str | None]:
    return result.status, result.error


# -- a call that goes through ----------------------------------------------------------


def test_forwards_to_oic_with_an_oic_token_and_returns_the_answer(peers):
    _, token_endpoint, oic = peers
    oic.default = Reply(201, {"Content-Type": "application/json", "ETag": '"v1"', "Server": "Oracle-HTTP-Server",
                              "X-Oracle-Dms-Ecid": "e1", "X-Oic-Trace": "t", "Set-Cookie": "S=1"}, b'{"ok":1}')
    result = call(forwarder(peers), "/oic/HELLO/1.0/hi?x=1&y=2", "POST", b'{"in":1}',
                  accept="application/json", content_type="application/json", cookie="c=1",
                  x_forwarded_for="1.2.3.4", fn_call_id="abc", x_caller_sub="", x_custom="y")
    assert (result.status, result.body, result.error) == (201, b'{"ok":1}', None)
    assert result.headers == {"Content-Type": "application/json", "ETag": '"v1"'}
    seen = oic.received[0]
    assert seen["method"] == "POST" and seen["path"] == f"{REST}/HELLO/1.0/hi?x=1&y=2" and seen["body"] == b'{"in":1}'
    assert seen["headers"]["authorization"] == "Bearer peer." + "a" * 20 + ".sig"
    assert seen["headers"]["accept"] == "application/json" and seen["headers"]["content-type"] == "application/json"
    for dropped in ("cookie", "x-forwarded-for", "fn-call-id", "x-caller-sub", "x-custom"):
        assert dropped not in seen["headers"]
    assert result.log["sub"] == "vendor-app" and result.log["client_id"] == "vendor-app"
    assert result.log["jti"] and len(result.log["token_hash"]) == 16
    assert result.log["attempts"] == 1 and result.log["oic_status"] == 201 and result.log["rule"] is None
    assert result.log["oic_subject"] is None  # client credentials: no user is named to OIC
    assert len(token_endpoint.received) == 1


def test_the_oic_token_is_cached_between_calls(peers):
    _, token_endpoint, _ = peers
    fwd = forwarder(peers)
    for _ in range(3):
        assert call(fwd).status == 200
    assert len(token_endpoint.received) == 1


def test_an_empty_body_is_sent_as_none_and_a_full_url_is_accepted(peers):
    _, _, oic = peers
    assert call(forwarder(peers), "https://gw.example.com/oic/HELLO/1.0/hi?q=1", "DELETE").status == 200
    assert oic.received[0]["path"] == f"{REST}/HELLO/1.0/hi?q=1" and oic.received[0]["body"] == b""
    assert "content-length" not in oic.received[0]["headers"] or oic.received[0]["headers"]["content-length"] == "0"


def test_payload_limit_is_exact(peers):
    _, _, oic = peers
    fwd = forwarder(peers)
    assert call(fwd, method="POST", body=b"x" * MAX_PAYLOAD_BYTES).status == 200
    assert len(oic.received[0]["body"]) == MAX_PAYLOAD_BYTES == 6 * 1024 * 1024
    assert error(call(fwd, method="POST", body=b"x" * (MAX_PAYLOAD_BYTES + 1))) == (413, "payload_too_large")
    assert len(oic.received) == 1


def test_answer_size_limit_is_exact(peers):
    _, _, oic = peers
    fwd = forwarder(peers)
    oic.default = Reply(200, {}, b"y" * MAX_PAYLOAD_BYTES)
    assert len(call(fwd).body) == MAX_PAYLOAD_BYTES
    oic.default = Reply(200, {}, b"y" * (MAX_PAYLOAD_BYTES + 1))
    assert error(call(fwd)) == (502, "response_too_large")


# -- the caller ----------------------------------------------------------------------------


def test_callers_without_a_valid_token_are_refused_with_a_challenge(peers):
    _, _, oic = peers
    fwd = forwarder(peers)
    missing = call(fwd, token="")
    assert error(missing) == (401, "missing_token") and missing.headers["WWW-Authenticate"] == 'Bearer realm="oic"'
    forged = call(fwd, token=Signer.generate("k1").mint())
    assert error(forged) == (401, "invalid_token") and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    narrow = call(fwd, token=SIGNER.mint(scope="other.scope"))
    assert error(narrow) == (403, "insufficient_scope")
    assert f'scope="{SCOPE}"' in narrow.headers["WWW-Authenticate"]
    assert oic.received == []


def test_no_usable_signing_key_is_a_502_not_a_refusal(peers):
    result = call(forwarder(peers, JWKS_URL="http://127.0.0.1:9/jwk"))
    assert error(result) == (502, "cannot_verify_caller") and "keys_unavailable" in (result.detail or "")


def test_a_caller_subject_header_must_name_the_verified_caller(peers):
    fwd = forwarder(peers)
    assert error(call(fwd, x_caller_sub="mallory")) == (403, "caller_mismatch")
    assert call(fwd, x_caller_sub="vendor-app").status == 200
    assert call(fwd, x_caller_sub=["mallory", "vendor-app"]).status == 200  # the last one counts
    assert call(fwd, x_caller_sub=["mallory", "mallory", "vendor-app"]).status == 200
    assert error(call(fwd, x_caller_sub=["vendor-app", "vendor-app", "mallory"])) == (403, "caller_mismatch")
    custom = forwarder(peers, CALLER_SUB_HEADER="X-Who")
    assert error(call(custom, x_who="mallory")) == (403, "caller_mismatch")
    assert call(custom, x_caller_sub="mallory").status == 200  # not the configured header: dropped, unbelieved


# -- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["//evil.example/oic/HELLO/1.0/x", "/oic/HELLO/1.0/x#f", "/oic/HELLO/1.0/x#",
                                 "/oic/A/../B", "/oic/A/%2e%2e/B", "/oic/./A", "/oic/A\\..\\B", "/oic/A%5c..",
                                 "/oic/A%00", "/oic/A/.."])
def test_traversal_is_refused(peers, url):
    assert error(call(forwarder(peers), url)) == (400, "bad_path")


@pytest.mark.parametrize("url", ["/other/A", "/oicx/A", "/", "/OIC/A"])
def test_paths_outside_the_gateway_prefix_have_no_route(peers, url):
    assert error(call(forwarder(peers), url)) == (404, "no_route")


def test_prefix_mapping(peers):
    _, _, oic = peers
    assert call(forwarder(peers), "/oic/HELLO/1.0").status == 200
    assert call(forwarder(peers), "/oic/HELLO/1.0/").status == 200
    no_prefix = forwarder(peers, GATEWAY_PATH_PREFIX="", OIC_PATH_PREFIX="/custom/")
    assert call(no_prefix, "/A/1.0/b").status == 200
    assert error(call(forwarder(peers), "/oic")) == (400, "bad_path")  # no integration named
    assert [r["path"] for r in oic.received] == [f"{REST}/HELLO/1.0", f"{REST}/HELLO/1.0/", "/custom/A/1.0/b"]


PROJECT_REST = "/ic/api/integration/v2/flows/rest/project"


def test_project_paths_map_to_the_oic3_project_prefix(peers):
    _, _, oic = peers
    assert call(forwarder(peers), "/oic/project/SALES/ORDERS/1.0/new?x=1").status == 200
    assert call(forwarder(peers), "/oic/ORDERS/1.0/new").status == 200
    v1 = forwarder(peers, OIC_PROJECT_PATH_PREFIX="/ic/api/integration/v1/flows/rest/project/")
    assert call(v1, "/oic/project/SALES/ORDERS/1.0").status == 200
    assert [r["path"] for r in oic.received] == [
        f"{PROJECT_REST}/SALES/ORDERS/1.0/new?x=1", f"{REST}/ORDERS/1.0/new",
        "/ic/api/integration/v1/flows/rest/project/SALES/ORDERS/1.0"]


@pytest.mark.parametrize("url", ["/oic/project/SALES/ORDERS/1.0/../../../x", "/oic/project/%2e%2e/ORDERS/1.0/x",
                                 "/oic/project/SALES%2FX/ORDERS/1.0", "/oic/PROJECT/1.0/x", "/oic/project/1.0/x",
                                 "/oic/project/SALES/ORDERS/1.0/a%252e%252e", "/oic/project/SALES//ORDERS/1.0"])
def test_project_escapes_are_refused(peers, url):
    _, _, oic = peers
    assert error(call(forwarder(peers), url)) == (400, "bad_path")
    assert oic.received == []


def test_a_gen2_rule_does_not_match_a_project_integration_of_the_same_name(peers):
    policy = json.dumps({"rules": [{"name": "orders", "path": "/ORDERS/*", "scopes": [SCOPE]},
                                   {"name": "sales-orders", "path": "/project/SALES/ORDERS/*", "scopes": ["sales"]},
                                   {"name": "hr", "path": "/project/HR/*", "scopes": [SCOPE]}]})
    fwd = forwarder(peers, ACCESS_POLICY=policy)
    assert call(fwd, "/oic/ORDERS/1.0/x").log["rule"] == "orders"
    assert error(call(fwd, "/oic/project/SALES/ORDERS/1.0/x")) == (403, "insufficient_scope")
    assert error(call(fwd, "/oic/project/OTHER/ORDERS/1.0/x")) == (403, "insufficient_scope")
    assert call(fwd, "/oic/project/HR/PAYROLL/2.0/run").log["rule"] == "hr"


def test_access_rules_apply_to_the_integration_path(peers):
    policy = json.dumps({"rules": [{"name": "hello", "path": "/HELLO/*", "scopes": [SCOPE]},
                                   {"name": "admin", "path": "/ADMIN/*", "scopes": ["admin"]},
                                   {"name": "get-only", "path": "/READ/*", "methods": ["GET"]}]})
    fwd = forwarder(peers, ACCESS_POLICY=policy)
    ok = call(fwd, "/oic/HELLO/1.0/x")
    assert ok.status == 200 and ok.log["rule"] == "hello"
    assert error(call(fwd, "/oic/ADMIN/1.0/x")) == (403, "insufficient_scope")
    assert error(call(fwd, "/oic/OTHER/1.0/x")) == (403, "insufficient_scope")
    assert call(fwd, "/oic/READ/1.0/x", "GET").log["rule"] == "get-only"
    assert error(call(fwd, "/oic/READ/1.0/x", "POST")) == (403, "insufficient_scope")
    everything = forwarder(peers, ACCESS_POLICY=json.dumps({"rules": [{"name": "all", "path": "/*"}]}))
    assert call(everything, "/oic/ANY/2.0").log["rule"] == "all"


# -- headers ------------------------------------------------------------------------------------


def test_headers_named_in_connection_are_not_forwarded(peers):
    _, _, oic = peers
    call(forwarder(peers), connection="Accept-Language, close", accept_language="en", accept="text/plain",
         if_match=["\"a\"", "\"b\"", "\"c\""])
    seen = oic.received[0]["headers"]
    assert "accept-language" not in seen and seen["accept"] == "text/plain" and seen["if-match"] == '"c"'


def test_extra_request_and_response_headers_by_configuration(peers):
    _, _, oic = peers
    oic.default = Reply(200, {"X-Oic-Trace": "t", "X-Other": "o"})
    fwd = forwarder(peers, FORWARD_REQUEST_HEADERS=" X-Tenant , x-request-id,", RETURN_RESPONSE_HEADERS="x-oic-trace")
    result = call(fwd, x_tenant="t1", x_request_id="r1", x_other="no")
    seen = oic.received[0]["headers"]
    assert seen["x-tenant"] == "t1" and seen["x-request-id"] == "r1" and "x-other" not in seen
    assert result.headers.get("X-Oic-Trace") == "t" and "X-Other" not in result.headers


def test_response_headers_named_in_connection_are_not_returned(peers):
    _, _, oic = peers
    oic.default = Reply(200, {"Connection": "ETag", "ETag": '"v"', "Cache-Control": "no-store"})
    assert call(forwarder(peers)).headers == {"Content-Type": "application/json", "Cache-Control": "no-store"}


def test_the_forwarder_rewrites_or_drops_location_and_logs_which_without_the_value(peers):
    _, _, oic = peers
    oic.default = Reply(302, {"Location": f"{oic.url}{GEN2}/HELLO/1.0/x", "ETag": '"v"'}, b"")
    result = call(forwarder(peers))
    assert result.headers["Location"] == "/oic/HELLO/1.0/x" and result.headers["ETag"] == '"v"'
    assert result.log["location"] == "rewritten" and "HELLO" not in json.dumps(result.log)
    for location in (f"{oic.url}/ic/home", oic.url + "/x", "https://myoic.integration.ocp.oraclecloud.com/"):
        oic.default = Reply(302, {"Location": location, "ETag": '"v"'}, b"")
        result = call(forwarder(peers))
        assert "Location" not in result.headers and result.headers["ETag"] == '"v"'  # the headers after it still pass
        assert result.log["location"] == "dropped" and result.log["location_reason"]
        assert location not in json.dumps(result.log) and "oraclecloud" not in json.dumps(result.log)
    oic.default = Reply(302, {"Location": "https://partner.example/x"}, b"")
    result = call(forwarder(peers))
    assert result.headers["Location"] == "https://partner.example/x" and "location" not in result.log


# -- OIC refusing our token, and failures ---------------------------------------------------------


def test_oic_rejecting_the_token_gets_one_fresh_token_and_one_retry(peers):
    _, token_endpoint, oic = peers
    oic.script = [Reply(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")]
    result = call(forwarder(peers))
    assert result.status == 200 and result.log["attempts"] == 2
    assert len(oic.received) == 2 and len(token_endpoint.received) == 2


@pytest.mark.parametrize("challenge", ['Bearer error="invalid_token"', "Bearer error=invalid_token",
                                       'Bearer realm="x", ERROR = "INVALID_TOKEN"'])
def test_a_token_oic_keeps_rejecting_is_a_502_and_invalidated_at_most_every_30_seconds(peers, challenge):
    _, token_endpoint, oic = peers
    oic.default = Reply(401, {"WWW-Authenticate": challenge}, b"")
    fwd = forwarder(peers)
    first = call(fwd)
    assert error(first) == (502, "oic_rejected_token") and first.log["attempts"] == 2
    second = call(fwd)  # within 30 s of the invalidation: no new token, no retry
    assert error(second) == (502, "oic_rejected_token") and second.log["attempts"] == 1
    assert len(token_endpoint.received) == 2 and len(oic.received) == 3


@pytest.mark.parametrize("challenge", ['Bearer error="insufficient_scope"', "",
                                       'Bearer error="invalid_tokens"', "Bearer error=invalid_token_type"])
def test_an_integration_401_is_returned_as_is(peers, challenge):
    _, _, oic = peers
    oic.default = Reply(401, {"WWW-Authenticate": challenge} if challenge else {}, b'{"title":"no"}')
    result = call(forwarder(peers))
    assert (result.status, result.body, result.error) == (401, b'{"title":"no"}', None)
    assert "WWW-Authenticate" not in result.headers and len(oic.received) == 1


def test_token_endpoint_refusal_is_a_502_with_its_reason(peers):
    _, token_endpoint, _ = peers
    token_endpoint.default = "status:400"
    for budget in (10.0, 1.0):  # a refusal well before the deadline is not a timeout, however short the budget
        result = call(forwarder(peers), budget=budget)
        assert error(result) == (502, "token_unavailable")
        assert (result.detail or "").startswith("token_endpoint_error: ")


def test_a_token_endpoint_that_runs_out_the_clock_is_a_504(peers):
    _, token_endpoint, oic = peers
    callers = warmed(peers).callers  # keys fetched: the budget is the token endpoint's alone
    token_endpoint.default = "trickle_headers"
    result = call(forwarder(peers, callers=callers), budget=0.3)
    assert error(result) == (504, "timeout") and (result.detail or "").startswith("token endpoint: ")
    assert oic.received == []


def test_oic_unreachable_is_a_502(peers):
    result = call(forwarder(peers, OIC_BASE_URL="http://127.0.0.1:9"))
    assert error(result) == (502, "oic_unreachable") and "ConnectionError" in (result.detail or "")


def test_a_hung_oic_is_a_504_at_the_deadline(peers):
    _, _, oic = peers
    fwd = warmed(peers)
    oic.default = Reply(hang=True)
    assert error(call(fwd, budget=0.3)) == (504, "timeout")  # cut by the deadline, not by the peer's 5 s


def test_an_answer_that_stops_halfway_is_a_504_at_the_deadline(peers):
    _, _, oic = peers
    fwd = warmed(peers)
    oic.default = Reply(200, {}, b"x" * 1000, stall=True)
    result = call(fwd, budget=0.3)
    # The per-read timeout equals what remains, so it races the watchdog at the deadline: a read timeout
    # inside the body surfaces from requests as a ConnectionError (502). Either way, never anything else.
    assert (error(result), result.detail) in {
        ((504, "timeout"), "OIC's answer did not finish before the call's deadline"),
        ((502, "oic_unreachable"), "OIC's answer was interrupted (ConnectionError)"),
    }


def test_oic_timeout_setting_bounds_the_call(peers):
    clock = FakeClock(time.monotonic())  # stands still: every budget below is exact
    session = ScriptedSession(requests.ReadTimeout("hung"))
    result = call_at(forwarder(peers, session=session, monotonic=clock, OIC_TIMEOUT_SECONDS="2"), clock.now + 60)
    assert error(result) == (504, "timeout") and result.detail == "OIC did not answer before the call's deadline"
    assert session.timeouts == [(2.0, 2.0)]  # OIC_TIMEOUT_SECONDS, not the 60 s the function had left


def test_an_answer_cut_short_is_a_502_not_a_timeout(peers):
    _, _, oic = peers
    oic.default = Reply(200, {}, b"x" * 1000, truncate=True)
    result = call(forwarder(peers))
    assert error(result) == (502, "oic_unreachable") and "interrupted" in (result.detail or "")


def test_user_assertions_name_the_verified_caller_to_oic(peers):
    from urllib.parse import parse_qs

    import jwt

    _, token_endpoint, _ = peers
    key = Signer.generate("assertion")
    result = call(forwarder(peers, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=key.private_pem(),
                            OIC_ASSERTION_KEY_ID="kid-1"))
    assert result.status == 200 and result.log["oic_subject"] == "vendor-app"
    form = parse_qs(token_endpoint.received[0]["body"].decode())
    assert jwt.decode(form["assertion"][0], options={"verify_signature": False})["sub"] == "vendor-app"


def test_no_time_left_is_a_504_before_anything_is_sent(peers):
    _, token_endpoint, oic = peers
    fwd = forwarder(peers)
    call(fwd)  # warm: caller verified, keys fetched
    token_endpoint.received.clear()
    oic.received.clear()
    assert error(call(fwd, budget=0.05)) == (504, "timeout")
    assert token_endpoint.received == [] and oic.received == []


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, key, problem",
    [
        ({"OIC_BASE_URL": ""}, "OIC_BASE_URL", "not set (the OIC runtime host, e.g. https://<oic-host>)"),
        ({"OIC_BASE_URL": "https://oic.example.com/ic"}, "OIC_BASE_URL",
         "must be scheme://host[:port] only; put paths in OIC_PATH_PREFIX"),
        ({"OIC_BASE_URL": "https://oic.example.com?x=1"}, "OIC_BASE_URL",
         "must be scheme://host[:port] only; put paths in OIC_PATH_PREFIX"),
        ({"GATEWAY_PATH_PREFIX": "oic"}, "GATEWAY_PATH_PREFIX", "must start with /"),
        ({"OIC_PATH_PREFIX": "ic/api"}, "OIC_PATH_PREFIX", "must start with /"),
        ({"OIC_PROJECT_PATH_PREFIX": "ic/api"}, "OIC_PROJECT_PATH_PREFIX", "must start with /"),
        ({"OIC_TIMEOUT_SECONDS": "0.5"}, "OIC_TIMEOUT_SECONDS", None),
        ({"OIC_TIMEOUT_SECONDS": "301"}, "OIC_TIMEOUT_SECONDS", None),
        ({"FORWARD_REQUEST_HEADERS": "x-ok,bad name"}, "FORWARD_REQUEST_HEADERS", "'bad name' is not a header name"),
        ({"FORWARD_REQUEST_HEADERS": "x" * 65}, "FORWARD_REQUEST_HEADERS", f"{'x' * 65!r} is not a header name"),
        ({"FORWARD_REQUEST_HEADERS": "Cookie"}, "FORWARD_REQUEST_HEADERS",
         "cookie may never pass (see docs/security.md, 'What the backend does with each call')"),
        ({"FORWARD_REQUEST_HEADERS": "X-Forwarded-Host"}, "FORWARD_REQUEST_HEADERS",
         "x-forwarded-host may never pass (see docs/security.md, 'What the backend does with each call')"),
        ({"FORWARD_REQUEST_HEADERS": "x-caller-sub"}, "FORWARD_REQUEST_HEADERS",
         "x-caller-sub may never pass (see docs/security.md, 'What the backend does with each call')"),
        ({"RETURN_RESPONSE_HEADERS": "Set-Cookie"}, "RETURN_RESPONSE_HEADERS",
         "set-cookie may never pass (see docs/security.md, 'What the backend does with each call')"),
        ({"RETURN_RESPONSE_HEADERS": "x-oracle-dms-ecid"}, "RETURN_RESPONSE_HEADERS",
         "x-oracle-dms-ecid may never pass (see docs/security.md, 'What the backend does with each call')"),
    ],
)
def test_configuration_errors_name_the_key(peers, env, key, problem):
    with pytest.raises(ConfigError) as caught:
        BackendConfig.from_env(environment(peers, **env))
    assert caught.value.key == key and caught.value.problem == (problem or caught.value.problem)


def test_every_wrong_key_is_named_in_one_error():
    env = {"OIC_BASE_URL": "http://oic.example.com", "GATEWAY_PATH_PREFIX": "gw", "OIC_PATH_PREFIX": "rest",
           "OIC_TIMEOUT_SECONDS": "0", "FORWARD_REQUEST_HEADERS": "Cookie", "RETURN_RESPONSE_HEADERS": "Set-Cookie"}
    with pytest.raises(ConfigError) as caught:
        BackendConfig.from_env(env)
    assert [error.key for error in caught.value.each()] == [
        "OIC_BASE_URL", "GATEWAY_PATH_PREFIX", "OIC_PATH_PREFIX", "OIC_TIMEOUT_SECONDS", "FORWARD_REQUEST_HEADERS",
        "RETURN_RESPONSE_HEADERS"]
    assert all(f"configuration {key}:" in str(caught.value) for key in env)
    with pytest.raises(ConfigError) as unset:
        BackendConfig.from_env({"OIC_TIMEOUT_SECONDS": "x"})
    assert [error.key for error in unset.value.each()] == ["OIC_BASE_URL", "OIC_TIMEOUT_SECONDS"]


def test_configuration_defaults_and_normalisation(peers):
    config = BackendConfig.from_env({"OIC_BASE_URL": " https://oic.example.com/ "})
    assert config.oic_base_url == "https://oic.example.com" and config.gateway_path_prefix == ""
    assert config.oic_project_path_prefix == PROJECT_REST
    assert config.oic_path_prefix == REST and config.caller_sub_header == "x-caller-sub" and config.timeout == 25.0
    custom = BackendConfig.from_env({"OIC_BASE_URL": "https://oic.example.com", "GATEWAY_PATH_PREFIX": "/gw/",
                                     "CALLER_SUB_HEADER": " ", "FORWARD_REQUEST_HEADERS": "X-A" + "a" * 61})
    assert custom.gateway_path_prefix == "/gw" and custom.caller_sub_header == "x-caller-sub"
    assert "x-a" + "a" * 61 in custom.forwarded_headers
    for seconds in ("1", "300"):
        assert BackendConfig.from_env({"OIC_BASE_URL": "https://o.example", "OIC_TIMEOUT_SECONDS": seconds}).timeout \
            == float(seconds)


def test_only_a_401_can_say_the_oic_token_was_rejected(peers):
    _, token_endpoint, oic = peers
    oic.default = Reply(403, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b'{"title":"forbidden"}')
    result = call(forwarder(peers))
    assert (result.status, result.error) == (403, None) and len(oic.received) == 1
    assert len(token_endpoint.received) == 1


def test_a_header_value_that_cannot_be_sent_is_a_400(peers):
    _, _, oic = peers
    assert error(call(forwarder(peers), accept="text/€")) == (400, "bad_header")
    assert oic.received == []


def test_the_oic_token_is_invalidated_at_most_every_30_seconds():

    from oic_gateway.forwarding import forwarder

    assert forwarder.INVALIDATE_AT_MOST_EVERY_SECONDS == 30.0  # the window itself: test_token_cache (at_most_every)


def test_an_unknown_method_is_refused_and_named_in_at_most_20_characters(peers):
    result = call(forwarder(peers), method="X" * 30)
    assert error(result) == (405, "method_not_allowed")
    assert result.detail == f"{'X' * 20!r} is not forwarded to OIC"


class _AnswersAfterTheDeadline(requests.Session):
    """A session whose answer arrives only after the watchdog has fired, and
    looks complete: what urllib3 can hand back when its socket is shut mid-answer."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        watch = deadline.current()
        assert watch is not None
        watch.cut()  # what the watchdog does at the deadline
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"partial":'
        response._content_consumed = True  # type: ignore[attr-defined]
        return response


def test_an_answer_the_watchdog_cut_is_a_504_not_a_short_200(peers):
    env = environment(peers)
    fwd = OicForwarder(BackendConfig.from_env(env), TokenExchanger.from_env(env), CallerVerifier.from_env(env),
                       session=_AnswersAfterTheDeadline())
    assert error(call(fwd)) == (504, "timeout")


# -- issue 17 §9: no other spelling of a restricted resource reaches the catch-all -------------

ISSUE_POLICY = json.dumps({"rules": [
    {"name": "orders-new", "path": "/ORDERS/1.0/new", "client_ids": ["partner-app"]},
    {"name": "payroll", "path": "/PAYROLL/*", "client_ids": ["hr-app"]},
    {"name": "sales-payroll", "path": "/project/HR/PAYROLL/*", "client_ids": ["hr-app"]},
    {"name": "orders-read", "path": "/ORDERS/2.0/*", "methods": ["GET"], "client_ids": ["partner-app"]},
    {"name": "everyone", "path": "/*", "scopes": [SCOPE]},
]})


@pytest.mark.parametrize("method, url, refusal", [
    ("POST", "/oic/ORDERS/1.0/new/", (403, "insufficient_scope")),  # decided by the /ORDERS/1.0/new rule
    ("POST", "/oic/ORDERS/01.00/new", (400, "bad_path")),
    ("POST", "/oic/ORDERS/1.00.0000/new", (400, "bad_path")),
    ("POST", "/oic/ORDERS/01.00.0000/new", (400, "bad_path")),
    ("POST", "/oic/ORDERS/1.1/new", (400, "bad_path")),  # another minor: never decided by the catch-all
    ("POST", "/oic/orders/1.0/new", (400, "bad_path")),
    ("POST", "/oic/payroll/1.0/run", (400, "bad_path")),
    ("POST", "/oic/PAYROLL/1.0/run/", (403, "insufficient_scope")),
    ("POST", "/oic/project/hr/PAYROLL/1.0/run", (400, "bad_path")),
    ("POST", "/oic/project/HR/payroll/1.0/run", (400, "bad_path")),
    ("HEAD", "/oic/ORDERS/2.0/list", (403, "insufficient_scope")),  # the GET rule covers HEAD
    ("POST", "/oic/OTHER/1.0/x?integrationInstance=other", (400, "bad_query")),
    ("POST", "/oic/OTHER/1.0/x?INTEGRATIONINSTANCE=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?a=1&integrationinstance=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?a=1;integrationInstance=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?integration%49nstance=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?integration%2549nstance=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?integrationInstance", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?+integrationInstance+=other", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?WSDL", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?x%26integrationInstance=foo", (400, "bad_query")),  # decoded, then split again
    ("GET", "/oic/OTHER/1.0/x?x=1%26integrationInstance%3Dfoo", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?wsdl%3D1", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?x=1%3Bwsdl", (400, "bad_query")),
    ("GET", "/oic/OTHER/1.0/x?integrationIn%C5%BFtance=foo", (400, "bad_query")),  # Java folds the long s
])
def test_issue_17_spellings_are_refused_or_decided_by_their_rule(peers, method, url, refusal):
    _, _, oic = peers
    fwd = forwarder(peers, ACCESS_POLICY=ISSUE_POLICY)
    result = call(fwd, url, method)
    assert error(result) == refusal
    assert oic.received == []


def test_issue_17_what_the_catch_all_may_serve_still_goes_through(peers):
    _, _, oic = peers
    fwd = forwarder(peers, ACCESS_POLICY=ISSUE_POLICY)
    assert call(fwd, "/oic/ORDERS/2.0/list", "POST").log["rule"] == "everyone"
    assert call(fwd, "/oic/OTHER/1.0/x/?instance=a&integrationInstanceId=b", "GET").log["rule"] == "everyone"
    partner = forwarder(peers, ACCESS_POLICY=ISSUE_POLICY)
    granted = call(partner, "/oic/ORDERS/1.0/new/", "POST", token=SIGNER.mint(client_id="partner-app"))
    assert granted.status == 200 and granted.log["rule"] == "orders-new"
    assert [r["path"] for r in oic.received] == [
        f"{REST}/ORDERS/2.0/list", f"{REST}/OTHER/1.0/x/?instance=a&integrationInstanceId=b",
        f"{REST}/ORDERS/1.0/new/"]  # forwarded as sent, trailing slash included


# -- the forwarder's own arithmetic and decisions, on a fake clock -----------------------------------
#
# The forwarder's monotonic clock is a FakeClock that stands still unless a step moves it, so every budget
# it hands on is exact; OIC is a ScriptedSession, and the token side a real TokenExchanger (against the
# loopback token endpoint) whose steps can move the clock or fail first. The caller verifier has its keys
# already, so the fake clock's deadlines never reach a key fetch.


@pytest.fixture(scope="module")
def callers(peers) -> CallerVerifier:
    verifier = CallerVerifier.from_env(environment(peers))
    verifier.verify("Bearer " + SIGNER.mint(), time.monotonic() + 10)  # fetches the signing keys
    return verifier


class SteppedExchanger(TokenExchanger):
    """A real exchanger that records the budget and invalidations it is given; each
    ``token_for`` first runs the next step (which may move the clock or raise)."""

    def __init__(self, peers, *steps: Callable[[], None]) -> None:
        super().__init__(ExchangeConfig.from_env(environment(peers)))
        self.steps = list(steps)
        self.budgets: list[float | None] = []
        self.invalidations: list[float] = []

    def token_for(self, subject: str | None = None, subject_expires_at: float | None = None, *,
                  timeout: float | None = None) -> ExchangedToken:
        self.budgets.append(timeout)
        if self.steps:
            self.steps.pop(0)()
        return super().token_for(subject, subject_expires_at, timeout=timeout)

    def invalidate(self, rejected: ExchangedToken, subject: str | None = None, *,
                   at_most_every: float = 0.0) -> bool:
        self.invalidations.append(at_most_every)
        return super().invalidate(rejected, subject, at_most_every=at_most_every)


def answer(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b'{"ok":1}',
           raw: Any = None) -> requests.Response:
    """A response as requests builds one from the wire (``stream=True``): the body is read from ``raw``."""
    response = requests.Response()
    response.status_code = status
    response.headers = requests.structures.CaseInsensitiveDict(headers or {})
    response.raw = raw if raw is not None else io.BytesIO(body)
    return response


class BreaksAfter(io.BytesIO):
    """A body that fails after its first read: with ``cut``, the watchdog shut the socket first."""

    def __init__(self, failure: Exception, cut: bool = False) -> None:
        super().__init__(b"x" * 100)
        self.failure = failure
        self.cut = cut
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads == 1:
            return super().read(10)
        if self.cut:
            watch = deadline.current()
            assert watch is not None
            watch.cut()
        raise self.failure


class CutThenFails(ScriptedSession):
    """The watchdog shuts the socket while the request is in flight, and requests raises ``failure``."""

    def __init__(self, failure: Exception) -> None:
        super().__init__(failure)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        watch = deadline.current()
        assert watch is not None
        watch.cut()
        return super().request(method, url, *args, **kwargs)


def test_retry_after_given_to_a_throttled_caller_counts_whole_seconds_from_the_forwarders_clock(peers, callers):
    _, token_endpoint, _ = peers
    wall = FakeClock(1_000_000.0)
    for retry_in, retry_after in [(12.3, "13"), (30.0, "30"), (1.0, "1"), (0.2, "1"), (0.0, "1"), (-5.0, "1")]:
        def throttle(at: float = wall.now + retry_in) -> None:
            raise TokenEndpointThrottled("429 from the identity domain", retry_at=at)

        session = ScriptedSession()
        fwd = forwarder(peers, session=session, callers=callers, exchanger=SteppedExchanger(peers, throttle),
                        clock=wall)
        result = call(fwd)
        assert error(result) == (503, "token_endpoint_throttled"), retry_in
        assert result.headers == {"Content-Type": "application/json", "Retry-After": retry_after}, retry_in
        assert result.detail == "the identity domain is rate-limiting token requests"
        assert session.sent == [] and token_endpoint.received == []


def test_a_token_failure_at_the_margin_before_the_deadline_is_a_timeout(peers, callers):
    _, token_endpoint, _ = peers
    clock = FakeClock(100.0)
    end = 120.0

    def fails_at(now: float) -> Callable[[], None]:
        def step() -> None:
            clock.now = now
            raise TokenEndpointError("the identity domain said no", "temporarily_unavailable", 400)
        return step

    timeout, refused = (504, "timeout"), (502, "token_unavailable")
    for now, expected in [(end - MARGIN_SECONDS, timeout), (end, timeout),
                          (end - MARGIN_SECONDS - 0.001, refused), (100.0, refused)]:
        clock.now = 100.0
        session = ScriptedSession()
        fwd = forwarder(peers, session=session, callers=callers, exchanger=SteppedExchanger(peers, fails_at(now)),
                        monotonic=clock)
        result = call_at(fwd, end)
        assert error(result) == expected, now
        reason = "token endpoint: token_endpoint_error: " if expected[0] == 504 else "token_endpoint_error: "
        assert result.detail == reason + "the identity domain said no", now
        assert session.sent == []
    assert token_endpoint.received == []


def test_a_configuration_error_on_the_token_side_is_a_502_that_names_it(peers, callers):
    def unset() -> None:
        raise ConfigError("OIC_CLIENT_SECRET", "the secret could not be read")

    session = ScriptedSession()
    result = call(forwarder(peers, session=session, callers=callers, exchanger=SteppedExchanger(peers, unset)))
    assert error(result) == (502, "configuration_error") and "OIC_CLIENT_SECRET" in (result.detail or "")
    assert session.sent == []


def test_the_token_side_gets_what_is_left_of_the_call_and_nothing_starts_within_the_margin(peers, callers):
    clock = FakeClock(10.0)  # a deadline past twice the clock: deadline % now is not deadline - now
    exchanger = SteppedExchanger(peers)
    session = ScriptedSession(answer())
    assert call_at(forwarder(peers, session=session, callers=callers, exchanger=exchanger, monotonic=clock),
                   22.0).status == 200
    assert exchanger.budgets == [12.0] and session.timeouts == [(10.0, 12.0)]
    # Exactly MARGIN_SECONDS left (0.0 + 0.05 - 0.0 is exact): no token is asked for, nothing is sent.
    at_zero = FakeClock(0.0)
    exchanger = SteppedExchanger(peers)
    session = ScriptedSession(answer())
    result = call_at(forwarder(peers, session=session, callers=callers, exchanger=exchanger, monotonic=at_zero),
                     MARGIN_SECONDS)
    assert error(result) == (504, "timeout") and result.detail == "no time left before the call's deadline"
    assert exchanger.budgets == [] and session.sent == []
    result = call_at(forwarder(peers, session=session, callers=callers, exchanger=exchanger, monotonic=at_zero),
                     2 * MARGIN_SECONDS)
    assert result.status == 200 and exchanger.budgets == [2 * MARGIN_SECONDS]


@pytest.mark.parametrize("left, timeouts", [(25.0, (10.0, 25.0)), (10.0, (10.0, 10.0)), (0.5, (0.5, 0.5))])
def test_oic_gets_a_10_second_connect_timeout_and_what_is_left_to_read(peers, callers, left, timeouts):
    clock = FakeClock(10.0)
    session = ScriptedSession(answer())
    fwd = forwarder(peers, session=session, callers=callers, exchanger=SteppedExchanger(peers), monotonic=clock)
    assert call_at(fwd, 10.0 + left).status == 200
    assert session.timeouts == [timeouts]


def test_a_token_that_took_the_rest_of_the_time_leaves_oic_a_token_timeout_of_a_hundredth(peers, callers):
    clock = FakeClock(100.0)

    def slow() -> None:
        clock.now = 101.0  # past the deadline while the token was fetched

    session = ScriptedSession(requests.ReadTimeout("no answer"))
    fwd = forwarder(peers, session=session, callers=callers, exchanger=SteppedExchanger(peers, slow), monotonic=clock)
    assert error(call_at(fwd, 100.5)) == (504, "timeout")
    assert session.timeouts == [(0.01, 0.01)]  # never zero or negative: requests would refuse it


def test_what_oic_is_sent_an_empty_body_as_none_no_redirects_and_a_streamed_answer(peers, callers):
    session = ScriptedSession(answer(), answer())
    fwd = forwarder(peers, session=session, callers=callers)
    assert call(fwd, "/oic/HELLO/1.0/hi?a=1", "DELETE").status == 200
    assert call(fwd, method="PUT", body=b'{"in":1}').status == 200
    first, second = session.sent
    oic_url = peers[2].url
    assert (first["method"], first["url"], first["data"]) == ("DELETE", f"{oic_url}{REST}/HELLO/1.0/hi?a=1", None)
    assert (second["method"], second["data"]) == ("PUT", b'{"in":1}')
    for sent in session.sent:
        assert sent["allow_redirects"] is False and sent["stream"] is True


NO_ANSWER = (504, "timeout", "OIC did not answer before the call's deadline")
UNFINISHED = (504, "timeout", "OIC's answer did not finish before the call's deadline")


@pytest.mark.parametrize("session, expected", [
    (ScriptedSession(requests.ConnectionError("refused")),
     (502, "oic_unreachable", "cannot reach OIC (ConnectionError)")),
    (ScriptedSession(requests.ReadTimeout("slow")), NO_ANSWER),
    (ScriptedSession(requests.ConnectTimeout("slow")), NO_ANSWER),
    (CutThenFails(requests.ConnectionError("shut")), NO_ANSWER),
    (ScriptedSession(answer(raw=BreaksAfter(requests.ConnectionError("reset")))),
     (502, "oic_unreachable", "OIC's answer was interrupted (ConnectionError)")),
    (ScriptedSession(answer(raw=BreaksAfter(requests.ReadTimeout("stalled")))), UNFINISHED),
    (ScriptedSession(answer(raw=BreaksAfter(requests.ConnectionError("shut"), cut=True))), UNFINISHED),
], ids=["refused", "read-timeout", "connect-timeout", "cut-then-error", "body-reset", "body-stalled", "body-cut"])
def test_a_failed_exchange_with_oic_is_a_timeout_only_when_time_ran_out(peers, callers, session, expected):
    result = call(forwarder(peers, session=session, callers=callers))
    assert (result.status, result.error, result.detail) == expected


def test_an_oversized_answer_is_read_to_one_64_kib_piece_past_the_limit_and_no_further(peers, callers):
    body = CountsReads(b"y" * (MAX_PAYLOAD_BYTES + 4 * 1024 * 1024))
    result = call(forwarder(peers, session=ScriptedSession(answer(raw=body)), callers=callers))
    assert error(result) == (502, "response_too_large")
    # Read in 64 KiB pieces and refused at the first piece past the limit (a multiple of 64 KiB): not
    # one byte more is pulled from OIC, nor held, than the limit and that one piece.
    assert body.delivered == MAX_PAYLOAD_BYTES + 64 * 1024 and body.closed


class CountsReads(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.delivered = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.delivered += len(chunk)
        return chunk


def test_a_token_oic_rejects_is_invalidated_once_per_call_at_most_every_30_seconds(peers, callers):
    rejected = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    exchanger = SteppedExchanger(peers)
    session = ScriptedSession(answer(401, rejected, b""), answer(401, rejected, b""))
    result = call(forwarder(peers, session=session, callers=callers, exchanger=exchanger))
    assert error(result) == (502, "oic_rejected_token") and result.log["attempts"] == 2
    assert exchanger.invalidations == [30.0]  # after the first attempt only: the second has no retry after it


@pytest.mark.parametrize("status", [400, 403, 200])
def test_only_a_401_says_the_oic_token_was_rejected_whatever_the_challenge(peers, callers, status):
    session = ScriptedSession(answer(status, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b'{"t":1}'))
    result = call(forwarder(peers, session=session, callers=callers))
    assert (result.status, result.body, result.error, result.log["attempts"]) == (status, b'{"t":1}', None, 1)
    assert len(session.sent) == 1


def test_configured_headers_add_to_the_defaults_even_when_they_repeat_one(peers):
    config = BackendConfig.from_env(environment(peers, FORWARD_REQUEST_HEADERS="Accept,X-Tenant",
                                                RETURN_RESPONSE_HEADERS="ETag,X-Oic-Trace"))
    assert config.forwarded_headers == FORWARDED_HEADERS | {"x-tenant"} and "accept" in config.forwarded_headers
    assert config.returned_headers == RETURNED_HEADERS | {"x-oic-trace"} and "etag" in config.returned_headers


def test_the_caller_subject_header_may_never_be_forwarded_even_when_it_is_already_refused(peers):
    with pytest.raises(ConfigError) as caught:
        BackendConfig.from_env(environment(peers, CALLER_SUB_HEADER="Cookie", FORWARD_REQUEST_HEADERS="cookie"))
    assert caught.value.key == "FORWARD_REQUEST_HEADERS" and caught.value.problem.startswith("cookie may never pass")


def test_a_refused_method_is_answered_with_the_methods_that_are_forwarded(peers):
    result = call(forwarder(peers), method="TRACE")
    assert error(result) == (405, "method_not_allowed")
    assert result.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_a_location_at_oics_own_host_name_is_dropped(peers, callers):
    # OIC by name, not at 127.0.0.1: the host taken from OIC_BASE_URL is what is refused.
    session = ScriptedSession(*(answer(302, {"Location": location}, b"") for location in (
        "https://oic.example.com/home", "https://OIC.example.com./x", "https://a.oic.example.com/x",
        "https://partner.example/x")))
    fwd = forwarder(peers, session=session, callers=callers, OIC_BASE_URL="https://Oic.Example.com")
    for _ in range(3):
        result = call(fwd)
        assert "Location" not in result.headers
        assert (result.log["location"], result.log["location_reason"]) == ("dropped", "location_oic_host")
    assert call(fwd).headers["Location"] == "https://partner.example/x"


class RefusesThePath(CallerVerifier):
    """A verifier whose access rule refuses with a path error, which carries no challenge."""

    def authorize(self, caller: Caller, path: IntegrationPath, method: str) -> str | None:
        raise BadPath("refused by the rule", reason="bad_path_rule")


def test_a_refusal_carries_a_challenge_only_when_its_outcome_has_one(peers):
    fwd = forwarder(peers, callers=RefusesThePath.from_env(environment(peers)))
    result = call(fwd)
    assert error(result) == (400, "bad_path") and "WWW-Authenticate" not in result.headers
    missing = call(fwd, token="")
    assert error(missing) == (401, "missing_token") and missing.headers["WWW-Authenticate"] == 'Bearer realm="oic"'


def test_the_prefix_alone_names_no_integration_however_the_target_is_spelled(peers):
    fwd = forwarder(peers)
    for url in ("/oic", "https://gw.example.com/oic", "/oic?x=1"):
        assert error(call(fwd, url)) == (400, "bad_path"), url


def test_the_configuration_and_the_request_cannot_be_changed_once_made(peers):
    config = BackendConfig.from_env(environment(peers))
    request = GatewayRequest("GET", "/oic/HELLO/1.0/hi", {}, b"")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.oic_base_url = "https://elsewhere.example"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.url = "/oic/OTHER/1.0/x"  # type: ignore[misc]


def test_the_forwarders_collaborators_are_named_and_its_seams_keyword_only(peers):
    env = environment(peers)
    config, exchanger, callers = BackendConfig.from_env(env), TokenExchanger.from_env(env), CallerVerifier.from_env(env)
    fwd = OicForwarder(config=config, exchanger=exchanger, callers=callers)
    assert (fwd.config, fwd.exchanger, fwd.callers) == (config, exchanger, callers)
    with pytest.raises(TypeError):
        OicForwarder(config, exchanger, callers, ScriptedSession())  # type: ignore[call-arg]


def test_the_headers_never_forwarded_and_never_returned_are_exactly_these() -> None:
    """Pinned whole: the hop-by-hop names and each list's own names are disjoint today, which is why
    mutation/equivalents.toml lists `|` as `^` for both; a name added to both sides would change this."""
    from oic_gateway.forwarding import forwarder

    hop_by_hop = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
                  "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
    assert frozenset(hop_by_hop | {
        "authorization", "cookie", "forwarded", "x-original-url", "x-rewrite-url", "x-http-method-override",
        "x-http-method", "x-method-override", "x-real-ip"}) == forwarder.NEVER_FORWARDED
    returned = {"set-cookie", "set-cookie2", "server", "www-authenticate", "content-encoding", "x-powered-by", "via"}
    assert frozenset(hop_by_hop | returned) == forwarder.NEVER_RETURNED
