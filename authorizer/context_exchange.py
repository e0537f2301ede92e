"""The authorizer-context topology: the authorizer obtains the OIC token
in-process and answers ``context.back_end_token = "Bearer <token>"``.

API Gateway caches the whole answer (context included) until ``expiresAt``,
clamped to at least 60 s. The token cache never hands out a token with less
than its mandatory window (about 300 s) left, and ``expiresAt`` is set a
safety margin before the OIC token's expiry, so the gateway's cache cannot
outlive the token it forwards.
"""

from __future__ import annotations

from collections.abc import Mapping

from token_exchange.errors import ConfigError as ExchangeConfigError
from token_exchange.errors import ExchangeError
from token_exchange.exchange import TokenExchanger

from .app import BackendToken
from .claims import Claims
from .errors import CannotDecide, ConfigError

# expiresAt is set this long before the OIC token expires.
SAFETY_MARGIN_SECONDS = 60.0


class ContextTokenProvider:
    def __init__(self, exchanger: TokenExchanger) -> None:
        self.exchanger = exchanger

    def backend_token(self, claims: Claims) -> BackendToken:
        try:
            exchanged = self.exchanger.token_for(claims.sub, claims.exp)
        except ExchangeError as error:
            # Not the caller's fault: the gateway must answer 502, not 401.
            raise CannotDecide(f"OIC token unavailable: {error}") from None
        return BackendToken(exchanged.authorization, exchanged.usable_until - SAFETY_MARGIN_SECONDS)


def build_backend_provider(env: Mapping[str, str]) -> ContextTokenProvider:
    try:
        return ContextTokenProvider(TokenExchanger.from_env(env))
    except ExchangeConfigError as error:
        raise ConfigError(error.key, error.problem) from None
