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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from typing import NamedTuple, Protocol

from authorizer.event import parse_request
from oic_gateway import log
from oic_gateway.access.policy import AccessPolicy, access_policy_from_env
from oic_gateway.access.subjects import SubjectMapper, subject_mapper_from_env
from oic_gateway.errors import CannotDecide, InvalidRequest, TokenRejected
from oic_gateway.log import StructuredLogger, elapsed_ms, emit, get_logger
from oic_gateway.lru import ExpiringLru
from oic_gateway.settings import Problems
from oic_gateway.verification.bearer import www_authenticate
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.config import TOKEN_PATH, VerifierConfig, build_verifier
from oic_gateway.verification.introspection import Introspector, introspector_from_env
from oic_gateway.verification.verifier import JwtVerifier

VERIFIED_CACHE_ENTRIES = 4096
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
    * verified tokens, keyed by a hash of the token: the same token in
      another request shape costs no signature check.
    """

    def __init__(
        self,
        config: VerifierConfig,
        verifier: JwtVerifier,
        *,
        clock: Callable[[], float] = time.time,
        backend: BackendTokenProvider | None = None,
        policy: AccessPolicy | None = None,
        subjects: SubjectMapper | None = None,
        introspector: Introspector | None = None,
        logger: StructuredLogger | None = None,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.backend = backend
        self.policy = policy
        self.subjects = subjects
        self.introspector = introspector
        self._clock = clock
        self._log = logger or get_logger("authorizer")
        self._answers: ExpiringLru[bytes, Allowed] = ExpiringLru(ANSWER_CACHE_ENTRIES)
        self._verified: ExpiringLru[bytes, Verified] = ExpiringLru(VERIFIED_CACHE_ENTRIES)
        self._required_scope = " ".join(sorted(config.required_scopes))

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
            token_key = hashlib.sha256(request.token.encode("utf-8", "surrogatepass")).digest()
            token_hash = token_key.hex()[:16]
            verified = self._verified.get(token_key, now)
            reason = "verified-cached"
            if verified is None:
                verified = self.verify_token(request.token, deadline)
                self._verified.put(token_key, verified, verified.expires_at, now)
                reason = "verified"
            expires_at = verified.expires_at
            if self.introspector is not None:
                self.introspector.check(request.token, token_key, verified.claims.exp, now, deadline)
                # Ask again after the cache period: so must API Gateway.
                expires_at = min(expires_at, float(int(now + self.introspector.cache_seconds)))
            rule = None
            if self.policy is not None:
                rule = self.policy.decide(verified.claims, request.path, request.method)
            oic_path = request.path.canonical if request.path is not None else None
            answer = self.render_allowed(verified, token_hash, rule, expires_at, oic_path)
            self._answers.put(body_key, answer, expires_at, now)
            self._log.write(
                log.INFO,
                f'{answer.log_members},"reason":"{reason}","call_id":{_json_str(call_id)},"ms":{elapsed_ms(started)}',
            )
            return answer.body
        except TokenRejected as rejected:
            emit(
                self._log, log.INFO, "decision", verdict="deny", reason=rejected.reason, detail=str(rejected),
                call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
            )
            return self._denial(rejected)
        except CannotDecide as failure:
            emit(
                self._log, log.ERROR, "cannot decide", verdict="error", reason=failure.reason, detail=str(failure),
                call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
            )
            raise
        except Exception as bug:
            # A defect must not turn a bad request into a 502, nor let anything
            # through: refuse, and log the exception's type only (its message
            # could quote the input).
            emit(
                self._log, log.ERROR, "decision", verdict="deny", reason="internal_error", detail=type(bug).__name__,
                call_id=call_id, token_hash=token_hash, ms=elapsed_ms(started),
            )
            return self._denial(InvalidRequest("the request could not be processed", reason="internal_error"))

    def verify_token(self, token: str, deadline: float | None = None) -> Verified:
        claims = self.verifier.verify(token, deadline)
        expires_at = claims.exp
        subject = self.subjects.subject(claims) if self.subjects is not None else None
        backend = None
        if self.backend is not None:
            backend = self.backend.backend_token(claims, subject or claims.sub, deadline)
            expires_at = min(expires_at, backend.expires_at)
        # Served from cache until the whole second that expiresAt names.
        return Verified(claims, backend, float(int(expires_at)), subject)

    def render_allowed(self, verified: Verified, token_hash: str, rule: str | None = None,
                       expires_at: float | None = None, oic_path: str | None = None) -> Allowed:
        """``oic_path``: the checked path in canonical form, returned as
        ``context.oic_path`` so a route can build its backend URL from it
        alone (``${request.auth[oic_path]}``), never from caller text."""
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
        if oic_path is not None:
            context += f',"oic_path":{_json_string(oic_path)}'
        if verified.backend is not None:
            context += f',"back_end_token":{_json_string(verified.backend.authorization)}'
        scopes = ",".join(map(_json_string, claims.scopes))
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
        challenge = www_authenticate(self.config.realm, rejected, self._required_scope)
        return json.dumps({"active": False, "wwwAuthenticate": challenge}, separators=(",", ":")).encode()


def _json_str(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


BackendFactory = Callable[[Mapping[str, str]], BackendTokenProvider | None]


def build_authorizer(env: Mapping[str, str], backend_factory: BackendFactory | None = None) -> Authorizer:
    """Read the configuration and wire the parts. Raises one ``ConfigError``
    naming every wrong key (the parts are read independently)."""
    problems = Problems()
    built = problems.read(lambda: build_verifier(env), None)
    trusted = built[0].trusted if built is not None else ()
    policy = problems.read(lambda: access_policy_from_env(env, trusted), None)
    subjects = problems.read(lambda: subject_mapper_from_env(env, trusted), None)
    backend = problems.read(lambda: backend_factory(env), None) if backend_factory is not None else None
    introspector = None
    if built is not None:
        domain = built[0].token_url[: -len(TOKEN_PATH)] if built[0].token_url else None
        introspector = problems.read(lambda: introspector_from_env(env, domain), None)
    problems.raise_any()
    assert built is not None
    config, verifier = built
    return Authorizer(config, verifier, backend=backend, policy=policy, subjects=subjects,
                      introspector=introspector)
