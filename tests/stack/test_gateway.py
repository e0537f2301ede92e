"""The local API Gateway: each documented behaviour pinned, with scripted
functions under the real fdk runtime and real HTTP backends on loopback."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local.fnrun import ROOT, FnProcess
from local.gateway import AUTHENTICATION_PAGE, LocalGateway, SpecificationRefused, check_specification
from tests.conftest import start_fn
from tests.fakeclock import FakeClock
from tests.servers import EchoServer

SCRIPTED = ROOT / "tests" / "functions" / "scripted"
AUTHZ = "ocid1.fnfunc.oc1..authorizer"
BACKEND_FN = "ocid1.fnfunc.oc1..backend"


class Scripted:
    """A scripted function: what it answers, and what it was asked."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.script = tmp / f"{name}-script.json"
        self.record = tmp / f"{name}-record.jsonl"
        self.record.write_text("")
        self.answer({"active": True, "principal": "p", "scope": ["oic-invoke"],
                     "expiresAt": iso(time.time() + 3600), "context": {"sub": "alice", "back_end_token": "Bearer oic"}})
        self.fn: FnProcess = start_fn({"SCRIPT_FILE": str(self.script), "RECORD_FILE": str(self.record)}, SCRIPTED)

    def answer(self, body: Any, **extra: Any) -> None:
        self.script.write_text(json.dumps({"body": body, **extra}))

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.record.read_text().splitlines()]


