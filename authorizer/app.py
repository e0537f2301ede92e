"""The authorizer: from the gateway's request body to the answer body.

``Authorizer.handle(body, call_id)`` returns the JSON bytes to send with
HTTP 200 (allowed or denied), or raises ``CannotDecide`` (fdk answers 502).
Everything it needs is built once per container by ``build_authorizer`` and
kept in module state by the fdk adapter, so a warm container reuses keys,
verified tokens and OIC tokens across calls.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from typing import NamedTuple, Protocol

from authorizer.event import parse_request
from oic_gateway import log
from oic_gateway.access.integrations import SCOPE_PREFIX, Integration, integrations_from_env
from oic_gateway.access.policy import AccessPolicy, decide_integration
from oic_gateway.errors import GatewayError, InvalidRequest, TokenRejected
from oic_gateway.log import StructuredLogger, elapsed_ms, emit, get_logger
from oic_gateway.lru import ExpiringLru
from oic_gateway.outcomes import CANNOT_DECIDE, DENY, outcome_of
from oic_gateway.settings import Problems
from oic_gateway.token_checks import CheckSettings, TokenChecks, token_key
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.config import TOKEN_PATH
from oic_gateway.verification.introspection import Introspector, introspector_from_env

ANSWER_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class BackendToken:
    """A token for the backend (OIC), as the exchange hands it over."""

    authorization: str  # the whole header value, "Bearer <token>"
    expires_at: float  # wall-clock seconds; the gateway must not cache past it


class BackendTokenProvider(Protocol):
    """Obtains the OIC token for a validated caller (authorizer-context topology).
    Raises ``CannotDecide`` when it cannot."""

    def backend_token(self, claims: Claims, subject: str, deadline: float | None = None) -> BackendToken:
        """``deadline``: the call's (monotonic); None: the exchange's own budget."""
        ...


class Verified(NamedTuple):
    """A verified token (and its OIC token), reusable by any request body."""

    claims: Claims
    backend: BackendToken | None
    expires_at: float
    oic_subject: str | None  # the mapped identity-domain user, when mapping is configured
    granted: tuple[str, ...] = ()  # integrations mode: the synthetic scopes the access rules grant


class Allowed(NamedTuple):
    """A complete answer, and its log line's members, pre-encoded."""

    body: bytes
    log_members: str


def iso_utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


