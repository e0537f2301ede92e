"""A local stand-in for OCI API Gateway, driven by the same deployment
specification JSON that is deployed (``deploy/*.json``), on aiohttp.

It does what the OCI documentation says the gateway does, and no more:

* ``CUSTOM_AUTHENTICATION``: single-argument (``tokenHeader`` / ``tokenQueryParam``:
  ``{"type":"TOKEN","token":...}``) and multi-argument (``parameters``:
  ``{"type":"USER_DEFINED","data":{...}}``, a repeated header or query
  parameter as a JSON array, a missing one omitted);
* answers cached by ``cacheKey`` (all arguments by default) until
  ``expiresAt`` clamped to [60 s, 1 h] (60 s when missing or invalid);
* ``active:false`` -> 401 with its ``wwwAuthenticate``, or what
  ``validationFailurePolicy`` (``MODIFY_RESPONSE``) says; the function failing
  -> 502;
* route ``authorization``: ``AUTHENTICATION_ONLY`` (default), ``ANY_OF`` with
  ``allowedScope`` (exact, case-sensitive strings: AnyOfRouteAuthorizationPolicy;
  403 when none matches, a status OCI does not document, with a body that
  names no scope), ``ANONYMOUS``;
* a specification OCI documents as invalid is refused (``check_specification``):
  an authentication parameter reading a table OCI does not list for it
  (``request.path``: authentication runs before route path parameters exist),
  more than 50 routes;
* ``headerTransformations`` of a route's request and response policies
  (rename, set, then filter, as documented) with ``${request.auth[x]}``,
  ``${request.path[x]}``, ``${request.headers[x]}``, ``${request.query[x]}``;
  a missing key becomes an empty string;
* ``queryParameterTransformations`` ``filterQueryParameters`` (``BLOCK`` /
  ``ALLOW``) on ``HTTP_BACKEND`` routes, on the raw query string: names compared
  exactly and undecoded (``_filter_query``), the rest forwarded as sent;
* protected headers (below): a transformation that names one is not applied,
  and a filter (``ALLOW`` or ``BLOCK``) never removes one;
* ``usagePlans`` (``tokenLocations``) with usage plans and subscribers
  given to the gateway (``local.usage_plans``): 429 beyond an entitlement's
  rate limit or quota;
* ``HTTP_BACKEND`` with its connect/read/send timeouts (502 unreachable,
  504 timed out), ``ORACLE_FUNCTIONS_BACKEND`` (the function called with the
  ``Fn-Intent: httprequest`` / ``Fn-Http-*`` headers, its ``Fn-Http-Status``
  and ``Fn-Http-H-*`` turned back into a real response), ``STOCK_RESPONSE_BACKEND``.

Path parameters: the documentation says a parameter replaces one segment
and ``{name*}`` any number of them
(https://docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewayaddingparamswildcards.htm),
and that ``request.path[name]`` may be used in header values and backend URLs
(not in authentication parameters: see ``check_specification``)
(https://docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewaycontextvariables.htm).
It says nothing about percent-decoding, so this gateway takes the attacker's
side, chosen with ``path_decoding``:

* ``"decoded"`` (default): routes match the path percent-decoded once (as
  aiohttp gives it: even ``%2F`` becomes ``/``), parameters carry that text, it is put
  into backend URLs as it is, and the HTTP client then removes dot segments
  (RFC 3986 5.2.4), as the issue-10 attack needed: ``%2e%2e/`` becomes a
  ``..`` that climbs out of the backend URL's path;
* ``"raw"``: parameters are the text the client sent, still encoded, for the
  hops after the gateway to decode.

Nor does it say whether the gateway normalises the HTTP backend URL it builds
before sending it, chosen with ``url_normalisation``:

* ``"normalised"`` (default): the URL goes to aiohttp as text, which requotes
  it (``%2e`` becomes ``.``) and removes dot segments (RFC 3986 5.2.4) before
  the request line is written;
* ``"verbatim"``: the URL is sent as built (``yarl.URL(..., encoded=True)``),
  dot segments and percent-escapes kept; only characters that cannot appear in
  a request line at all (a decoded space, say) are percent-encoded. What the
  backend then does with ``..`` or ``%2e%2e`` is the backend's.

The function backend gets ``Fn-Http-Request-Url`` in the same form.

Functions are reached over their fdk unix sockets: ``functions`` maps each
``functionId`` in the specification to a socket path, or to a list of them
(several containers of one function, called round-robin as a scaled-out
function is; ``make fleet``). ``url_rewrites`` maps
placeholders in backend URLs (e.g. ``https://<oic-host>``) to local servers.

Protected headers. "Protected Request Headers and Response Headers"
(https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/apigatewaymodifyingresponsesrequests-protectedrequestresponseheaders.htm)
lists the headers that header transformation policies cannot transform, and
"Header transformations do not work as expected"
(https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/apigatewaytroubleshooting_topic-header_transformations_do_not_work.htm)
says such a transformation is simply not applied: no deployment refusal is
documented, so none is made here. A protected header therefore passes
whatever the filters say. What "passes" means here (undocumented, so the
choice least kind to the backend):

* end-to-end ones (request: ``Cookie``, ``X-Forwarded-For``, ``X-Real-IP``,
  ``Origin``, ``CDN-Loop``, ``Proxy-Authorization``, ``opc-request-id``;
  response: ``Retry-After``, ``Access-Control-*``, ``Strict-Transport-Security``,
  ``X-Frame-Options``, ...) travel on exactly as sent: the backend gets the
  caller's ``Cookie`` and ``X-Forwarded-For``, the caller gets the backend's
  ``Retry-After``. Whether OCI also appends the client's address to
  ``X-Forwarded-For`` is undocumented: the caller's value is kept, as spoofed;
* framing and connection ones (``Connection``, ``Keep-Alive``, ``TE``,
  ``Trailer(s)``, ``Transfer-Encoding``, ``Upgrade``, ``Content-Length``,
  ``Expect``) belong to each hop (RFC 9110 7.6.1): aiohttp answers or
  computes them for the next hop, no transformation changes them, and they
  are never copied from one hop to the next.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from local.usage_plans import UsagePlans

PATH_DECODINGS = {"decoded", "raw"}
URL_NORMALISATIONS = {"normalised", "verbatim"}
# ``url_normalisation="verbatim"``: what stays as built (RFC 3986 reserved characters, and
# "%" so that escapes are kept); anything else is percent-encoded to fit a request line.
_VERBATIM_SAFE = "!#$%&'()*+,/:;=?@[]~"
# What a multi-argument authentication parameter may read: headers and query
# (the authorizer pages), host and subdomain (release note, Sept 2022), cert
# and body (the multi-argument page's list, per the project's notes). Not
# request.path: authentication runs for the deployment before any route's path
# parameters exist. https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/
# apigatewayusingauthorizerfunction_topic-Adding_authn_authz_request_policies.htm
AUTHENTICATION_TABLES = {"request.headers", "request.query", "request.cert", "request.host", "request.subdomain",
                         "request.body"}
AUTHENTICATION_PAGE = ("https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/"
                       "apigatewayusingauthorizerfunction_topic-Adding_authn_authz_request_policies.htm")
# API Gateway Internal Limits: "Number of routes per API deployment", 50, cannot be changed.
MAX_ROUTES = 50
LIMITS_PAGE = "https://docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaylimits.htm"
MIN_CACHE_SECONDS = 60.0
# API Gateway Internal Limits: request headers 8 KB, method and URI included
# (docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaylimits.htm).
# The status it answers beyond that is not documented: 431 (RFC 6585) here.
MAX_REQUEST_HEADER_BYTES = 8 * 1024
_PARSER_LIMIT = 1024 * 1024
MAX_CACHE_SECONDS = 3600.0
_EXPRESSION = re.compile(r"\$\{(request\.[a-z]+)(?:\[([^\]]*)\])?\}")
_ARGUMENT = re.compile(r"(request\.[a-z]+)(?:\[([^\]]*)\])?")
# Each hop's own (RFC 9110 7.6.1), never copied from one hop to the next:
# aiohttp answers or computes them. Host comes from the backend URL.
_HOP_BY_HOP = {"connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host",
               "content-length", "expect"}
# What aiohttp writes itself on the caller's response.
_FRAMING = {"content-length", "transfer-encoding", "connection", "date"}

# Header transformation policies cannot transform these (Protected Request Headers and
# Response Headers, https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/apigatewaymodifyingresponsesrequests-protectedrequestresponseheaders.htm;
# the page writes "except" where the header is Expect). A transformation naming one is
# not applied, a filter never removes one (apigatewaytroubleshooting_topic-header_transformations_do_not_work.htm).
PROTECTED_REQUEST = frozenset({
    "cdn-loop", "connection", "content-length", "cookie", "expect", "keep-alive", "opc-request-id", "origin",
    "proxy-authorization", "te", "transfer-encoding", "upgrade", "x-forwarded-for", "x-real-ip",
})
PROTECTED_RESPONSE = frozenset({
    "access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
    "access-control-allow-origin", "access-control-expose-headers", "access-control-max-age", "connection",
    "content-length", "expect", "keep-alive", "opc-request-id", "proxy-authenticate", "public-key-pins",
    "retry-after", "strict-transport-security", "te", "trailers", "transfer-encoding", "upgrade",
    "x-content-type-options", "x-frame-options", "x-xss-protection",
})


class SpecificationRefused(ValueError):
    """A specification OCI documents as invalid (``deployment create`` would refuse it, or
    the construct would not work): the message names the construct and the page."""


def check_specification(spec: dict[str, Any]) -> None:
    """Refuse what OCI does not document: an authentication parameter reading a
    table not among ``AUTHENTICATION_TABLES``, more than ``MAX_ROUTES`` routes."""
    authentication = spec.get("requestPolicies", {}).get("authentication") or {}
    for name, expression in (authentication.get("parameters") or {}).items():
        match = _ARGUMENT.fullmatch(str(expression).strip())
        table = match.group(1) if match is not None else str(expression)
        if table not in AUTHENTICATION_TABLES:
            raise SpecificationRefused(
                f"authentication parameter {name!r} reads {expression!r}: {table} is not among the context tables "
                f"an authentication parameter may read ({', '.join(sorted(AUTHENTICATION_TABLES))}; "
                f"{AUTHENTICATION_PAGE})")
    routes = spec.get("routes", [])
    if len(routes) > MAX_ROUTES:
        raise SpecificationRefused(f"{len(routes)} routes: OCI allows at most {MAX_ROUTES} routes per API deployment "
                                   f"({LIMITS_PAGE})")


@dataclass
class Route:
    path: str
    pattern: re.Pattern[str]
    methods: set[str]
    backend: dict[str, Any]
    policies: dict[str, Any]
    response_policies: dict[str, Any] = field(default_factory=dict)


@dataclass
class Auth:
    """The authorizer's answer, as the rest of the request sees it."""

    authenticated: bool
    context: dict[str, str] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)