def raw_get(url: str, headers: list[tuple[str, str]]) -> int:
    """A GET with repeated headers, which requests cannot send."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.putrequest("GET", parts.path)
    for name, value in headers:
        conn.putheader(name, value)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scripted]:
    scripted = Scripted(tmp_path_factory.mktemp("authz"), "authz")
    yield scripted
    scripted.fn.stop()


@pytest.fixture(scope="module")
def backend_fn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scripted]:
    scripted = Scripted(tmp_path_factory.mktemp("backend"), "backend")
    yield scripted
    scripted.fn.stop()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.stop()


def spec(authn: dict[str, Any] | None = None, **route: Any) -> dict[str, Any]:
    authentication = {"type": "CUSTOM_AUTHENTICATION", "functionId": AUTHZ,
                      "parameters": {"token": "request.headers[Authorization]"}}
    authentication.update(authn or {})
    base_route = {"path": "/{integration}/{rest*}", "methods": ["GET", "POST"],
                  "backend": {"type": "HTTP_BACKEND", "url": "http://<echo>/flows/${request.path[integration]}/${request.path[rest]}"}}
    base_route.update(route)
    return {"requestPolicies": {"authentication": authentication}, "routes": [base_route]}


@pytest.fixture
def gateway_for(authz: Scripted, backend_fn: Scripted, echo: EchoServer) -> Iterator[Any]:
    started: list[LocalGateway] = []

    def make(specification: dict[str, Any], clock: FakeClock | None = None) -> LocalGateway:
        authz.record.write_text("")
        backend_fn.record.write_text("")
        authz.answer({"active": True, "principal": "p", "scope": ["oic-invoke"], "expiresAt": iso(time.time() + 3600),
                      "context": {"sub": "alice", "back_end_token": "Bearer oic"}})
        gw = LocalGateway(specification, functions={AUTHZ: str(authz.fn.socket_path),
                                                    BACKEND_FN: str(backend_fn.fn.socket_path)},
                          path_prefix="/api", url_rewrites={"http://<echo>": echo.url},
                          clock=clock or time.time).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def test_multi_argument_body_arrays_and_omissions(gateway_for: Any, authz: Scripted) -> None:
    parameters = {"token": "request.headers[Authorization]", "app": "request.headers[X-App]",
                  "tenant": "request.headers[X-Tenant]", "q": "request.query[q]"}
    gw = gateway_for(spec({"parameters": parameters}))
    r = requests.get(gw.url + "/HELLO/x?q=1&q=2", headers={"Authorization": "Bearer t1", "X-App": "a"}, timeout=10)
    assert r.status_code == 200
    event = json.loads(authz.calls()[-1]["body"])
    assert event == {"type": "USER_DEFINED", "data": {"token": "Bearer t1", "app": "a", "q": ["1", "2"]}}
    # A repeated header arrives as an array.
    raw_get(gw.url + "/HELLO/x", [("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    assert json.loads(authz.calls()[-1]["body"])["data"]["token"] == ["Bearer a", "Bearer b"]


def test_single_argument_and_missing_token(gateway_for: Any, authz: Scripted) -> None:
    gw = gateway_for({"requestPolicies": {"authentication": {"type": "CUSTOM_AUTHENTICATION", "functionId": AUTHZ,
                                                             "tokenHeader": "Authorization"}},
                      "routes": spec()["routes"]})
    assert requests.get(gw.url + "/HELLO/x", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 200
    assert json.loads(authz.calls()[-1]["body"]) == {"type": "TOKEN", "token": "Bearer t"}
    before = len(authz.calls())
    r = requests.get(gw.url + "/HELLO/x", timeout=10)
    assert r.status_code == 401 and len(authz.calls()) == before  # no token: the authorizer is not called


def test_multi_argument_without_any_argument_still_asks_the_authorizer(gateway_for: Any, authz: Scripted) -> None:
    gw = gateway_for(spec())
    authz.answer({"active": False, "wwwAuthenticate": 'Bearer realm="oic"'})
    r = requests.get(gw.url + "/A/x", timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="oic"'
    assert json.loads(authz.calls()[-1]["body"]) == {"type": "USER_DEFINED", "data": {}}


def test_cache_by_cache_key_and_expiry_clamping(gateway_for: Any, authz: Scripted) -> None:
    clock = FakeClock(time.time())
    gw = gateway_for(spec({"parameters": {"token": "request.headers[Authorization]", "p": "request.query[p]"},
                           "cacheKey": ["token"]}), clock)
    authz.answer({"active": True, "scope": [], "expiresAt": iso(clock.now + 10), "context": {}})
    for integration in ("A", "B", "C"):
        assert requests.get(f"{gw.url}/x/y?p={integration}", headers={"Authorization": "Bearer k"}, timeout=10).ok
    assert len(authz.calls()) == 1  # cacheKey names only the token
    clock.now += 59
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer k"}, timeout=10)
    assert len(authz.calls()) == 1  # expiresAt in 10 s, but at least 60 s
    clock.now += 2
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer k"}, timeout=10)
    assert len(authz.calls()) == 2
    authz.answer({"active": True, "scope": [], "expiresAt": iso(clock.now + 7200), "context": {}})
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer other"}, timeout=10)
    clock.now += 3599
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer other"}, timeout=10)
    assert len(authz.calls()) == 3
    clock.now += 2
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer other"}, timeout=10)
    assert len(authz.calls()) == 4  # at most 1 h
    authz.answer({"active": True, "scope": [], "context": {}})  # no expiresAt: 60 s
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer third"}, timeout=10)
    clock.now += 61
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer third"}, timeout=10)
    assert len(authz.calls()) == 6


def test_default_cache_key_is_every_argument(gateway_for: Any, authz: Scripted) -> None:
    gw = gateway_for(spec({"parameters": {"token": "request.headers[Authorization]",
                                          "p": "request.query[p]"}}))
    for integration in ("A", "B", "A"):
        requests.get(f"{gw.url}/x/y?p={integration}", headers={"Authorization": "Bearer k"}, timeout=10)
    assert len(authz.calls()) == 2


def test_denial_is_401_with_the_challenge(gateway_for: Any, authz: Scripted) -> None:
    gw = gateway_for(spec())
    authz.answer({"active": False, "wwwAuthenticate": 'Bearer realm="oic", error="invalid_token"'})
    r = requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer bad"}, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="oic", error="invalid_token"'
    requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer bad"}, timeout=10)
    assert len(authz.calls()) == 2  # denials are not cached


def test_validation_failure_policy(gateway_for: Any, authz: Scripted) -> None:
    policy = {"type": "MODIFY_RESPONSE", "responseCode": "403", "responseMessage": "Go away",
              "responseTransformations": {"headerTransformations": {"setHeaders": {"items": [
                  {"name": "X-Reason", "values": ["denied"], "ifExists": "OVERWRITE"}]}}}}
    gw = gateway_for(spec({"validationFailurePolicy": policy}))
    authz.answer({"active": False, "wwwAuthenticate": "Bearer"})
    r = requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer bad"}, timeout=10)
    assert (r.status_code, r.text, r.headers["X-Reason"]) == (403, "Go away", "denied")


@pytest.mark.parametrize("script", [{"fail": True}, {"body": "not json"}, {"body": {"no": "active"}}])
def test_authorizer_failure_is_502(gateway_for: Any, authz: Scripted, script: dict[str, Any]) -> None:
    gw = gateway_for(spec())
    authz.script.write_text(json.dumps(script))
    assert requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 502


def test_any_of_scopes_and_anonymous(gateway_for: Any, authz: Scripted) -> None:
    gw = gateway_for(spec(requestPolicies={"authorization": {"type": "ANY_OF", "allowedScope": ["oic-invoke"]}}))
    authz.answer({"active": True, "scope": "read other", "expiresAt": iso(time.time() + 600), "context": {}})
    refused = requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer s1"}, timeout=10)
    # The gateway answers by itself (status undocumented: 403 here): no challenge, no scope named.
    assert refused.status_code == 403 and "WWW-Authenticate" not in refused.headers
    assert refused.json() == {"code": 403, "message": "Forbidden"}
    authz.answer({"active": True, "scope": "read oic-invoke", "expiresAt": iso(time.time() + 600), "context": {}})
    assert requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer s2"}, timeout=10).status_code == 200
    anonymous = gateway_for(spec({"isAnonymousAccessAllowed": True},
                                 requestPolicies={"authorization": {"type": "ANONYMOUS"}}))
    assert requests.get(anonymous.url + "/A/x", timeout=10).status_code == 200


def test_header_transformations_and_missing_keys(gateway_for: Any, authz: Scripted, echo: EchoServer) -> None:
    items = [
        {"name": "Authorization", "values": ["${request.auth[back_end_token]}"], "ifExists": "OVERWRITE"},
        {"name": "X-Missing", "values": ["[${request.auth[nope]}]"]},
        {"name": "X-Integration", "values": ["${request.path[integration]}"]},
        {"name": "X-Kept", "values": ["new"], "ifExists": "SKIP"},
        {"name": "X-Appended", "values": ["two"], "ifExists": "APPEND"},
    ]
    gw = gateway_for(spec(requestPolicies={"headerTransformations": {"setHeaders": {"items": items}}}))
    r = requests.post(gw.url + "/HELLO/a/b?x=1", data=b"payload", timeout=10,
                      headers={"Authorization": "Bearer client", "X-Kept": "old", "X-Appended": "one"})
    seen = r.json()
    assert seen["path"] == "/flows/HELLO/a/b?x=1" and seen["method"] == "POST" and seen["body"] == "payload"
    headers = seen["headers"]
    assert headers["Authorization"] == "Bearer oic"  # the client token is replaced
    assert headers["X-Missing"] == "[]"  # a missing key is an empty string
    assert headers["X-Integration"] == "HELLO" and headers["X-Kept"] == "old" and headers["X-Appended"] == "one,two"
    assert r.headers["X-Echo"] == "yes"


def test_http_backend_timeouts_and_failures(gateway_for: Any, echo: EchoServer) -> None:
    route = {"backend": {"type": "HTTP_BACKEND", "url": "http://<echo>/x", "readTimeoutInSeconds": 1}}
    gw = gateway_for(spec(**route))
    echo.hang_seconds = 3
    try:
        started = time.monotonic()
        r = requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer t"}, timeout=10)
        assert r.status_code == 504 and time.monotonic() - started < 2.5
    finally:
        echo.hang_seconds = 0
    gw = gateway_for(spec(backend={"type": "HTTP_BACKEND", "url": "http://127.0.0.1:9/x"}))
    assert requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 502


def test_functions_backend(gateway_for: Any, backend_fn: Scripted) -> None:
    gw = gateway_for(spec(backend={"type": "ORACLE_FUNCTIONS_BACKEND", "functionId": BACKEND_FN}))
    backend_fn.answer({"hello": "world"}, status=201, headers={"Content-Type": "application/json", "X-From": "fn"})
    r = requests.post(gw.url + "/HELLO/x?y=2", data=b'{"a":1}', timeout=10,
                      headers={"Authorization": "Bearer t", "Content-Type": "application/json", "X-Custom": "c"})
    assert r.status_code == 201 and r.json() == {"hello": "world"} and r.headers["X-From"] == "fn"
    call = backend_fn.calls()[-1]
    assert call["method"] == "POST" and call["url"] == "/api/HELLO/x?y=2" and call["body"] == '{"a":1}'
    assert call["http_headers"]["x-custom"] == "c"
    backend_fn.script.write_text(json.dumps({"fail": True}))
    assert requests.get(gw.url + "/HELLO/x", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 502


def test_routing(gateway_for: Any) -> None:
    gw = gateway_for(spec(path="/hello/{rest*}", methods=["GET"]))
    assert requests.get(gw.url + "/nothing", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 404
    assert requests.delete(gw.url + "/hello/x", headers={"Authorization": "Bearer t"}, timeout=10).status_code == 405
    assert requests.get(gw.url.replace("/api", "/other") + "/hello/x", timeout=10).status_code == 404


def test_request_header_over_8_kb_is_refused_quoting_nothing(gateway_for: Any, authz: Scripted,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """API Gateway's documented limit: 8 KB of request headers, method and URI
    included. The answer quotes nothing of the request, the terminal shows no
    traceback, and the authorizer is never called."""
    gw = gateway_for(spec())
    secretish = "Bearer " + "Q" * 9000
    with caplog.at_level("DEBUG", logger="aiohttp.server"):
        refused = requests.get(gw.url + "/HELLO/x", headers={"Authorization": secretish}, timeout=10)
        huge = requests.get(gw.url + "/HELLO/x", headers={"X-Big": "Q" * (2 * 1024 * 1024)}, timeout=10)
    assert refused.status_code == 431 and refused.json() == {"code": 431, "message": "Request Header Fields Too Large"}
    assert "QQQQ" not in refused.text and authz.calls() == []
    # Beyond 1 MB aiohttp's parser refuses on its own (400, docs/operations.md: it quotes
    # the first 100 bytes); still no traceback.
    assert huge.status_code == 400
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    # Just under the limit passes.
    fits = requests.get(gw.url + "/HELLO/x", headers={"Authorization": "Bearer " + "Q" * 7000}, timeout=10)
    assert fits.status_code == 200


# -- protected headers: transformations cannot touch them (documented), so they pass -----------------


def test_protected_request_headers_reach_the_http_backend_despite_an_allow_filter(gateway_for: Any,
                                                                                echo: EchoServer) -> None:
    """Protected Request Headers (apigatewaymodifyingresponsesrequests-protectedrequestresponseheaders.htm):
    an ALLOW list that does not name Cookie or X-Forwarded-For does not remove them, a BLOCK list that
    names them does not either, and a set or rename of one is not applied."""
    sent = {"Authorization": "Bearer t", "Cookie": "OICSESSION=stolen", "X-Forwarded-For": "10.0.0.1",
            "X-Real-IP": "10.0.0.2", "Origin": "https://evil.example", "X-Other": "dropped"}
    allow = {"filterHeaders": {"type": "ALLOW", "items": [{"name": "Authorization"}]}}
    gw = gateway_for(spec(requestPolicies={"headerTransformations": allow}))
    seen = requests.get(gw.url + "/A/x", headers=sent, timeout=10).json()["headers"]
    assert seen["Cookie"] == "OICSESSION=stolen" and seen["X-Forwarded-For"] == "10.0.0.1"
    assert seen["X-Real-IP"] == "10.0.0.2" and seen["Origin"] == "https://evil.example"
    assert "X-Other" not in seen
    block = {"filterHeaders": {"type": "BLOCK", "items": [{"name": "Cookie"}, {"name": "X-Forwarded-For"},
                                                         {"name": "X-Other"}]},
             "setHeaders": {"items": [{"name": "X-Real-IP", "values": ["127.0.0.1"], "ifExists": "OVERWRITE"}]},
             "renameHeaders": {"items": [{"from": "Origin", "to": "X-Origin"}]}}
    gw = gateway_for(spec(requestPolicies={"headerTransformations": block}))
    seen = requests.get(gw.url + "/A/x", headers=sent, timeout=10).json()["headers"]
    assert seen["Cookie"] == "OICSESSION=stolen" and seen["X-Forwarded-For"] == "10.0.0.1"
    assert seen["X-Real-IP"] == "10.0.0.2"  # the set is not applied
    assert seen["Origin"] == "https://evil.example" and "X-Origin" not in seen  # nor the rename
    assert "X-Other" not in seen


def test_protected_response_headers_reach_the_caller_unlisted(gateway_for: Any, echo: EchoServer) -> None:
    """Retry-After and Strict-Transport-Security are protected response headers: a response ALLOW list
    that does not name them leaves them, a set of one is not applied."""
    echo.reply_headers = {"Retry-After": "7", "Strict-Transport-Security": "max-age=1", "Server": "OIC"}
    try:
        policy = {"filterHeaders": {"type": "ALLOW", "items": [{"name": "Content-Type"}]},
                  "setHeaders": {"items": [{"name": "Retry-After", "values": ["0"], "ifExists": "OVERWRITE"}]}}
        gw = gateway_for(spec(responsePolicies={"headerTransformations": policy}))
        r = requests.get(gw.url + "/A/x", headers={"Authorization": "Bearer t"}, timeout=10)
        assert r.status_code == 200 and r.headers["Retry-After"] == "7"
        assert r.headers["Strict-Transport-Security"] == "max-age=1"
        assert "Server" not in r.headers or r.headers["Server"] != "OIC"
        assert "X-Echo" not in r.headers and r.headers["Content-Type"] == "application/json"
    finally:
        echo.reply_headers = {}


def test_the_shipped_authorizer_context_spec_lets_protected_headers_through(gateway_for: Any,
                                                                           echo: EchoServer) -> None:
    """The shipped filters, as OCI applies them: the caller's Cookie and X-Forwarded-For reach the
    HTTP backend (OIC), and OIC's Retry-After reaches the caller although no list names it."""
    shipped = json.loads((ROOT / "deploy" / "apigw-authorizer-context.json").read_text())
    route = shipped["routes"][0]
    listed = {i["name"].lower() for i in route["responsePolicies"]["headerTransformations"]["filterHeaders"]["items"]}
    assert "retry-after" not in listed
    echo.reply_headers = {"Retry-After": "3"}
    try:
        request_policy = {"headerTransformations": route["requestPolicies"]["headerTransformations"]}
        gw = gateway_for(spec(requestPolicies=request_policy, responsePolicies=route["responsePolicies"]))
        r = requests.get(gw.url + "/A/x", timeout=10, headers={
            "Authorization": "Bearer t", "Cookie": "c=1", "X-Forwarded-For": "10.0.0.1", "X-Other": "no"})
        seen = r.json()["headers"]
        assert seen["Cookie"] == "c=1" and seen["X-Forwarded-For"] == "10.0.0.1" and "X-Other" not in seen
        assert r.headers["Retry-After"] == "3"
    finally:
        echo.reply_headers = {}


