"""The one path rule end to end: the backend function under fdk, and both
topologies through the local gateway reading deploy/*.json, in both of the
gateway's path decodings (see local/gateway.py: the documentation is silent,
so the attacker's side, and the other side too).

In the route topologies (authorizer-context, access-policy: one route per
integration, ``${request.path[rest]}`` in the backend URL) nobody of ours sees
the path: OCI gives an authorizer no ``request.path``. What ``{rest*}`` carries
and whether the URL is normalised before OIC is the gateway's, undocumented;
``test_the_route_topologies_leave_the_path_to_the_gateway`` shows what each
plausible behaviour lets through. Every attack of issue 10 is
in tests/test_paths.ATTACKS; the OIC stub records every path it is asked for,
so "refused" means OIC saw nothing at all."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from local.fnrun import ROOT, FnProcess
from local.gateway import LocalGateway
from local.oic import DESIGN_TIME, FLOWS, OIC_API_ROOT, PROJECT_FLOWS
from local.seed import Seeded
from local.stack import CONTEXT_SPEC, Stack, gateway_suffix, load_spec, start_stack
from oic_gateway.access.paths import IntegrationPath, integration_path
from oic_gateway.errors import BadPath
from tests.conftest import start_fn
from tests.unit.test_paths import ATTACKS, CLIMB_TO_DESIGN_TIME, LEGITIMATE, PROJECT_ATTACKS

BACKEND_DIR = ROOT / "token_exchange"
DECODINGS = ("decoded", "raw")
NORMALISATIONS = ("normalised", "verbatim")


def sendable(path: str) -> bool:
    """What an HTTP client can put in a request line at all."""
    return bool(path) and all(0x21 <= ord(c) < 0x7F for c in path) and "#" not in path and "?" not in path


HTTP_ATTACKS = [(path, reason) for path, reason in ATTACKS + PROJECT_ATTACKS if sendable(path)]


def at_oic(checked: IntegrationPath | str) -> str:
    """Where OIC is asked for a checked path (v1 flows, or v2 project flows)."""
    return OIC_API_ROOT + (integration_path(checked) if isinstance(checked, str) else checked).oic_api_path


def forwarded(path: str, canonical: str) -> str:
    """What the backend asks OIC for: the canonical path, with the caller's trailing
    slash kept (rules decide without it; OIC may tell the two apart, so it is sent as sent)."""
    return at_oic(canonical) + ("/" if path.endswith("/") and not canonical.endswith("/") else "")


def raw_request(url: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` exactly as written (no client-side normalisation)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def e2e(stack: Seeded) -> Iterator[Stack]:
    running = start_stack(stack, path_decodings=DECODINGS, url_normalisations=NORMALISATIONS)
    yield running
    running.stop()


def gateway(e2e: Stack, topology: str, decoding: str, normalisation: str = "normalised") -> LocalGateway:
    return e2e.gateways[topology + gateway_suffix(decoding, normalisation)]


def through(e2e: Stack, topology: str, decoding: str, path: str,
            normalisation: str = "normalised") -> tuple[int, dict[str, str], bytes, list[str]]:
    """One call as the vendor: status, headers, body and what OIC was asked for."""
    gw = gateway(e2e, topology, decoding, normalisation)
    seen = len(e2e.seeded.oic.paths)
    token = e2e.seeded.vendor_token()
    target = f"{urlsplit(gw.url).path}/{path.lstrip('/')}"
    status, headers, body = raw_request(gw.url, target, {"Authorization": f"Bearer {token}"})
    return status, headers, body, e2e.seeded.oic.paths[seen:]


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("topology", ["fn"])
@pytest.mark.parametrize("path, reason", HTTP_ATTACKS, ids=[repr(a[0])[:50] for a in HTTP_ATTACKS])
def test_attacks_never_reach_oic(e2e: Stack, topology: str, decoding: str, path: str, reason: str) -> None:
    status, headers, body, oic_saw = through(e2e, topology, decoding, path)
    # A decoding gateway hands on its decoded text: '/1.0/a%2Fb' arrives as
    # '/1.0/a/b', a plain integration path, and only then may reach its flow.
    seen_by_rule = unquote(path) if decoding == "decoded" else path
    try:
        allowed = integration_path(seen_by_rule)
    except BadPath:
        allowed = None
    if allowed is not None:
        assert "%" in path and status == 200
        assert [unquote(p) for p in oic_saw] == [at_oic(allowed)]
        return
    assert oic_saw == [], f"OIC was asked for {oic_saw}"
    assert 400 <= status < 500, (status, body[:200])
    if topology == "ctx" and status == 401:
        assert 'error="invalid_request"' in headers.get("www-authenticate", "")
    if topology == "fn" and status == 400:
        answer = json.loads(body)
        if "code" not in answer:  # not the gateway's own refusal: the backend function's
            assert set(answer) == {"error", "request_id"} and answer["error"] == "bad_path" and answer["request_id"]


ENCODED_QUERY_NAMES = ["integration%49nstance=other", "INTEGRATIONINSTANCE=other", "x=1%26wsdl",
                       "integrationIn%C5%BFtance=other"]


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("query", ENCODED_QUERY_NAMES)
def test_a_query_name_oic_reads_is_refused_by_the_backend_in_any_spelling(e2e: Stack, decoding: str,
                                                                          query: str) -> None:
    status, _, body, oic_saw = through(e2e, "fn", decoding, "/HELLO_WORLD/1.0/x?" + query)
    assert oic_saw == [] and status == 400 and json.loads(body)["error"] == "bad_query"


@pytest.mark.parametrize("topology", ["ctx", "acl"])
def test_the_route_topologies_block_only_the_exact_query_names(e2e: Stack, topology: str) -> None:
    """docs/oci-fidelity.md: OCI's name matching is undocumented, so the local gateway's BLOCK compares the raw,
    undecoded name exactly (the attacker's side); only the function backend refuses every spelling."""
    status, _, _, oic_saw = through(e2e, topology, "decoded", "/HELLO_WORLD/1.0/x?integrationInstance=o&a=1")
    assert status == 200 and [p.split("?", 1)[1] for p in oic_saw] == ["a=1"]
    status, _, _, oic_saw = through(e2e, topology, "decoded", "/HELLO_WORLD/1.0/x?integration%49nstance=o&a=1")
    assert status == 200 and [p.split("?", 1)[1] for p in oic_saw] == ["integration%49nstance=o&a=1"]


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("topology", ["fn"])
def test_the_issue_10_climb_to_the_design_time_api_is_refused(e2e: Stack, topology: str, decoding: str) -> None:
    status, _, _, oic_saw = through(e2e, topology, decoding, "/HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME)
    assert oic_saw == [] and status in (400, 401)


# The route topologies serve only the listed integrations (deploy/integrations.json), each
# under its own prefix with a resource path: ORDERS/1.0, HELLO_WORLD/1.0/... and the OIC 3
# project integration SALES/QUOTE/1.0/... here.
ROUTED = [(p, c) for p, c in LEGITIMATE if c.startswith(("/HELLO_WORLD/1.0/", "/ORDERS/1.0/"))] + [
    ("/project/SALES/QUOTE/1.0/quotes/42", "/project/SALES/QUOTE/1.0/quotes/42"),
    ("/project/SALES/QUOTE/1.0/user%40example.com", "/project/SALES/QUOTE/1.0/user@example.com"),
]


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("topology", ["ctx"])
@pytest.mark.parametrize("path, canonical", ROUTED, ids=[p for p, _ in ROUTED])
def test_listed_integrations_reach_exactly_their_flow(e2e: Stack, topology: str, decoding: str, path: str,
                                                      canonical: str) -> None:
    status, _, body, oic_saw = through(e2e, topology, decoding, path)
    assert status == 200, body[:200]
    assert [unquote(p.split("?")[0]) for p in oic_saw] == [at_oic(canonical)]


@pytest.mark.parametrize("topology", ["ctx", "acl"])
@pytest.mark.parametrize("path", ["/project/SALES/ORDERS/1.0/x", "/project/OTHER/QUOTE/1.0/x", "/QUOTE/1.0/x",
                                  "/project/SALES/QUOTE/2.0/x"])
def test_an_unlisted_project_integration_is_not_served(e2e: Stack, topology: str, path: str) -> None:
    status, _, _, oic_saw = through(e2e, topology, "decoded", path)
    assert status == 404 and oic_saw == []


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("topology", ["fn"])
@pytest.mark.parametrize("path, canonical", LEGITIMATE, ids=[p for p, _ in LEGITIMATE])
def test_legitimate_paths_reach_exactly_their_flow(e2e: Stack, topology: str, decoding: str, path: str,
                                                    canonical: str) -> None:
    status, _, body, oic_saw = through(e2e, topology, decoding, path)
    assert status == 200, body[:200]
    assert [unquote(p.split("?")[0]) for p in oic_saw] == [forwarded(path, canonical)]


def resolved(seen: str) -> str:
    """Where a path OIC was asked for leads once percent-decoded and its dot segments
    removed (RFC 3986 5.2.4), as a backend that normalises would read it."""
    out: list[str] = []
    for segment in unquote(seen.split("?")[0]).split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    return "/".join(out)


def escapes(e2e: Stack, topology: str, decoding: str,
            normalisation: str = "normalised") -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The attacks on HELLO_WORLD's route that OIC received outside HELLO_WORLD's own
    prefix (``outside``), and those it received inside it, but with dot segments that
    climb out once resolved (``climbing``: outside on an OIC that normalises)."""
    own = FLOWS + "HELLO_WORLD/1.0/"
    outside: dict[str, list[str]] = {}
    climbing: dict[str, list[str]] = {}
    for path, _ in [*HTTP_ATTACKS, ("/HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME, "climb")]:
        if not path.lstrip("/").startswith("HELLO_WORLD/1.0/"):
            continue
        _, _, _, oic_saw = through(e2e, topology, decoding, path, normalisation)
        if found := [seen for seen in oic_saw if not unquote(seen).startswith(own)]:
            outside[path] = found
        if found := [seen for seen in oic_saw if unquote(seen).startswith(own) and not resolved(seen).startswith(own)]:
            climbing[path] = found
    return outside, climbing


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("topology", ["ctx", "acl"])
def test_the_route_topologies_leave_the_path_to_the_gateway(e2e: Stack, topology: str, decoding: str,
                                                            normalisation: str) -> None:
    """Known and documented (README, docs/security.md, docs/oci-fidelity.md): in the
    route topologies nobody of ours checks the path, so isolation between integrations
    rests on two undocumented behaviours, and every plausible combination runs here.

    * ``normalised`` (the gateway's HTTP client removes dot segments, RFC 3986 5.2.4,
      from the URL it builds), either decoding: a caller granted HELLO_WORLD reaches
      other flows (ORDERS, which the ``/acl`` rules deny this caller; a project
      integration) and the design-time API with the OIC token: ``%2e%2e`` survives route
      matching as text and becomes ``..`` on the way to OIC.
    * ``verbatim`` (the URL sent as built), either decoding: OIC is asked only for paths
      under HELLO_WORLD's prefix, but they carry ``..`` (decoded) or ``%2e%2e`` (raw)
      segments that climb out on an OIC that resolves them, which is OIC's behaviour,
      also undocumented. The stub here does not resolve them.

    So no combination is safe by itself, and the function-backend topology, which checks
    the path itself (test_attacks_never_reach_oic), is the one for strict per-integration
    isolation. If this test fails, the local gateway changed: re-read the README's
    promise before changing it."""
    outside, climbing = escapes(e2e, topology, decoding, normalisation)
    climb = "/HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME
    own = FLOWS + "HELLO_WORLD/1.0/"
    if topology == "acl":  # the rules deny this caller ORDERS: asked for directly, it is refused
        status, _, _, oic_saw = through(e2e, topology, decoding, "/ORDERS/1.0/x", normalisation)
        assert status == 403 and oic_saw == []
    # ... yet a climb from HELLO_WORLD's route reaches ORDERS, and another into a project integration
    # (v2, another shape) reaches it too: outside HELLO_WORLD's prefix at the gateway (normalised), or
    # inside it with dot segments that climb out on an OIC that resolves them (verbatim).
    for path, target in (("/HELLO_WORLD/1.0/%2e%2e/%2e%2e/ORDERS/1.0/x", FLOWS + "ORDERS/1.0/x"),
                         ("/HELLO_WORLD/1.0/" + "%2e%2e/" * 5 + "v2/flows/rest/project/SALES/QUOTE/1.0/x",
                          PROJECT_FLOWS + "SALES/QUOTE/1.0/x")):
        _, _, _, oic_saw = through(e2e, topology, decoding, path, normalisation)
        assert [resolved(seen) for seen in oic_saw] == [target], (path, oic_saw)
        assert unquote(oic_saw[0]).startswith(own) == (normalisation == "verbatim"), oic_saw
    if normalisation == "normalised":
        assert outside.get(climb) == [DESIGN_TIME], outside
        assert "/HELLO_WORLD/1.0/%2E%2E/x" in outside
    else:
        assert outside == {}, outside
        assert climb in climbing and resolved(climbing[climb][0]) == DESIGN_TIME, climbing
        dots = "%2e%2e/" if decoding == "raw" else "../"
        assert all(dots in seen.lower() for seen in climbing[climb]), climbing


def test_the_old_route_shape_was_steerable(e2e: Stack) -> None:
    """Why the spec changed: with the backend URL built from the route's path
    parameters and no path given to the authorizer, the same climb reaches
    the design-time API with the OIC token on this gateway. (Shows the tests
    above can fail.)"""
    spec: dict[str, Any] = load_spec(CONTEXT_SPEC)
    spec["requestPolicies"]["authentication"]["parameters"] = {"token": "request.headers[Authorization]"}
    spec["requestPolicies"]["authentication"]["cacheKey"] = ["token"]
    route = spec["routes"][0]
    route["path"] = "/{integration}/{version}/{rest*}"
    route["backend"]["url"] = ("https://<oic-host>/ic/api/integration/v1/flows/rest/"
                               "${request.path[integration]}/${request.path[version]}/${request.path[rest]}")
    sockets = {"<authorizer-context-function-ocid>": str(e2e.functions["authorizer-context"].socket_path)}
    old = LocalGateway(spec, functions=sockets, path_prefix="/old",
                       url_rewrites={"https://<oic-host>": e2e.seeded.oic.url}).start()
    try:
        seen = len(e2e.seeded.oic.paths)
        status, _, body = raw_request(old.url, "/old/HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME,
                                      {"Authorization": f"Bearer {e2e.seeded.vendor_token()}"})
        assert status == 200 and json.loads(body)["design_time_api"] is True
        assert e2e.seeded.oic.paths[seen:] == [DESIGN_TIME]
    finally:
        old.stop()


# -- the backend function alone, under fdk (as a gateway, or anyone allowed to invoke it, calls it)


@pytest.fixture(scope="module")
def backend(stack: Seeded) -> Iterator[FnProcess]:
    env = {**stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url,
           "GATEWAY_PATH_PREFIX": "/oic"}
    with start_fn(env, BACKEND_DIR) as fn:
        yield fn


def backend_call(fn: FnProcess, url: str, token: str) -> tuple[int, bytes, str]:
    call_id = "call-" + str(abs(hash(url)))
    result = fn.call(b"", headers={"Fn-Call-Id": call_id, "Fn-Intent": "httprequest", "Fn-Http-Method": "GET",
                                   "Fn-Http-Request-Url": url, "Fn-Http-H-Authorization": f"Bearer {token}"})
    assert result.status == 200, result.body  # the transport status; the HTTP one is in Fn-Http-Status
    return int(result.headers.get("fn-http-status", "200")), result.body, call_id


@pytest.mark.parametrize("path, reason", HTTP_ATTACKS, ids=[repr(a[0])[:50] for a in HTTP_ATTACKS])
def test_backend_answers_400_bad_path_and_logs_the_reason(stack: Seeded, backend: FnProcess, path: str,
                                                          reason: str) -> None:
    seen, before = len(stack.oic.paths), len(backend.output().splitlines())
    url = "/oic" + (path if path.startswith("/") else "/" + path)
    status, body, call_id = backend_call(backend, url, stack.vendor_token())
    assert stack.oic.paths[seen:] == []
    assert status == 400
    assert json.loads(body) == {"error": "bad_path", "request_id": call_id}
    lines = [json.loads(line) for line in backend.output().splitlines()[before:] if line.startswith("{")]
    (logged,) = [line for line in lines if line.get("call_id") == call_id]
    assert logged["status"] == 400 and logged["reason"] == "bad_path"
    # Behind the prefix a path always has its leading '/': only then is the rule's reason the same.
    assert logged["detail"].startswith(reason + ": " if path.startswith("/") else "bad_path"), logged


@pytest.mark.parametrize("url", ["//evil.example/oic/HELLO_WORLD/1.0/x", "/oic/HELLO_WORLD/1.0/x#frag"])
def test_backend_refuses_request_targets_that_are_not_paths(stack: Seeded, backend: FnProcess, url: str) -> None:
    seen = len(stack.oic.paths)
    status, body, _ = backend_call(backend, url, stack.vendor_token())
    assert status == 400 and json.loads(body)["error"] == "bad_path" and stack.oic.paths[seen:] == []


@pytest.mark.parametrize("path, canonical", LEGITIMATE, ids=[p for p, _ in LEGITIMATE])
def test_backend_forwards_the_canonical_path(stack: Seeded, backend: FnProcess, path: str, canonical: str) -> None:
    seen = len(stack.oic.paths)
    status, body, _ = backend_call(backend, "/oic/" + path.lstrip("/") + "?lang=en", stack.vendor_token())
    assert status == 200, body
    assert stack.oic.paths[seen:] == [forwarded(path, canonical) + "?lang=en"]
