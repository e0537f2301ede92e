"""JSON Web Keys: turn a JWKS document into the keys we may verify with.

A key set is screened key by key. An unusable key (wrong type or use, short
modulus, bad exponent, private material, duplicate ``kid``, a curve or
algorithm we do not accept) is dropped with a reason and never takes the
usable keys down with it.

Each algorithm is bound to one key type: RS256 and PS256 to RSA keys of at
least 2048 bits, ES256 to EC keys on P-256. A key that names its ``alg``
verifies only that algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey, EllipticCurvePublicNumbers
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from oic_gateway.errors import InternalError
from oic_gateway.verification.encoding import DecodeError, b64url_decode, strict_json_object

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
MAX_KID_LENGTH = 128
MAX_KEYS = 64
# Members that only a private (or symmetric) key carries.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
ALGORITHM_KEY_TYPE = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
SUPPORTED_ALGORITHMS = frozenset(ALGORITHM_KEY_TYPE)


Verify = Callable[[bytes, bytes], None]  # (signature, signing input); raises InvalidSignature


@dataclass(frozen=True)
class SigningKey:
    """A trusted verification key, and the algorithms it may verify."""

    kid: str
    public_key: RSAPublicKey | EllipticCurvePublicKey
    algorithms: frozenset[str]
    signature_bytes: int  # the exact signature length for this key
    # One ready verify function per algorithm the key is bound to: the hot path
    # does a dictionary lookup instead of type checks.
    verifiers: Mapping[str, Verify] = field(default_factory=dict)


@dataclass(frozen=True)
class KeySet:
    """The usable keys of one JWKS document, and why the others were dropped."""

    keys: dict[str, SigningKey]
    rejected: list[tuple[str, str]] = field(default_factory=list)


class UnusableKey(InternalError):
    """One JWK we must not use; ``parse_jwks`` drops it and records why."""

    reason = "unusable_key"


def _uint(member: str, jwk: dict[str, Any]) -> int:
    value = jwk.get(member)
    if not isinstance(value, str) or not value:
        raise UnusableKey(f"'{member}' missing")
    try:
        raw = b64url_decode(value)
    except DecodeError:
        raise UnusableKey(f"'{member}' is not base64url") from None
    return int.from_bytes(raw, "big")


def _rsa(jwk: dict[str, Any]) -> tuple[RSAPublicKey, int]:
    n = _uint("n", jwk)
    e = _uint("e", jwk)
    bits = n.bit_length()
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise UnusableKey(f"modulus of {bits} bits")
    if e < 3 or e % 2 == 0 or e.bit_length() > 32:
        raise UnusableKey("bad public exponent")
    try:
        return RSAPublicNumbers(e, n).public_key(), (bits + 7) // 8
    except ValueError:
        raise UnusableKey("not a valid RSA public key") from None


def _ec(jwk: dict[str, Any]) -> tuple[EllipticCurvePublicKey, int]:
    if jwk.get("crv") != "P-256":
        raise UnusableKey("'crv' is not P-256")
    x, y = _uint("x", jwk), _uint("y", jwk)
    try:
        return EllipticCurvePublicNumbers(x, y, SECP256R1()).public_key(), 64
    except ValueError:
        raise UnusableKey("not a point on P-256") from None


def parse_signing_key(jwk: Any, allowed: frozenset[str] = frozenset({"RS256"})) -> SigningKey:
    """Screen one JWK; raise ``UnusableKey`` with the reason if we must not use it."""
    if not isinstance(jwk, dict):
        raise UnusableKey("not an object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise UnusableKey("'kid' missing or not a short string")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise UnusableKey("publishes private or symmetric key material")
    kty = jwk.get("kty")
    algorithms = frozenset(a for a in allowed if ALGORITHM_KEY_TYPE[a] == kty)
    if not algorithms:
        raise UnusableKey(f"'kty' {kty!r} fits none of the accepted algorithms")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey("'use' is not sig")
    alg = jwk.get("alg")
    if alg is not None:
        if alg not in algorithms:
            raise UnusableKey(f"'alg' {alg!r} is not accepted for this key")
        algorithms = frozenset({alg})
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnusableKey("'key_ops' does not allow verify")
    public_key: RSAPublicKey | EllipticCurvePublicKey
    public_key, size = _rsa(jwk) if kty == "RSA" else _ec(jwk)
    verifiers = {alg: _verifier(alg, public_key) for alg in algorithms}
    return SigningKey(kid=kid, public_key=public_key, algorithms=algorithms, signature_bytes=size,
                      verifiers=verifiers)


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _verifier(alg: str, public_key: RSAPublicKey | EllipticCurvePublicKey) -> Verify:
    """Bind the algorithm's padding and hash to the key once."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
    from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.hashes import SHA256

    if isinstance(public_key, RSAPublicKey):
        padding = PKCS1v15() if alg == "RS256" else PSS(mgf=MGF1(SHA256()), salt_length=32)  # RFC 7518 3.5
        verify_rsa, sha256 = public_key.verify, SHA256()
        return lambda signature, data: verify_rsa(signature, data, padding, sha256)
    verify_ec, ecdsa = public_key.verify, ECDSA(SHA256())

    def es256(signature: bytes, data: bytes) -> None:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
            raise InvalidSignature  # e.g. r = s = 0 (CVE-2022-21449)
        verify_ec(encode_dss_signature(r, s), data, ecdsa)

    return es256


def parse_jwks(document: bytes, allowed: frozenset[str] = frozenset({"RS256"})) -> KeySet:
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
            key = parse_signing_key(entry, allowed)
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
        raise ValueError("JWKS has no usable key")
    return KeySet(keys=keys, rejected=rejected)