# -- what OCI documents as invalid is refused, not emulated kindly ----------------

@pytest.mark.parametrize("expression", ["request.path[path]", "request.path[integration]", "request.auth[sub]",
                                        "request.method", "path"])
def test_an_authentication_parameter_oci_does_not_document_is_refused(expression: str) -> None:
    specification = spec({"parameters": {"token": "request.headers[Authorization]", "p": expression}})
    with pytest.raises(SpecificationRefused) as caught:
        LocalGateway(specification, functions={})
    message = str(caught.value)
    assert repr(expression) in message and AUTHENTICATION_PAGE in message
    assert "apigatewayusingauthorizerfunction_topic-Adding_authn_authz_request_policies.htm" in message


@pytest.mark.parametrize("expression", ["request.headers[X-Api-Key]", "request.query[state]", "request.host",
                                        "request.subdomain[x]", "request.cert[client_base64]", "request.body"])
def test_the_documented_tables_are_accepted(expression: str) -> None:
    check_specification(spec({"parameters": {"token": expression}}))


def test_more_than_fifty_routes_are_refused() -> None:
    route = spec()["routes"][0]
    check_specification({"routes": [dict(route, path=f"/R{n}/{{rest*}}") for n in range(50)]})
    with pytest.raises(SpecificationRefused) as caught:
        check_specification({"routes": [dict(route, path=f"/R{n}/{{rest*}}") for n in range(51)]})
    assert "at most 50 routes" in str(caught.value) and "apigatewaylimits.htm" in str(caught.value)


