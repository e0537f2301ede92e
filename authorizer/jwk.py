"""JSON Web Keys: turn a JWKS document into the RSA keys we may verify with.

A key set is screened key by key. An unusable key (wrong type or use, short
modulus, bad exponent, private material, duplicate ``kid``) is dropped with a
reason and never takes the usable keys down with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from .encoding import DecodeError, b64url_decode, strict_json_object

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
MAX_KID_LENGTH = 128
MAX_KEYS = 64
# Members that only a private (or symmetric) key carries.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class SigningKey:
    """A trusted RS256 verification key."""

    kid: str
    public_key: RSAPublicKey
    modulus_bytes: int


@dataclass(frozen=True)
class KeySet:
    """The usable keys of one JWKS document, and why the others were dropped."""

    keys: dict[str, SigningKey]
    rejected: list[tuple[str, str]] = field(default_factory=list)


class UnusableKey(ValueError):
    pass


def _uint(member: str, jwk: dict[str, Any]) -> int:
    value = jwk.get(member)
    if not isinstance(value, str) or not value:
        raise UnusableKey(f"'{member}' missing")
    try:
        raw = b64url_decode(value)
    except DecodeError:
        raise UnusableKey(f"'{member}' is not base64url") from None
    return int.from_bytes(raw, "big")


def parse_signing_key(jwk: Any) -> SigningKey:
    """Screen one JWK; raise ``UnusableKey`` with the reason if we must not use it."""
    if not isinstance(jwk, dict):
        raise UnusableKey("not an object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise UnusableKey("'kid' missing or not a short string")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise UnusableKey("publishes private or symmetric key material")
    if jwk.get("kty") != "RSA":
        raise UnusableKey("'kty' is not RSA")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey("'use' is not sig")
    if jwk.get("alg", "RS256") != "RS256":
        raise UnusableKey("'alg' is not RS256")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnusableKey("'key_ops' does not allow verify")
    n = _uint("n", jwk)
    e = _uint("e", jwk)
    bits = n.bit_length()
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise UnusableKey(f"modulus of {bits} bits")
    if e < 3 or e % 2 == 0 or e.bit_length() > 32:
        raise UnusableKey("bad public exponent")
    try:
        public_key = RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise UnusableKey("not a valid RSA public key") from None
    return SigningKey(kid=kid, public_key=public_key, modulus_bytes=(bits + 7) // 8)


def parse_jwks(document: bytes) -> KeySet:
    """Parse a JWKS document. Raises ``ValueError`` only if the document itself
    is unusable (not a JSON object with a ``keys`` list, or no usable key)."""
    try:
        body = strict_json_object(document, max_depth=6)
    except DecodeError as exc:
        raise ValueError(f"JWKS is not a JSON object: {exc}") from None
    entries = body.get("keys")
    if not isinstance(entries, list):
        raise ValueError("JWKS has no 'keys' list")
    if len(entries) > MAX_KEYS:
        raise ValueError(f"JWKS has more than {MAX_KEYS} keys")
    keys: dict[str, SigningKey] = {}
    rejected: list[tuple[str, str]] = []
    duplicate: set[str] = set()
    for entry in entries:
        label = entry.get("kid") if isinstance(entry, dict) else None
        label = label if isinstance(label, str) else "?"
        try:
            key = parse_signing_key(entry)
        except UnusableKey as exc:
            rejected.append((label[:MAX_KID_LENGTH], str(exc)))
            continue
        if key.kid in keys or key.kid in duplicate:
            # Two keys under one kid: we cannot tell which one the issuer
            # means, so trust neither.
            duplicate.add(key.kid)
            keys.pop(key.kid, None)
            rejected.append((key.kid, "duplicate 'kid'"))
            continue
        keys[key.kid] = key
    if not keys:
        raise ValueError("JWKS has no usable RS256 key")
    return KeySet(keys=keys, rejected=rejected)
