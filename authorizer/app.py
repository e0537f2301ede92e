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
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from token_exchange.log import elapsed_ms, emit, get_logger

from .cache import ExpiringLru
from .claims import ClaimRules, Claims
from .config import AuthorizerConfig
from .errors import CannotDecide, TokenRejected
from .event import parse_request
from .idp import JWKS_SCOPE, ClientCredentialsToken, JwksFetcher
from .keystore import KeyStore
from .verifier import JwtVerifier

VERIFIED_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class BackendToken:
    """A token for the backend (OIC), as the exchange hands it over."""

    authorization: str  # the whole header value, "Bearer <token>"
    expires_at: float  # wall-clock seconds; the gateway must not cache past it


class BackendTokenProvider(Protocol):
    """Obtains the OIC token for a validated caller (authorizer-context topology).
    Raises ``CannotDecide`` when it cannot."""

    def backend_token(self, claims: Claims) -> BackendToken: ...


@dataclass(frozen=True)
class _Allowed:
    body: bytes
    sub: str
    client_id: str | None
    jti: str | None


def iso_utc(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _www_authenticate(realm: str, error: TokenRejected) -> str:
    value = f'Bearer realm="{realm}"'
    if error.oauth_error is not None:
        value += f', error="{error.oauth_error}"'
        description = str(error).replace('"', "'").replace("\\", "/")
        if description:
            value += f', error_description="{description}"'
    return value


class Authorizer:
    def __init__(
        self,
        config: AuthorizerConfig,
        verifier: JwtVerifier,
        *,
        clock: Callable[[], float] = time.time,
        backend: BackendTokenProvider | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.backend = backend
        self._clock = clock
        self._log = logger or get_logger("authorizer")
        self._verified: ExpiringLru[bytes, _Allowed] = ExpiringLru(VERIFIED_CACHE_ENTRIES)
        self._required_scope = " ".join(sorted(config.required_scopes))

    def handle(self, body: bytes, call_id: str | None = None) -> bytes:
        started = time.perf_counter()
        token_hash: str | None = None
        try:
            request = parse_request(body)
            digest = hashlib.sha256(request.token.encode("utf-8", "surrogatepass")).digest()
            token_hash = digest.hex()[:16]
            now = self._clock()
            cached = self._verified.get(digest, now)
            if cached is None:
                cached, expires_at = self._decide(request.token, now)
                self._verified.put(digest, cached, expires_at, now)
                outcome = "verified"
            else:
                outcome = "cached"
            emit(
                self._log, logging.INFO, "decision", call_id=call_id, verdict="allow", reason=outcome,
                sub=cached.sub, client_id=cached.client_id, jti=cached.jti, token_hash=token_hash,
                ms=elapsed_ms(started),
            )
            return cached.body
        except TokenRejected as rejected:
            emit(
                self._log, logging.INFO, "decision", call_id=call_id, verdict="deny", reason=rejected.reason,
                detail=str(rejected), token_hash=token_hash, ms=elapsed_ms(started),
            )
            return self._denial(rejected)
        except CannotDecide as failure:
            emit(
                self._log, logging.ERROR, "cannot decide", call_id=call_id, verdict="error",
                reason=failure.reason, detail=str(failure), token_hash=token_hash, ms=elapsed_ms(started),
            )
            raise

    def _decide(self, token: str, now: float) -> tuple[_Allowed, float]:
        claims = self.verifier.verify(token)
        expires_at = claims.exp
        context = {"sub": claims.sub}
        if claims.client_id is not None:
            context["client_id"] = claims.client_id
        if self.backend is not None:
            backend_token = self.backend.backend_token(claims)
            context["back_end_token"] = backend_token.authorization
            expires_at = min(expires_at, backend_token.expires_at)
        answer: dict[str, object] = {
            "active": True,
            "principal": claims.sub,
            "scope": list(claims.scopes),
            "expiresAt": iso_utc(expires_at),
            "context": context,
        }
        if claims.client_id is not None:
            answer["clientId"] = claims.client_id
        body = json.dumps(answer, separators=(",", ":")).encode()
        # Serve this answer from cache until the whole second expiresAt names.
        return _Allowed(body, claims.sub, claims.client_id, claims.jti), float(int(expires_at))

    def _denial(self, rejected: TokenRejected) -> bytes:
        challenge = _www_authenticate(self.config.realm, rejected)
        if rejected.oauth_error == "insufficient_scope" and self._required_scope:
            challenge += f', scope="{self._required_scope}"'
        return json.dumps({"active": False, "wwwAuthenticate": challenge}, separators=(",", ":")).encode()


BackendFactory = Callable[[Mapping[str, str]], BackendTokenProvider | None]


def build_authorizer(env: Mapping[str, str], backend_factory: BackendFactory | None = None) -> Authorizer:
    """Read the configuration and wire the parts. Raises ``ConfigError``."""
    config = AuthorizerConfig.from_env(env)
    access_token = None
    if config.jwks_client_id is not None and config.token_url is not None:
        secret = env.get("JWKS_CLIENT_SECRET", "")
        access_token = ClientCredentialsToken(config.token_url, config.jwks_client_id, lambda: secret, JWKS_SCOPE)
    keys = KeyStore(
        JwksFetcher(config.jwks_url, access_token=access_token),
        time.monotonic,
        fresh_seconds=config.jwks_cache_seconds,
        max_stale_seconds=config.jwks_max_stale_seconds,
    )
    rules = ClaimRules(
        issuers=config.issuers,
        audiences=config.audiences,
        required_scopes=config.required_scopes,
        leeway=config.clock_skew,
        max_lifetime=config.max_token_lifetime,
    )
    backend = backend_factory(env) if backend_factory is not None else None
    return Authorizer(config, JwtVerifier(keys, rules, time.time), backend=backend)