@pytest.mark.parametrize("name", ["apigw-authorizer-context.json", "apigw-access-policy.json",
                                  "apigw-function-backend.json", "apigw-usage-plans.json"])
def test_every_shipped_specification_passes(name: str) -> None:
    check_specification(json.loads((ROOT / "deploy" / name).read_text()))


def test_a_query_block_filter_matches_raw_names_and_forwards_the_rest_as_sent(gateway_for: Any,
                                                                             echo: EchoServer) -> None:
    """OCI's name matching is undocumented (docs/oci-fidelity.md): locally a BLOCK drops only the exact, undecoded
    name, so an encoded or upper-case spelling reaches the HTTP backend (the attacker's side), undecoded."""
    block = {"filterQueryParameters": {"type": "BLOCK", "items": [{"name": "integrationInstance"}, {"name": "wsdl"}]}}
    gw = gateway_for(spec(requestPolicies={"queryParameterTransformations": block}))
    parts = urlsplit(gw.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)  # requests would decode %49
    conn.request("GET", parts.path + "/HELLO/a?integration%49nstance=x&integrationInstance=y&INTEGRATIONINSTANCE=z"
                                     "&wsdl&a=%41&b=c%20d", headers={"Authorization": "Bearer client"})
    response = conn.getresponse()
    seen = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert seen["path"] == "/flows/HELLO/a?integration%49nstance=x&INTEGRATIONINSTANCE=z&a=%41&b=c%20d"