class Authorizer:
    """Two caches, both bounded and dropping entries at the answer's expiry:

    * answers, keyed by a hash of the whole request body: a repeated request
      costs a hash and a dictionary lookup;
    * verified tokens, keyed by a hash of the token (``oic_gateway.token_checks``,
      which the backend function uses too): the same token in another request
      shape costs no signature check.
    """

    def __init__(
        self,
        settings: CheckSettings,
        *,
        clock: Callable[[], float] = time.time,
        backend: BackendTokenProvider | None = None,
        introspector: Introspector | None = None,
        logger: StructuredLogger | None = None,
        integrations: tuple[Integration, ...] | None = None,
    ) -> None:
        """``integrations``: the routes of a one-route-per-integration deployment
        (``GATEWAY_INTEGRATIONS``); the answer's ``scope`` then carries the
        synthetic scope of each one the access rules grant, which the route's
        ``ANY_OF`` checks, and a ``path`` argument is refused."""
        self.checks = TokenChecks(settings, self._derive)
        self.integrations = integrations
        self.config = settings.config
        self.verifier = settings.verifier
        self.backend = backend
        self.introspector = introspector
        self._clock = clock
        self._log = logger or get_logger("authorizer")
        self._answers: ExpiringLru[bytes, Allowed] = ExpiringLru(ANSWER_CACHE_ENTRIES)

    def handle(self, body: bytes, call_id: str | None = None, deadline: float | None = None) -> bytes:
        """``deadline``: the call's (monotonic, from Fn-Deadline); the key fetch
        (and the wait for it), introspection and the OIC token request end by
        it. None: each one's own timeout."""
        started = time.perf_counter()
        now = self._clock()
        body_key = hashlib.sha256(body).digest()
        answer = self._answers.get(body_key, now)
        if answer is not None:
            self._log.write(
                log.INFO,
                f'{answer.log_members},"reason":"cached","call_id":{_json_str(call_id)},"ms":{elapsed_ms(started)}',
            )
            return answer.body
        token_hash: str | None = None
        try:
            request = parse_request(body)
            if self.integrations is not None and request.path is not None:
                # Only a deployment of the old /{path*} shape sends it, and its
                # route does not check the per-integration scopes: refuse.
                raise InvalidRequest("a 'path' argument, but GATEWAY_INTEGRATIONS is set: the deployment is not "
                                     "the one-route-per-integration specification", reason="unexpected_path",
                                     for_caller="the gateway sent an argument this authorizer does not take")
            key = token_key(request.token)
            token_hash = key.hex()[:16]
            verified = self.checks.cached(key, now)
            reason = "verified-cached"
            if verified is None:
                verified = self.checks.verify(request.token, key, now, deadline)
                reason = "verified"
            expires_at = verified.expires_at
            if self.introspector is not None:
                self.introspector.check(request.token, key, verified.claims.exp, now, deadline)
                # Ask again after the cache period: so must API Gateway.
                expires_at = min(expires_at, float(int(now + self.introspector.cache_seconds)))
            # A token inside the clock-skew leeway after its exp is still valid, but an
            # expiresAt in the past is one the gateway may read as invalid: say "now"
            # (the gateway holds any answer at least 60 s, whatever it says).
            expires_at = max(expires_at, float(math.ceil(now)))
            rule = None if self.integrations is not None else self.checks.authorize(
                verified.claims, request.path, request.method)
            answer = self.render_allowed(verified, token_hash, rule, expires_at)
            self._answers.put(body_key, answer, expires_at, now)
            self._log.write(
                log.INFO,
                f'{answer.log_members},"reason":"{reason}","call_id":{_json_str(call_id)},"ms":{elapsed_ms(started)}',
            )
            return answer.body
        except Exception as error:
            return self._failed(error, call_id, token_hash, started)

    def _failed(self, error: Exception, call_id: str | None, token_hash: str | None, started: float) -> bytes:
        """Deny, or raise (fdk answers 502): ``oic_gateway.outcomes`` decides."""
        verdict = outcome_of(error).authorizer
        if verdict == DENY and isinstance(error, TokenRejected):
            emit(
                self._log, log.INFO, "decision", verdict="deny", reason=error.reason, detail=str(error),
                call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
            )
            return self._denial(error)
        if verdict == CANNOT_DECIDE and isinstance(error, GatewayError):
            emit(
                self._log, log.ERROR, "cannot decide", verdict="error", reason=error.reason, detail=str(error),
                call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
            )
            raise error
        # A defect must not turn a bad request into a 502, nor let anything
        # through: refuse, and log the exception's type only (its message
        # could quote the input).
        emit(
            self._log, log.ERROR, "decision", verdict="deny", reason="internal_error", detail=type(error).__name__,
            call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
        )
        return self._denial(InvalidRequest("the request could not be processed", reason="internal_error"))

    def verify_token(self, token: str, deadline: float | None = None) -> Verified:
        """A verified token, its mapped subject and OIC token, without the caches."""
        return self.checks.derive(token, b"", deadline)[0]

    def _derive(self, claims: Claims, subject: str | None, _key: bytes,
                deadline: float | None = None) -> tuple[Verified, float]:
        expires_at = claims.exp
        backend = None
        if self.backend is not None:
            backend = self.backend.backend_token(claims, subject or claims.sub, deadline)
            expires_at = min(expires_at, backend.expires_at)
        # Served from cache until the whole second that expiresAt names.
        until = float(int(expires_at))
        granted: tuple[str, ...] = ()
        if self.integrations is not None:
            granted = granted_scopes(self.checks.policy, claims, self.integrations)
        return Verified(claims, backend, until, subject, granted), until

    def render_allowed(self, verified: Verified, token_hash: str, rule: str | None = None,
                       expires_at: float | None = None) -> Allowed:
        # Built by hand from C-escaped strings: this runs for every new
        # token, and a dict plus json.dumps costs several times as much.
        claims = verified.claims
        sub = _json_string(claims.sub)
        client_id = _json_string(claims.client_id) if claims.client_id is not None else None
        context = f'"sub":{sub}'
        if client_id is not None:
            context += f',"client_id":{client_id}'
        if verified.oic_subject is not None:
            context += f',"oic_sub":{_json_string(verified.oic_subject)}'
        if rule is not None:
            context += f',"rule":{_json_string(rule)}'
        if verified.backend is not None:
            context += f',"back_end_token":{_json_string(verified.backend.authorization)}'
        if self.integrations is None:
            scopes = ",".join(map(_json_string, claims.scopes))
        else:
            # A token's own scope that looks synthetic is never echoed: only the rules grant one.
            own = [s for s in claims.scopes if _echoable(s)]
            scopes = ",".join(map(_json_string, (*own, *verified.granted)))
        until = iso_utc(expires_at if expires_at is not None else verified.expires_at)
        body = (
            f'{{"active":true,"principal":{sub},"scope":[{scopes}],"expiresAt":"{until}",'
            f'"context":{{{context}}}'
        )
        body += f',"clientId":{client_id}}}' if client_id is not None else "}"
        members = f'"msg":"decision","verdict":"allow","sub":{sub}'
        if client_id is not None:
            members += f',"client_id":{client_id}'
        if claims.jti is not None:
            members += f',"jti":{_json_string(claims.jti)}'
        if rule is not None:
            members += f',"rule":{_json_string(rule)}'
        members += f',"token_hash":"{token_hash}"'
        return Allowed(body.encode(), members)

    def _denial(self, rejected: TokenRejected) -> bytes:
        challenge = self.checks.challenge(rejected)
        return json.dumps({"active": False, "wwwAuthenticate": challenge}, separators=(",", ":")).encode()


