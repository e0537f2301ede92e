"""The function-backend topology: verify the caller, forward its request to
OIC with an OIC-scoped token, and hand OIC's answer back.

Nothing the request says about who is calling is believed: the caller's own
bearer token (``Authorization``, which the route passes on) is verified here
with the authorizer's verifier, and the OIC user is derived from it
(``caller.py``). The client's token never reaches OIC.

Headers travel by allow-list in both directions, no state (cookies) is kept
between calls, and the whole call (token endpoint and OIC) has one
wall-clock deadline that a trickling peer cannot stretch (``deadline.py``).
Errors carry a code for the caller; the reason and detail go to the log.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from oic_gateway.access.paths import IntegrationPath, integration_path
from oic_gateway.access.query import check_query
from oic_gateway.caller import Caller, CallerVerifier
from oic_gateway.errors import (
    BadPath,
    BadQuery,
    CannotDecide,
    ConfigError,
    ExchangeError,
    GatewayError,
    TokenEndpointThrottled,
    TokenRejected,
)
from oic_gateway.forwarding.location import LocationRule
from oic_gateway.net.deadline import MARGIN_SECONDS, guard, stateless_session
from oic_gateway.oic_tokens.exchanger import TokenExchanger
from oic_gateway.outcomes import outcome_of
from oic_gateway.setting_keys import default_text
from oic_gateway.settings import Problems, checked_url, number, text, text_or_default

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # OCI Functions' request and response limit
DEFAULT_OIC_PATH_PREFIX = default_text("OIC_PATH_PREFIX")
# OIC's auth layer rejecting a token is retried with a fresh one at most this
# often per cache key: a backend that rejects every token must not turn each
# call into a token request.
INVALIDATE_AT_MOST_EVERY_SECONDS = 30.0

# To OIC: only these request headers (plus FORWARD_REQUEST_HEADERS). The
# backend sets Authorization itself; everything else is dropped.
FORWARDED_HEADERS = frozenset({
    "accept", "accept-language", "content-type", "content-language",
    "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
})
# Back to the caller: only these response headers (plus RETURN_RESPONSE_HEADERS).
# Location: rewritten into the gateway's path space, passed or dropped (location.py).
RETURNED_HEADERS = frozenset({
    "content-type", "content-language", "content-disposition", "cache-control", "expires", "etag",
    "last-modified", "retry-after", "location",
})
# Never, whatever the settings say (they are refused at start).
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade", "host", "content-length",
})
NEVER_FORWARDED = _HOP_BY_HOP | {
    "authorization", "cookie", "forwarded", "x-original-url", "x-rewrite-url", "x-http-method-override",
    "x-http-method", "x-method-override", "x-real-ip",
}
NEVER_FORWARDED_PREFIXES = ("x-forwarded-", "fn-")
NEVER_RETURNED = _HOP_BY_HOP | {
    "set-cookie", "set-cookie2", "server", "www-authenticate", "content-encoding", "x-powered-by", "via",
}
NEVER_RETURNED_PREFIXES = ("x-oracle-", "fn-")
# Methods passed to OIC: what its REST triggers serve. A direct invoker sets
# the method freely; TRACE would have a web tier echo the request (the OIC
# token included), and anything else is not OIC's REST API.
FORWARDED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# RFC 9110 5.5 field-value: visible ASCII, obs-text (Latin-1), space and tab
# inside. Anything else cannot be sent as it is (requests raises on it).
_FIELD_VALUE = re.compile(r"[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?|")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_INVALID_TOKEN = re.compile(r'\berror\s*=\s*"?invalid_token(?![A-Za-z0-9_-])"?', re.IGNORECASE)


@dataclass(frozen=True)
class BackendConfig:
    oic_base_url: str
    gateway_path_prefix: str
    oic_path_prefix: str
    caller_sub_header: str
    timeout: float  # the whole call: token endpoint and OIC
    oic_project_path_prefix: str = default_text("OIC_PROJECT_PATH_PREFIX")
    forwarded_headers: frozenset[str] = FORWARDED_HEADERS
    returned_headers: frozenset[str] = RETURNED_HEADERS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BackendConfig:
        """Raises one ``ConfigError`` naming every wrong key."""
        problems = Problems()
        base = problems.read(lambda: _base_url(env), "")
        gateway_prefix = problems.read(lambda: _prefix(env, "GATEWAY_PATH_PREFIX"), "")
        oic_prefix = problems.read(lambda: _prefix(env, "OIC_PATH_PREFIX"), "")
        project_prefix = problems.read(lambda: _prefix(env, "OIC_PROJECT_PATH_PREFIX"), "")
        header = text_or_default(env, "CALLER_SUB_HEADER").lower()
        timeout = problems.read(lambda: number(env, "OIC_TIMEOUT_SECONDS"), 0.0)
        forwarded = problems.read(lambda: _header_names(
            env, "FORWARD_REQUEST_HEADERS", NEVER_FORWARDED | {header}, NEVER_FORWARDED_PREFIXES), frozenset[str]())
        returned = problems.read(lambda: _header_names(
            env, "RETURN_RESPONSE_HEADERS", NEVER_RETURNED, NEVER_RETURNED_PREFIXES), frozenset[str]())
        problems.raise_any()
        return cls(
            oic_base_url=base,
            gateway_path_prefix=gateway_prefix,
            oic_path_prefix=oic_prefix,
            caller_sub_header=header,
            timeout=timeout,
            oic_project_path_prefix=project_prefix,
            forwarded_headers=FORWARDED_HEADERS | forwarded,
            returned_headers=RETURNED_HEADERS | returned,
        )


def _base_url(env: Mapping[str, str]) -> str:
    raw = env.get("OIC_BASE_URL", "").strip()
    if not raw:
        raise ConfigError("OIC_BASE_URL", "not set (the OIC runtime host, e.g. https://<oic-host>)")
    base = checked_url("OIC_BASE_URL", raw).rstrip("/")
    if urlsplit(base).path or urlsplit(base).query:
        raise ConfigError("OIC_BASE_URL", "must be scheme://host[:port] only; put paths in OIC_PATH_PREFIX")
    return base


def _prefix(env: Mapping[str, str], key: str) -> str:
    value = text(env, key).rstrip("/")
    if value and not value.startswith("/"):
        raise ConfigError(key, "must start with /")
    return value


def _header_names(env: Mapping[str, str], key: str, never: frozenset[str] | set[str],
                  never_prefixes: tuple[str, ...]) -> frozenset[str]:
    names = frozenset(n.strip().lower() for n in text(env, key).split(",") if n.strip())
    for name in sorted(names):
        if not _TOKEN_CHARS.fullmatch(name):
            raise ConfigError(key, f"{name!r} is not a header name")
        if name in never or name.startswith(never_prefixes):
            raise ConfigError(key, f"{name} may never pass (see docs/security.md, "
                                   "'What the backend does with each call')")
    return names


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    url: str  # as the gateway gave it: a path with query, or a full URL
    headers: dict[str, str | list[str]]  # names in lower case
    body: bytes


@dataclass
class BackendResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None  # the caller's error code; the body is rendered at the edge with the call id
    detail: str | None = None  # for the log only
    oic_rejected_token: bool = False  # OIC's auth layer (not the integration) refused our OIC token
    log: dict[str, Any] = field(default_factory=dict)  # what the call's log line adds


def json_error(status: int, error: str, detail: str) -> BackendResponse:
    """An error answer: the caller sees ``error`` (and the call id), the log ``detail``."""
    return BackendResponse(status, {"Content-Type": "application/json"}, error=error, detail=detail)


def error_answer(error: Exception, detail: str | None = None) -> BackendResponse:
    """The answer to ``error``: its status and code from the one table (``oic_gateway.outcomes``);
    ``detail`` (default: the reason and the message) goes to the log."""
    outcome = outcome_of(error)
    reason = getattr(error, "reason", type(error).__name__)
    return json_error(outcome.status, outcome.error_code(error), f"{reason}: {error}" if detail is None else detail)


def _single(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _connection_names(value: str | None) -> frozenset[str]:
    """Headers named in ``Connection`` are hop-by-hop for this message (RFC 9110 7.6.1)."""
    return frozenset(n.strip().lower() for n in (value or "").split(",") if n.strip())


class OicForwarder:
    def __init__(
        self,
        config: BackendConfig,
        exchanger: TokenExchanger,
        callers: CallerVerifier,
        *,
        session: requests.Session | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.exchanger = exchanger
        self.callers = callers
        self._session = session or stateless_session()
        self._monotonic = monotonic
        self._clock = clock
        self._locations = LocationRule(
            oic_host=(urlsplit(config.oic_base_url).hostname or "").lower().rstrip("."),
            gateway_path_prefix=config.gateway_path_prefix,
            oic_path_prefix=config.oic_path_prefix,
            oic_project_path_prefix=config.oic_project_path_prefix,
        )

    def forward(self, request: GatewayRequest, deadline: float) -> BackendResponse:
        """``deadline`` on the monotonic clock: the function's own deadline minus a margin;
        the whole call (token endpoint and OIC) ends by it or by OIC_TIMEOUT_SECONDS."""
        deadline = min(deadline, self._monotonic() + self.config.timeout)
        try:
            caller = self.callers.verify(request.headers.get("authorization"), deadline)
        except (TokenRejected, CannotDecide, ConfigError) as failure:
            return self._refusal(failure)
        identity = {"sub": caller.claims.sub, "client_id": caller.claims.client_id, "jti": caller.claims.jti,
                    "token_hash": caller.token_hash}
        result = self._forward_for(request, caller, deadline)
        result.log = {**identity, **result.log}
        return result

    def _forward_for(self, request: GatewayRequest, caller: Caller, deadline: float) -> BackendResponse:
        claimed = _single(request.headers.get(self.config.caller_sub_header))
        if not self.callers.matches_claimed_subject(caller, claimed):
            return json_error(403, "caller_mismatch",
                              f"{self.config.caller_sub_header} names another subject than the verified token")
        if request.method not in FORWARDED_METHODS:
            answer = json_error(405, "method_not_allowed", f"{request.method[:20]!r} is not forwarded to OIC")
            answer.headers["Allow"] = ", ".join(sorted(FORWARDED_METHODS))
            return answer
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return json_error(413, "payload_too_large", "request body exceeds the 6 MB function payload limit")
        checked = self._checked_path(request.url)
        if isinstance(checked, BackendResponse):
            return checked
        target = self._target_url(request.url, checked)
        try:
            rule = self.callers.authorize(caller, checked, request.method)
        except TokenRejected as rejected:
            return self._refusal(rejected)
        subject = caller.oic_subject if self.exchanger.per_subject else None
        headers = self._forwarded_headers(request.headers)
        unsendable = sorted(name for name, value in headers.items() if not _FIELD_VALUE.fullmatch(value))
        if unsendable:
            return json_error(400, "bad_header", f"a value that cannot be sent on: {', '.join(unsendable)}")
        result = json_error(504, "timeout", "no time left before the call's deadline")
        for attempt in (1, 2):
            remaining = deadline - self._monotonic()
            if remaining <= MARGIN_SECONDS:
                return json_error(504, "timeout", "no time left before the call's deadline")
            try:
                token = self.exchanger.token_for(subject, caller.claims.exp, timeout=remaining)
            except TokenEndpointThrottled as throttled:
                return self._throttled(throttled)
            except (ExchangeError, ConfigError) as exc:
                if self._monotonic() >= deadline - MARGIN_SECONDS:
                    return json_error(504, "timeout", f"token endpoint: {exc.reason}: {exc}")
                return error_answer(exc)
            headers["Authorization"] = token.authorization
            result = self._send(request.method, target, headers, request.body, deadline)
            result.log.update(rule=rule, oic_subject=subject, attempts=attempt)
            if not result.oic_rejected_token:
                return result
            # OIC's auth layer refused the OIC token (revoked, rotated keys): one
            # fresh token and one retry, and a token is invalidated at most once
            # per key per INVALIDATE_AT_MOST_EVERY_SECONDS. The request never
            # reached the integration, so replaying it runs it once.
            if attempt == 2 or not self.exchanger.invalidate(
                    token, subject, at_most_every=INVALIDATE_AT_MOST_EVERY_SECONDS):
                break
        failed = json_error(502, "oic_rejected_token", "OIC's auth layer rejected the OIC token (invalid_token)")
        failed.log = result.log
        return failed

    def _refusal(self, error: GatewayError) -> BackendResponse:
        answer = error_answer(error)
        if outcome_of(error).challenge and isinstance(error, TokenRejected):
            answer.headers["WWW-Authenticate"] = self.callers.challenge(error)
        return answer

    def _forwarded_headers(self, incoming: Mapping[str, str | list[str]]) -> dict[str, str]:
        hop = _connection_names(_single(incoming.get("connection")))
        allowed = self.config.forwarded_headers
        out: dict[str, str] = {}
        for name, value in incoming.items():
            if name in allowed and name not in hop:
                single = _single(value)
                if single is not None:
                    out[name] = single
        return out

    def _returned_headers(self, headers: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The headers the caller gets, and what the log line says about a ``Location``
        that was rewritten or dropped (never its value): ``location.py``."""
        hop = _connection_names(headers.get("Connection"))
        allowed = self.config.returned_headers
        out: dict[str, str] = {}
        log: dict[str, str] = {}
        for name, value in headers.items():
            lower = name.lower()
            if lower not in allowed or lower in hop:
                continue
            if lower == "location":
                verdict = self._locations.verdict(value)
                if verdict.action != "passed":
                    log.update(location=verdict.action, location_reason=verdict.reason)
                if verdict.value is None:
                    continue
                value = verdict.value
            out[name] = value
        return out, log

    def _throttled(self, throttled: TokenEndpointThrottled) -> BackendResponse:
        """The identity domain's rate limit: a fast, clear 503 with when to come back."""
        answer = error_answer(throttled, "the identity domain is rate-limiting token requests")
        answer.headers["Retry-After"] = str(max(math.ceil(throttled.retry_at - self._clock()), 1))
        return answer

    def _checked_path(self, url: str) -> IntegrationPath | BackendResponse:
        """The request's path after GATEWAY_PATH_PREFIX, through the one path rule
        (``access.paths``); a refusal is 400 ``bad_path``. Its canonical form is
        what ACCESS_POLICY rules match. Then its query (``access.query``): a
        parameter OIC's runtime reads is 400 ``bad_query``."""
        parts = urlsplit(url)
        try:
            if (url.startswith("//") and not parts.scheme) or parts.fragment or "#" in url:
                raise BadPath("the request target is not a path", reason="bad_path_url")
            path = parts.path or "/"
            prefix = self.config.gateway_path_prefix
            if prefix:
                if path != prefix and not path.startswith(prefix + "/"):
                    return json_error(404, "no_route", "the path is outside the configured gateway prefix")
                path = path[len(prefix):] or "/"
            checked = integration_path(path)
            check_query(parts.query)
            return checked
        except (BadPath, BadQuery) as refused:
            return error_answer(refused)

    def _target_url(self, url: str, checked: IntegrationPath) -> str:
        """OIC's URL for this request, built from the checked path alone: OIC_PATH_PREFIX
        (Gen2 shape) or OIC_PROJECT_PATH_PREFIX (project shape) plus its flow path."""
        prefix = self.config.oic_path_prefix if checked.project is None else self.config.oic_project_path_prefix
        target = f"{self.config.oic_base_url}{prefix}{checked.flow_path}"
        query = urlsplit(url).query
        if query:
            target += "?" + query
        return target

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes, deadline: float) -> BackendResponse:
        remaining = max(deadline - self._monotonic(), 0.01)
        # The per-read timeouts catch a silent peer; the watchdog bounds the
        # whole exchange against one that trickles (deadline.py says why).
        with guard(deadline, self._monotonic) as watch:
            try:
                response = self._session.request(
                    method, url, headers=headers, data=body or None, timeout=(min(remaining, 10.0), remaining),
                    allow_redirects=False, stream=True,
                )
            except requests.RequestException as exc:
                if watch.expired or isinstance(exc, requests.Timeout):
                    return json_error(504, "timeout", "OIC did not answer before the call's deadline")
                return json_error(502, "oic_unreachable", f"cannot reach OIC ({type(exc).__name__})")
            try:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > MAX_PAYLOAD_BYTES:
                        return json_error(502, "response_too_large",
                                          "OIC's answer exceeds the 6 MB function payload limit")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                if watch.expired or isinstance(exc, requests.Timeout):
                    return json_error(504, "timeout", "OIC's answer did not finish before the call's deadline")
                return json_error(502, "oic_unreachable", f"OIC's answer was interrupted ({type(exc).__name__})")
            finally:
                response.close()
        if watch.expired:
            # The watchdog shut the socket mid-answer, and urllib3 can still hand back
            # a short "complete" response: an answer cut at the deadline is no answer.
            return json_error(504, "timeout", "OIC's answer did not finish before the call's deadline")
        status = response.status_code
        rejected = status == 401 and bool(_INVALID_TOKEN.search(response.headers.get("WWW-Authenticate", "")))
        returned, location_log = self._returned_headers(response.headers)
        return BackendResponse(status, returned, b"".join(chunks),
                               oic_rejected_token=rejected, log={"oic_status": status, **location_log})
