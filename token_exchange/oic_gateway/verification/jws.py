"""Compact JWS: split, decode and verify (RS256; PS256 and ES256 where an
issuer is configured for them).

The header is checked before any key lookup, and nothing in it ever selects a
key source: ``kid`` is only a dictionary key into the trusted key set. The
algorithm must be one the key itself is bound to (see ``jwk``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature

from oic_gateway.errors import InvalidSignature, MalformedToken, UnsupportedToken
from oic_gateway.verification.encoding import DecodeError, b64url_decode, strict_json_object
from oic_gateway.verification.jwk import MAX_KID_LENGTH, SUPPORTED_ALGORITHMS, SigningKey

# IDCS access tokens are 1.5 to 3 KB; a token far above that is an attack or a
# mistake, and refusing it early bounds the work any request can cause.
MAX_TOKEN_LENGTH = 16 * 1024

# Header members we understand. Anything else is ignored unless it changes how
# the token must be processed, which is what the refused ones below do.
_FORBIDDEN_HEADER_MEMBERS = {
    "jwk": "embedded 'jwk' header",
    "jku": "'jku' header",
    "x5u": "'x5u' header",
    "x5c": "embedded 'x5c' header",
    "crit": "'crit' header",
    "zip": "compressed token ('zip')",
    "b64": "'b64' header",
    "cty": "'cty' header (nested or typed content)",
}
# RFC 7515 4.1.9: a media type, compared case-insensitively, whose
# "application/" prefix may be left out; so "JWT" and "application/jwt" are
# one value (RFC 9068 adds "at+jwt" for access tokens).
_ACCEPTED_TYP = frozenset({"jwt", "at+jwt"})



class DecodedJws(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    kid: str
    alg: str


def decode(token: str) -> DecodedJws:
    """Split and decode a compact JWS, refusing anything not in canonical form
    or whose algorithm is none of RS256, PS256 and ES256 (``jwk.SUPPORTED_ALGORITHMS``;
    an issuer may accept fewer). Does not verify the signature."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token too long")
    if not token.isascii():
        raise MalformedToken("token is not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(f"token has {len(parts)} segments, expected 3")
    header_b64, payload_b64, signature_b64 = parts
    if not header_b64 or not payload_b64 or not signature_b64:
        raise MalformedToken("empty token segment")
    checked = _checked_headers.get(header_b64)
    if checked is None:
        checked = _check_header(header_b64)
        if len(_checked_headers) >= _HEADER_CACHE_ENTRIES:
            _checked_headers.clear()
        _checked_headers[header_b64] = checked
    header, kid, alg = checked
    try:
        payload = strict_json_object(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except DecodeError as exc:
        raise MalformedToken(f"payload or signature: {exc}") from None
    return DecodedJws(header, payload, f"{header_b64}.{payload_b64}".encode("ascii"), signature, kid, alg)


# An issuer signs every token with the same few headers, so the checked result
# is kept per header segment (a pure function of that string). Only headers
# that pass are kept; the cache is small and simply cleared when full.
_HEADER_CACHE_ENTRIES = 64
_checked_headers: dict[str, tuple[dict[str, Any], str, str]] = {}


def _check_header(header_b64: str) -> tuple[dict[str, Any], str, str]:
    try:
        header = strict_json_object(b64url_decode(header_b64), max_depth=4)
    except DecodeError as exc:
        raise MalformedToken(f"header: {exc}") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS:
        raise UnsupportedToken("algorithm not allowed", reason="algorithm_not_allowed")
    for member, what in _FORBIDDEN_HEADER_MEMBERS.items():
        if member in header:
            raise UnsupportedToken(f"{what} not accepted", reason="header_not_allowed")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower().removeprefix("application/") not in _ACCEPTED_TYP):
        raise UnsupportedToken("'typ' not accepted", reason="header_not_allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedToken("'kid' missing or not a short string")
    return header, kid, alg


def verify_signature(jws: DecodedJws, key: SigningKey) -> None:
    """Verify with ``key``, which must be bound to the token's algorithm."""
    verify = key.verifiers.get(jws.alg)
    if verify is None:
        raise UnsupportedToken("algorithm not allowed for this key", reason="algorithm_not_allowed")
    # The signature must be exactly as long as the key makes it (RFC 8017
    # 8.2.2 step 1; RFC 7518 3.4): a shorter or longer one is malformed,
    # however lenient the library would be.
    if len(jws.signature) != key.signature_bytes:
        raise InvalidSignature("signature length does not match the key")
    try:
        verify(jws.signature, jws.signing_input)
    except _CryptoInvalidSignature:
        raise InvalidSignature("signature does not verify") from None