def _echoable(scope: str) -> bool:
    """A token's own scope that may go back in the answer beside the synthetic
    ones: none that names ``oic:`` in any case (a hop may fold case) or holds
    whitespace (a tab, newline, NBSP...: a hop may split on it and read a
    synthetic scope from the rest)."""
    return not scope.casefold().startswith(SCOPE_PREFIX) and not any(c.isspace() for c in scope)


def granted_scopes(policy: AccessPolicy | None, claims: Claims,
                   integrations: tuple[Integration, ...]) -> tuple[str, ...]:
    """The synthetic scope of every listed integration the rules grant this
    token (every one when no policy is set: the token already has the
    required scopes)."""
    if policy is None:
        return tuple(item.scope for item in integrations)
    return tuple(item.scope for item in integrations
                 if decide_integration(policy, claims, item.path_prefix, frozenset(item.methods)).granted)


def partial_rules(policy: AccessPolicy | None, integrations: tuple[Integration, ...]) -> list[tuple[str, str]]:
    """(rule, integration path) for each integration whose deciding rule covers
    only part of its route: refused for everyone here; such rules need the
    function-backend topology, which sees the path."""
    if policy is None:
        return []
    out = []
    for item in integrations:
        decision = decide_integration(policy, None, item.path_prefix, frozenset(item.methods))
        if decision.partial and decision.rule is not None:
            out.append((decision.rule, item.path_prefix))
    return out


def _json_str(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


BackendFactory = Callable[[Mapping[str, str]], BackendTokenProvider | None]


def build_authorizer(env: Mapping[str, str], backend_factory: BackendFactory | None = None) -> Authorizer:
    """Read the configuration and wire the parts. Raises one ``ConfigError``
    naming every wrong key (the parts are read independently)."""
    problems = Problems()
    settings = CheckSettings.read(env, problems)
    backend = problems.read(lambda: backend_factory(env), None) if backend_factory is not None else None
    integrations = problems.read(lambda: integrations_from_env(env), None)
    introspector = None
    if settings is not None:
        token_url = settings.config.token_url
        domain = token_url[: -len(TOKEN_PATH)] if token_url else None
        introspector = problems.read(lambda: introspector_from_env(env, domain), None)
    problems.raise_any()
    assert settings is not None
    authorizer = Authorizer(settings, backend=backend, introspector=introspector, integrations=integrations)
    if integrations is not None:
        for rule, prefix in partial_rules(settings.policy, integrations):
            emit(authorizer._log, log.WARNING, "access rule covers part of a route", rule=rule, integration=prefix,
                 detail="refused for every caller: a route is granted whole or not at all; a rule for a sub-path "
                        "or some methods needs the function-backend topology")
    return authorizer
