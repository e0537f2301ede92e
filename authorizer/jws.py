"""Compact JWS: split, decode and verify, RS256 only.

The header is checked before any key lookup, and nothing in it ever selects a
key source: ``kid`` is only a dictionary key into the trusted key set.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from .encoding import DecodeError, b64url_decode, strict_json_object
from .errors import InvalidSignature, MalformedToken, UnsupportedToken
from .jwk import MAX_KID_LENGTH, SigningKey

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
_ACCEPTED_TYP = frozenset({"jwt", "at+jwt", "application/at+jwt"})

_PADDING = PKCS1v15()
_HASH = SHA256()


class DecodedJws(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    kid: str


def decode(token: str) -> DecodedJws:
    """Split and decode a compact JWS, refusing anything not in canonical form
    or not RS256. Does not verify the signature."""
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
    header, kid = checked
    try:
        payload = strict_json_object(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except DecodeError as exc:
        raise MalformedToken(f"payload or signature: {exc}") from None
    return DecodedJws(header, payload, f"{header_b64}.{payload_b64}".encode("ascii"), signature, kid)


# An issuer signs every token with the same few headers, so the checked result
# is kept per header segment (a pure function of that string). Only headers
# that pass are kept; the cache is small and simply cleared when full.
_HEADER_CACHE_ENTRIES = 64
_checked_headers: dict[str, tuple[dict[str, Any], str]] = {}


def _check_header(header_b64: str) -> tuple[dict[str, Any], str]:
    try:
        header = strict_json_object(b64url_decode(header_b64), max_depth=4)
    except DecodeError as exc:
        raise MalformedToken(f"header: {exc}") from None
    alg = header.get("alg")
    if alg != "RS256":
        raise UnsupportedToken("algorithm not allowed", reason="algorithm_not_allowed")
    for member, what in _FORBIDDEN_HEADER_MEMBERS.items():
        if member in header:
            raise UnsupportedToken(f"{what} not accepted", reason="header_not_allowed")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
        raise UnsupportedToken("'typ' not accepted", reason="header_not_allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedToken("'kid' missing or not a short string")
    return header, kid


def verify_signature(jws: DecodedJws, key: SigningKey) -> None:
    """RS256 (RSASSA-PKCS1-v1_5 with SHA-256) with a key screened by ``jwk``."""
    # The signature must be exactly the modulus length (RFC 8017 8.2.2 step 1);
    # a shorter or longer one is malformed however the library would treat it.
    if len(jws.signature) != key.modulus_bytes:
        raise InvalidSignature("signature length does not match the key")
    try:
        key.public_key.verify(jws.signature, jws.signing_input, _PADDING, _HASH)
    except _CryptoInvalidSignature:
        raise InvalidSignature("signature does not verify") from None
