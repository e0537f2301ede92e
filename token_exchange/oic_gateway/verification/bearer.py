"""The caller's bearer token in, a challenge out: RFC 6750, one reading for
both functions (the authorizer reads it from the gateway's argument, the
backend from the ``Authorization`` header the route passes it)."""

from __future__ import annotations

from oic_gateway.errors import InvalidRequest, MalformedToken, MissingToken, TokenRejected

# RFC 6750 section 2.1: "Bearer" 1*SP b64token. We accept exactly one space
# and a case-insensitive scheme. Whatever follows must be a compact JWS, which
# ``jws.decode`` checks character by character (no whitespace can pass).
_SCHEME = "bearer "


def bearer_token(header: object) -> str:
    """The bare token of an ``Authorization`` value. Raises ``TokenRejected`` subclasses."""
    if header is None or header == "":
        raise MissingToken("no token")
    if isinstance(header, list):
        raise InvalidRequest("the token header was sent more than once", reason="repeated_header")
    if not isinstance(header, str):
        raise InvalidRequest("the token argument is not a string")
    if header[:7].lower() != _SCHEME or len(header) == 7:
        raise MalformedToken("not a 'Bearer <token>' value", reason="bad_scheme")
    return header[7:]


def www_authenticate(realm: str, error: TokenRejected, required_scope: str = "") -> str:
    """The challenge: no error code when no token was sent; ``scope`` with ``insufficient_scope``.
    ``error_description`` is the error's own fixed text, never caller input."""
    value = f'Bearer realm="{realm}"'
    if error.oauth_error is not None:
        value += f', error="{error.oauth_error}"'
        description = error.for_caller.replace('"', "'").replace("\\", "/")
        if description:
            value += f', error_description="{description}"'
        if error.oauth_error == "insufficient_scope" and required_scope and error.names_scope:
            value += f', scope="{required_scope}"'
    return value
