"""The authorizer-context topology: the authorizer obtains the OIC token
in-process and answers ``context.back_end_token = "Bearer <token>"``.

API Gateway caches the whole answer (context included) until ``expiresAt``,
clamped to at least 60 s. The token cache never hands out a token with less
than its mandatory window (about 300 s) left, and ``expiresAt`` is set a
safety margin before the OIC token's expiry, so the gateway's cache cannot
outlive the token it forwards.

A validate-only authorizer (no ``OIC_CLIENT_ID``) never imports the OAuth
client: ``requests`` and the token caches are imported only when
``backend_factory`` finds the topology configured, because their import
costs cold start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from authorizer.app import BackendToken, BackendTokenProvider
from oic_gateway.errors import CannotDecide, ConfigError, ExchangeError
from oic_gateway.verification.claims import Claims

if TYPE_CHECKING:
    from oic_gateway.oic_tokens.exchanger import TokenExchanger

# expiresAt is set this long before the OIC token expires, and a token is
# only handed out with at least GATEWAY_MIN_CACHE + SAFETY_MARGIN left: API
# Gateway caches an answer for at least 60 s whatever expiresAt says.
SAFETY_MARGIN_SECONDS = 60.0
GATEWAY_MIN_CACHE_SECONDS = 60.0


class ContextTokenProvider:
    def __init__(self, exchanger: TokenExchanger, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.exchanger = exchanger
        self._monotonic = monotonic

    def backend_token(self, claims: Claims, subject: str, deadline: float | None = None) -> BackendToken:
        """``deadline``: the authorizer's call deadline (monotonic); the token
        request ends by it. None: ``OIC_TOKEN_TIMEOUT_SECONDS`` alone."""
        timeout = None if deadline is None else max(deadline - self._monotonic(), 0.0)
        try:
            exchanged = self.exchanger.token_for(subject, claims.exp, timeout=timeout)
        except (ExchangeError, ConfigError) as error:
            # Not the caller's fault: the gateway must answer 502, not 401. A
            # throttled token endpoint is told at once (reason in the log).
            failure = CannotDecide(f"OIC token unavailable ({error.reason}): {error}")
            failure.reason = error.reason
            raise failure from None
        return BackendToken(exchanged.authorization, exchanged.usable_until - SAFETY_MARGIN_SECONDS)


def build_backend_provider(env: Mapping[str, str]) -> ContextTokenProvider:
    """Raises one ``ConfigError`` naming every wrong exchange key (the fleet cache's
    keys, when SHARED_CACHE_URL is set, are checked after them)."""
    from oic_gateway.oic_tokens.cache import TokenCache
    from oic_gateway.oic_tokens.exchanger import TokenExchanger

    cache = TokenCache(time.time, min_remaining=GATEWAY_MIN_CACHE_SECONDS + SAFETY_MARGIN_SECONDS)
    return ContextTokenProvider(TokenExchanger.from_env(env, cache=cache))


def backend_factory(env: Mapping[str, str]) -> BackendTokenProvider | None:
    """The authorizer-context topology when ``OIC_CLIENT_ID`` is set, else none."""
    if not env.get("OIC_CLIENT_ID", "").strip():
        return None
    return build_backend_provider(env)
