"""The token exchange's typed errors. Messages name the configuration at
fault and never carry a token, an assertion, a secret or a response body."""

from __future__ import annotations


class ExchangeError(Exception):
    """Base: the OIC token could not be obtained."""

    reason = "exchange_error"


class ConfigError(ExchangeError):
    reason = "config_error"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration {key}: {problem}")
        self.key = key
        self.problem = problem


class TokenEndpointError(ExchangeError):
    """The token endpoint refused the request (RFC 6749 section 5.2)."""

    reason = "token_endpoint_error"

    def __init__(self, message: str, oauth_error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.oauth_error = oauth_error
        self.status = status


class InvalidClientError(TokenEndpointError):
    reason = "invalid_client"


class InvalidGrantError(TokenEndpointError):
    reason = "invalid_grant"


class InvalidScopeError(TokenEndpointError):
    reason = "invalid_scope"


class TokenEndpointUnavailable(ExchangeError):
    """5xx, 429, timeouts or connection failures, after retries within the deadline."""

    reason = "token_endpoint_unavailable"


class MalformedTokenResponse(ExchangeError):
    reason = "malformed_token_response"


class SecretUnavailable(ExchangeError):
    """A secret could not be read from OCI Vault."""

    reason = "secret_unavailable"
