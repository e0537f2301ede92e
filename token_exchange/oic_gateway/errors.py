"""The typed errors of both functions: one root, ``GatewayError``.

Each class says what happened; what a caller sees for it (the authorizer's
deny or 502, the backend's HTTP status and error code) is decided in one
place, ``oic_gateway.outcomes``. The families:

* ``TokenRejected``: the caller is refused (``AccessDenied``: a valid token
  that may not do this, or names no OIC user).
* ``CannotDecide``: the caller's token cannot be judged (no usable signing
  key, an introspection endpoint that does not answer).
* ``ExchangeError``: the OIC token could not be obtained.
* ``ConfigError``: a setting is missing or malformed.
* ``InternalError``: raised and caught inside one module (a fetch, a decoder,
  a store); one that escapes is a defect.

Messages never contain a token, a signature or a secret: they are logged and
may be shown to operators. ``reason`` is a stable code for logs and tests.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error either function raises on purpose."""

    reason = "error"


# --------------------------------------------------------------------------
# The caller is refused.


class TokenRejected(GatewayError):
    """The request is refused. ``oauth_error`` is the RFC 6750 error code."""

    reason = "rejected"
    oauth_error: str | None = "invalid_token"
    names_scope = True  # an insufficient_scope challenge names the required scope

    def __init__(self, message: str, reason: str | None = None, *, for_caller: str | None = None) -> None:
        """``message`` is logged; ``for_caller`` (default: the message) is what the
        caller's challenge says, when the message names something only an
        operator should know (a rule, a setting's value)."""
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.for_caller = message if for_caller is None else for_caller


class MissingToken(TokenRejected):
    """No credentials at all: RFC 6750 says answer without an error code."""

    reason = "missing_token"
    oauth_error = None


class InvalidRequest(TokenRejected):
    """The authorizer's input body is not what API Gateway sends."""

    reason = "invalid_request"


class MalformedToken(TokenRejected):
    """Not a compact JWS in canonical form."""

    reason = "malformed_token"


class UnsupportedToken(TokenRejected):
    """Well formed, but uses a feature we refuse (algorithm, crit, zip, ...)."""

    reason = "unsupported_token"


class UnknownKey(TokenRejected):
    """The ``kid`` names no trusted key."""

    reason = "unknown_key"


class InvalidSignature(TokenRejected):
    reason = "invalid_signature"


class InvalidClaims(TokenRejected):
    """A claim is missing, of the wrong type or out of range."""

    reason = "invalid_claims"


class TokenExpired(InvalidClaims):
    reason = "expired"


class TokenNotYetValid(InvalidClaims):
    reason = "not_yet_valid"


class InvalidIssuer(InvalidClaims):
    reason = "invalid_issuer"


class InvalidAudience(InvalidClaims):
    reason = "invalid_audience"


class BadPath(InvalidRequest):
    """The request's path is not an integration path the shared rule allows
    (``oic_gateway.access.paths``). The authorizer denies; the backend
    function answers 400 ``bad_path``. Messages are fixed strings."""

    reason = "bad_path"
    oauth_error = "invalid_request"


class BadQuery(InvalidRequest):
    """The request's query string carries a parameter OIC's runtime gives
    meaning to (``oic_gateway.access.query``). The backend function answers
    400 ``bad_query``. Messages are fixed strings."""

    reason = "bad_query"
    oauth_error = "invalid_request"


class AccessDenied(TokenRejected):
    """A valid token that may not make this call. On the wire: RFC 6750
    ``insufficient_scope`` (HTTP 403 from the backend)."""

    reason = "access_denied"
    oauth_error = "insufficient_scope"


class InsufficientScope(AccessDenied):
    """None of the required scopes, or no access rule grants this token."""

    reason = "insufficient_scope"


class NotGranted(InsufficientScope):
    """A token with the required scope that no access rule lets call this
    integration. The challenge names no scope (the caller already has it, and
    another token with it would fare no better) and says nothing of the rules."""

    reason = "not_granted"
    names_scope = False
    FOR_CALLER = "this token does not grant this integration"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message, reason, for_caller=self.FOR_CALLER)


class UnmappedSubject(AccessDenied):
    """The subject mapping names no identity-domain user for this caller:
    there is no OIC identity to act as."""

    reason = "unmapped_subject"


# --------------------------------------------------------------------------
# The caller's token cannot be judged.


class CannotDecide(GatewayError):
    reason = "cannot_decide"


class KeysUnavailable(CannotDecide):
    """No usable signing key: the JWKS endpoint fails and nothing usable is cached."""

    reason = "keys_unavailable"


# --------------------------------------------------------------------------
# Raised and caught inside one module; never what a caller is answered.


class InternalError(GatewayError):
    """Base of errors that never leave the module that handles them (a
    decoder's, a store's, a retry loop's). One that escapes is a defect."""

    reason = "internal_error"


class FetchError(InternalError):
    """A fetch from an identity-provider endpoint failed (status, body, timeout).

    The key store turns it into ``KeysUnavailable`` or keeps serving cached
    keys. The message names the URL and what went wrong, never a body.
    """

    reason = "fetch_error"


# --------------------------------------------------------------------------
# The token exchange failed (the OIC token could not be obtained).


class ExchangeError(GatewayError):
    """Base: the OIC token could not be obtained."""

    reason = "exchange_error"


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


class TokenEndpointThrottled(TokenEndpointUnavailable):
    """The token endpoint answered 429 or 503: nobody may ask again before
    ``retry_at`` (wall clock), which its ``Retry-After`` (or our back-off) set."""

    reason = "token_endpoint_throttled"

    def __init__(self, message: str, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class MalformedTokenResponse(ExchangeError):
    reason = "malformed_token_response"


class SecretUnavailable(ExchangeError):
    """A secret could not be read from OCI Vault."""

    reason = "secret_unavailable"


# --------------------------------------------------------------------------
# Configuration: one class for both functions.


class ConfigError(GatewayError):
    """A configuration key is missing or malformed. The message names the key."""

    reason = "config_error"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration {key}: {problem}")
        self.key = key
        self.problem = problem

    def each(self) -> list[ConfigError]:
        """Every single problem this error stands for."""
        return [self]

    @staticmethod
    def combine(found: list[ConfigError]) -> ConfigError:
        """One error for one problem; several in one message otherwise."""
        flat = [single for error in found for single in error.each()]
        return flat[0] if len(flat) == 1 else ConfigErrors(flat)


class ConfigErrors(ConfigError):
    """Several keys are wrong: one message (and one log line) names them all,
    so an operator fixes them in one pass instead of one redeploy per key."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__(errors[0].key, errors[0].problem)
        self.args = ("; ".join(str(error) for error in errors),)
        self.errors = errors

    def each(self) -> list[ConfigError]:
        return list(self.errors)