def compile_route(path: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            out += f"(?P<{name[:-1]}>.*)" if name.endswith("*") else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out)


def cache_seconds(expires_at: Any, now: float) -> float:
    if not isinstance(expires_at, str):
        return MIN_CACHE_SECONDS
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return MIN_CACHE_SECONDS
    if when.tzinfo is None:
        return MIN_CACHE_SECONDS
    return min(max(when.timestamp() - now, MIN_CACHE_SECONDS), MAX_CACHE_SECONDS)


class LocalGateway:
    def __init__(
        self,
        spec: dict[str, Any],
        *,
        functions: Mapping[str, str | list[str]],
        path_prefix: str = "",
        url_rewrites: dict[str, str] | None = None,
        usage_plans: UsagePlans | None = None,
        clock: Callable[[], float] = time.time,
        path_decoding: str = "decoded",
        url_normalisation: str = "normalised",
    ) -> None:
        if path_decoding not in PATH_DECODINGS:
            raise ValueError(f"path_decoding must be one of {sorted(PATH_DECODINGS)}")
        if url_normalisation not in URL_NORMALISATIONS:
            raise ValueError(f"url_normalisation must be one of {sorted(URL_NORMALISATIONS)}")
        check_specification(spec)
        self.path_decoding = path_decoding
        self.url_normalisation = url_normalisation
        self.spec = spec
        self.functions = {fid: itertools.cycle([where] if isinstance(where, str) else where)
                          for fid, where in functions.items()}
        self.path_prefix = path_prefix.rstrip("/")
        self.url_rewrites = url_rewrites or {}
        self.usage_plans = usage_plans
        self.clock = clock
        self.routes = [
            Route(r["path"], compile_route(r["path"]), {m.upper() for m in r.get("methods", ["ANY"])},
                  r["backend"], r.get("requestPolicies", {}), r.get("responsePolicies", {}))
            for r in spec.get("routes", [])
        ]
        self.auth_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.authorizer_calls = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._function_sessions: dict[str, aiohttp.ClientSession] = {}

    # -- life cycle (a thread with its own event loop) ---------------------------

    def start(self, port: int = 0) -> LocalGateway:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start(port))
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="local-gateway", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("local gateway did not start")
        return self

    async def _start(self, port: int) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # aiohttp's own limit (8190 bytes a line) would answer a long header
        # with a 400 that quotes the header's start, and log a traceback.
        # Let aiohttp read up to 1 MB, and apply API Gateway's 8 KB below.
        self._runner = web.AppRunner(app, access_log=None, max_line_size=_PARSER_LIMIT,
                                     max_field_size=_PARSER_LIMIT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}{self.path_prefix}"

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._session is not None:
                await self._session.close()
            for session in self._function_sessions.values():
                await session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    # -- a request ---------------------------------------------------------------

    def _request_path(self, request: web.Request) -> str:
        if self.path_decoding == "raw":
            return request.raw_path.split("?", 1)[0]
        return request.path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request_header_bytes(request) > MAX_REQUEST_HEADER_BYTES:
            return _error(431, "Request Header Fields Too Large")
        path = self._request_path(request)
        if self.path_prefix and not (path == self.path_prefix or path.startswith(self.path_prefix + "/")):
            return _error(404, "Not Found")
        path = path[len(self.path_prefix):] or "/"
        matched = [(route, route.pattern.fullmatch(path)) for route in self.routes]
        candidates = [(route, match) for route, match in matched if match is not None]
        if not candidates:
            return _error(404, "Not Found")
        allowed = [(r, m) for r, m in candidates if "ANY" in r.methods or request.method in r.methods]
        if not allowed:
            return _error(405, "Method Not Allowed")
        route, match = allowed[0]
        path_params = {k: v for k, v in match.groupdict().items() if v is not None}
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            # A decoded control character cannot travel on in a URL or a header.
            return _error(400, "Bad Request")
        body = await request.read()

        authorization = route.policies.get("authorization", {}).get("type", "AUTHENTICATION_ONLY")
        auth = Auth(authenticated=False)
        authn = self.spec.get("requestPolicies", {}).get("authentication")
        if authn is not None:
            anonymous = authorization == "ANONYMOUS"
            outcome = await self._authenticate(authn, request, path_params, anonymous_route=anonymous)
            if isinstance(outcome, web.StreamResponse):
                return outcome
            auth = outcome
        if authorization != "ANONYMOUS" and not auth.authenticated:
            return _error(401, "Unauthorized")
        if authorization == "ANY_OF":
            allowed_scopes = set(route.policies["authorization"].get("allowedScope", []))
            if allowed_scopes.isdisjoint(auth.scopes):
                return _error(403, "Forbidden")
        plans_policy = self.spec.get("requestPolicies", {}).get("usagePlans")
        if plans_policy is not None and self.usage_plans is not None:
            client_token = next((str(value) for value in (
                self._context_value(location, request, path_params, auth)
                for location in plans_policy.get("tokenLocations", [])) if value), None)
            refusal = self.usage_plans.admit(client_token)
            if refusal is not None:
                refused = _error(refusal.status, refusal.message)
                if refusal.retry_after is not None:
                    refused.headers["Retry-After"] = str(refusal.retry_after)
                return refused

        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        query = _filter_query(route.policies.get("queryParameterTransformations"), request.rel_url.raw_query_string)
        self._transform(route.policies.get("headerTransformations"), headers, request, path_params, auth,
                        PROTECTED_REQUEST)
        backend = route.backend
        kind = backend.get("type")
        if kind == "HTTP_BACKEND":
            response = await self._http_backend(backend, request.method, headers, query, body, request, path_params,
                                                auth)
        elif kind == "ORACLE_FUNCTIONS_BACKEND":
            response = await self._function_backend(backend, request, headers, body)
        elif kind == "STOCK_RESPONSE_BACKEND":
            response = web.Response(status=int(backend.get("status", 200)), body=backend.get("body", ""),
                                    headers={h["name"]: h["value"] for h in backend.get("headers", [])})
        else:
            return _error(500, "Unsupported backend")
        # Route response policies: the backend's headers on their way to the client.
        policy = route.response_policies.get("headerTransformations")
        if policy:
            returned = CIMultiDict(response.headers)
            self._transform(policy, returned, request, path_params, auth, PROTECTED_RESPONSE)
            for name in list(response.headers.keys()):
                if name.lower() not in _FRAMING:
                    response.headers.popall(name, None)
            response.headers.extend((k, v) for k, v in returned.items() if k.lower() not in _FRAMING)
        return response

    # -- authentication -----------------------------------------------------------

    def _arguments(self, authn: dict[str, Any], request: web.Request,
                   path_params: dict[str, str]) -> tuple[dict[str, Any], list[str]] | None:
        if "parameters" in authn:
            data: dict[str, Any] = {}
            for name, expression in authn["parameters"].items():
                value = self._context_value(expression, request, path_params, Auth(False), as_list=True)
                if value is not None:
                    data[name] = value
            return {"type": "USER_DEFINED", "data": data}, list(authn.get("cacheKey") or authn["parameters"])
        if "tokenHeader" in authn:
            token = request.headers.get(authn["tokenHeader"])
        else:
            token = request.query.get(authn.get("tokenQueryParam", ""))
        if token is None:
            return None
        return {"type": "TOKEN", "token": token}, ["token"]

    async def _authenticate(self, authn: dict[str, Any], request: web.Request, path_params: dict[str, str],
                            anonymous_route: bool) -> Auth | web.StreamResponse:
        anonymous_ok = anonymous_route and bool(authn.get("isAnonymousAccessAllowed"))
        built = self._arguments(authn, request, path_params)
        if built is None:
            # Single-argument and no token at all: refused without calling the function.
            return Auth(False) if anonymous_ok else self._failure(authn, 'Bearer realm="gateway"')
        event, cache_key_names = built
        if event["type"] == "TOKEN":
            key = json.dumps(["TOKEN", event["token"]])
        else:
            key = json.dumps(["USER_DEFINED", [[n, event["data"].get(n)] for n in cache_key_names]])
        now = self.clock()
        cached = self.auth_cache.get(key)
        if cached is not None and now < cached[0]:
            answer = cached[1]
        else:
            function_id = authn.get("functionId", "")
            self.authorizer_calls += 1
            status, _, raw = await self._call_function(function_id, json.dumps(event).encode(), {})
            if status != 200:
                return _error(502, "Bad Gateway")
            try:
                answer = json.loads(raw)
            except ValueError:
                return _error(502, "Bad Gateway")
            if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
                return _error(502, "Bad Gateway")
            if answer["active"]:
                self.auth_cache[key] = (now + cache_seconds(answer.get("expiresAt"), now), answer)
        if not answer["active"]:
            if anonymous_ok:
                return Auth(False)
            return self._failure(authn, str(answer.get("wwwAuthenticate") or 'Bearer realm="gateway"'))
        scope = answer.get("scope") or []
        scopes = scope.split() if isinstance(scope, str) else [s for s in scope if isinstance(s, str)]
        context = {k: str(v) for k, v in (answer.get("context") or {}).items()}
        return Auth(True, context, scopes)

    def _failure(self, authn: dict[str, Any], challenge: str) -> web.StreamResponse:
        policy = authn.get("validationFailurePolicy")
        if policy and policy.get("type") == "MODIFY_RESPONSE":
            status = int(policy.get("responseCode", "401"))
            response = web.Response(status=status, text=policy.get("responseMessage", ""))
            items = (policy.get("responseTransformations", {}).get("headerTransformations", {})
                     .get("setHeaders", {}).get("items", []))
            for item in items:
                if item["name"].lower() not in PROTECTED_RESPONSE:  # not applied, as in route policies
                    response.headers[item["name"]] = ",".join(item.get("values", []))
            return response
        response = _error(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = challenge
        return response

    # -- context variables and header transformations -----------------------------

    def _context_value(self, expression: str, request: web.Request, path_params: dict[str, str], auth: Auth,
                       as_list: bool = False) -> Any:
        match = _ARGUMENT.fullmatch(expression.strip())
        if match is None:
            return None
        table, key = match.group(1), match.group(2)
        if table == "request.headers":
            values = request.headers.getall(key or "", [])
        elif table == "request.query":
            values = request.query.getall(key or "", [])
        elif table == "request.path":
            values = [path_params[key]] if key in path_params else []
        elif table == "request.auth":
            values = [auth.context[key]] if key in auth.context else []
        elif table == "request.host":
            values = [request.host]
        elif table == "request.method":
            values = [request.method]
        else:
            values = []
        if not values:
            return None
        if as_list and len(values) > 1:
            return list(values)
        return values[0] if as_list else ",".join(values)

    def _substitute(self, template: str, request: web.Request, path_params: dict[str, str], auth: Auth) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1) + (f"[{match.group(2)}]" if match.group(2) is not None else "")
            value = self._context_value(expression, request, path_params, auth)
            return "" if value is None else str(value)  # documented: a missing key is an empty string

        return _EXPRESSION.sub(one, template)

    def _transform(self, policy: dict[str, Any] | None, headers: CIMultiDict[str], request: web.Request,
                   path_params: dict[str, str], auth: Auth, protected: frozenset[str]) -> None:
        """Rename, set, then filter: "The gateway applies filters after other transformations, so
        any headers set or renamed must also be listed here when using an ALLOW type policy"
        (FilterHeaderPolicy, https://docs.oracle.com/en-us/iaas/tools/dotnet/90.1.0/api/Oci.ApigatewayService.Models.FilterHeaderPolicy.html).
        The same for request and response policies. ``protected``: the headers no
        transformation changes (module docstring): a rename from or to one, or a set
        of one, is not applied; a filter of either type leaves them."""
        if not policy:
            return
        for item in policy.get("renameHeaders", {}).get("items", []):
            if item["from"].lower() in protected or item["to"].lower() in protected:
                continue
            values = headers.getall(item["from"], [])
            if values:
                headers.popall(item["from"])
                for value in values:
                    headers.add(item["to"], value)
        for item in policy.get("setHeaders", {}).get("items", []):
            if item["name"].lower() in protected:
                continue
            value = ",".join(self._substitute(v, request, path_params, auth) for v in item.get("values", []))
            mode = item.get("ifExists", "OVERWRITE")
            if item["name"] in headers:
                if mode == "SKIP":
                    continue
                if mode == "APPEND":
                    headers[item["name"]] = headers[item["name"]] + "," + value
                    continue
            headers[item["name"]] = value
        filters = policy.get("filterHeaders")
        if filters:
            names = {item["name"].lower() for item in filters.get("items", [])}
            for name in list(headers.keys()):
                if name.lower() in protected:
                    continue
                blocked = name.lower() in names if filters.get("type") == "BLOCK" else name.lower() not in names
                if blocked:
                    headers.popall(name, None)

    # -- backends ---------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        return self._session

    async def _http_backend(self, backend: dict[str, Any], method: str, headers: CIMultiDict[str],
                            query: str, body: bytes, request: web.Request,
                            path_params: dict[str, str], auth: Auth) -> web.StreamResponse:
        url = self._substitute(backend["url"], request, path_params, auth)
        for placeholder, local in self.url_rewrites.items():
            url = url.replace(placeholder, local)
        timeout = aiohttp.ClientTimeout(
            sock_connect=float(backend.get("connectTimeoutInSeconds", 60)),
            sock_read=float(backend.get("readTimeoutInSeconds", 10)),
        )
        target: str | yarl.URL = url
        if self.url_normalisation == "verbatim":
            target = yarl.URL(quote(url, safe=_VERBATIM_SAFE), encoded=True)
        if query:
            # The caller's query as sent (what was not filtered out), never decoded and encoded again.
            encoded = str(target if isinstance(target, yarl.URL) else yarl.URL(target))
            target = yarl.URL(encoded + ("&" if "?" in encoded else "?") + query, encoded=True)
        try:
            async with self._client().request(method, target, headers=headers, data=body or None,
                                              timeout=timeout, allow_redirects=False) as upstream:
                payload = await upstream.read()
                out = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                                  and k.lower() != "content-encoding")
                return web.Response(status=upstream.status, body=payload, headers=out)
        except TimeoutError:
            return _error(504, "Gateway Timeout")
        except aiohttp.ClientError:
            return _error(502, "Bad Gateway")

    async def _function_backend(self, backend: dict[str, Any], request: web.Request, headers: CIMultiDict[str],
                                body: bytes) -> web.StreamResponse:
        fn_headers = {
            "Fn-Intent": "httprequest",
            "Fn-Http-Method": request.method,
            "Fn-Http-Request-Url": self._request_path(request) + (f"?{request.rel_url.raw_query_string}"
                                                                   if request.rel_url.raw_query_string else ""),
            "Content-Type": headers.get("Content-Type", "application/octet-stream"),
        }
        extra = [(f"Fn-Http-H-{k}", v) for k, v in headers.items() if k.lower() != "content-type"]
        status, response_headers, payload = await self._call_function(backend.get("functionId", ""), body,
                                                                      fn_headers, extra)
        if status != 200:
            return _error(502 if status != 504 else 504, "Bad Gateway" if status != 504 else "Gateway Timeout")
        out: CIMultiDict[str] = CIMultiDict()
        for name, value in response_headers.items():
            lower = name.lower()
            if lower.startswith("fn-http-h-") and lower[len("fn-http-h-"):] not in _HOP_BY_HOP:
                out.add(name[len("fn-http-h-"):], value)
        if "Content-Type" not in out and "content-type" in response_headers:
            out["Content-Type"] = response_headers["content-type"]
        return web.Response(status=int(response_headers.get("fn-http-status", "200")), body=payload, headers=out)

    async def _call_function(self, function_id: str, body: bytes, headers: dict[str, str],
                             extra: list[tuple[str, str]] | None = None,
                             timeout: float = 30.0) -> tuple[int, CIMultiDictProxy[str], bytes]:
        containers = self.functions.get(function_id)
        if containers is None:
            return 502, CIMultiDictProxy(CIMultiDict()), b""
        socket_path = next(containers)
        all_headers: CIMultiDict[str] = CIMultiDict({
            "Fn-Call-Id": uuid.uuid4().hex,
            "Fn-Deadline": datetime.fromtimestamp(time.time() + timeout).astimezone().isoformat(),
            "Content-Type": "application/json",
            **headers,
        })
        for name, value in extra or []:
            all_headers.add(name, value)
        session = self._function_sessions.get(socket_path)
        if session is None:
            # One persistent connection pool per function, as the Fn agent keeps.
            session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path))
            self._function_sessions[socket_path] = session
        try:
            async with session.post(
                "http://localhost/call", data=body, headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                return response.status, response.headers, await response.read()
        except TimeoutError:
            return 504, CIMultiDictProxy(CIMultiDict()), b""
        except aiohttp.ClientError:
            return 502, CIMultiDictProxy(CIMultiDict()), b""


def request_header_bytes(request: web.BaseRequest) -> int:
    """The request line and headers as sent, in bytes: what API Gateway's
    8 KB request-header limit counts (method and URI included)."""
    line = len(request.method) + len(request.raw_path) + len(" HTTP/1.1\r\n") + 1
    return line + sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


class _QuietBadRequests(logging.Filter):
    """A malformed request is the client's problem, not the gateway's: no
    traceback in the operator's terminal for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HttpProcessingError)


logging.getLogger("aiohttp.server").addFilter(_QuietBadRequests())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"code": status, "message": message}, status=status)


def _filter_query(policy: dict[str, Any] | None, raw_query: str) -> str:
    """A route's ``queryParameterTransformations.filterQueryParameters`` (``BLOCK``
    drops the listed names, ``ALLOW`` keeps only them: FilterQueryParameterPolicy)
    on the raw query string. Whether OCI compares names case-sensitively, or before
    or after decoding, is undocumented: the query is split on ``&``, and each name
    (before its first ``=``) is compared exactly, undecoded (the attacker's side:
    ``INTEGRATIONINSTANCE`` and ``integration%49nstance`` pass a ``BLOCK`` of
    ``integrationInstance``). What is kept goes on as sent. Applied to
    ``HTTP_BACKEND`` routes (the function backend gets the raw URL and refuses what
    it must itself)."""
    filters = (policy or {}).get("filterQueryParameters")
    if not filters or not raw_query:
        return raw_query
    names = {item["name"] for item in filters.get("items", [])}
    block = filters.get("type") == "BLOCK"
    return "&".join(pair for pair in raw_query.split("&") if (pair.split("=", 1)[0] in names) != block)
