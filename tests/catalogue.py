"""The adversarial catalogue: one row per case, its expected verdict and why
it matters. Run through the real fdk runtime by ``test_authorizer_fn``.

Verdicts: ``allow``; ``invalid_token``; ``insufficient_scope``; ``no_token``
(a challenge without an error code, RFC 6750 section 3.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.tokens import (
    AUDIENCE,
    DROP,
    ISSUER,
    Signer,
    b64url,
    b64url_json,
    idcs_claims,
    multi,
    remember,
    single,
    with_overrides,
)

Body = dict[str, Any] | str | bytes


@dataclass(frozen=True)
class Case:
    name: str
    verdict: str
    why: str
    body: Callable[[Signer, Signer], Body]


def _hdr(signer: Signer, **extra: Any) -> dict[str, Any]:
    return with_overrides({"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, extra)


def signed(header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None,
           raw_payload: bytes | None = None, **claim_overrides: Any) -> Callable[[Signer, Signer], Body]:
    """A token correctly signed by the trusted key."""
    def build(s: Signer, _a: Signer) -> Body:
        h = b64url_json(header if header is not None else _hdr(s))
        p = b64url(raw_payload) if raw_payload is not None else b64url_json(
            claims if claims is not None else idcs_claims(**claim_overrides))
        return single(s.mint_raw(h, p))
    return build


def mutate(fn: Callable[[str], str]) -> Callable[[Signer, Signer], Body]:
    """A valid token, then changed by ``fn``."""
    def build(s: Signer, _a: Signer) -> Body:
        return single(remember(fn(s.mint())))
    return build


def _sig(token: str) -> bytes:
    seg = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def _with_sig(token: str, sig: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64url(sig)


def _flip_bit(token: str) -> str:
    sig = bytearray(_sig(token))
    sig[len(sig) // 2] ^= 0x01
    return _with_sig(token, bytes(sig))


def _non_canonical_last_char(token: str) -> str:
    # 256-byte signature -> 342 characters, remainder 2: the last character
    # carries 4 unused bits. Setting one keeps the decoded bytes identical.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    idx = alphabet.index(token[-1])
    return token[:-1] + alphabet[idx | 0x01]


def _standard_alphabet(token: str) -> str:
    head = token.rsplit(".", 1)[0]
    std = base64.b64encode(_sig(token)).decode().rstrip("=")
    if "+" not in std and "/" not in std:
        std = std[:-2] + "+A"  # force one; the point is the alphabet
    return head + "." + std


def _unsigned(alg: str) -> Callable[[Signer, Signer], Body]:
    def build(s: Signer, _a: Signer) -> Body:
        return single(remember(f"{b64url_json({'alg': alg, 'typ': 'JWT', 'kid': s.kid})}."
                               f"{b64url_json(idcs_claims())}."))
    return build


def _hs256_with_public_key(s: Signer, _a: Signer) -> Body:
    pem = s.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64url_json({'alg': 'HS256', 'kid': s.kid})}.{b64url_json(idcs_claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return single(remember(f"{signing_input}.{b64url(mac)}"))


def _rsa_other_alg(alg: str) -> Callable[[Signer, Signer], Body]:
    def build(s: Signer, _a: Signer) -> Body:
        signing_input = f"{b64url_json({'alg': alg, 'kid': s.kid})}.{b64url_json(idcs_claims())}".encode()
        if alg == "RS512":
            sig = s.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA512())
        else:
            sig = s.key.sign(signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        return single(remember(f"{signing_input.decode()}.{b64url(sig)}"))
    return build


def _es256_zero(s: Signer, _a: Signer) -> Body:
    head = f"{b64url_json({'alg': 'ES256', 'kid': s.kid})}.{b64url_json(idcs_claims())}"
    return single(remember(f"{head}.{b64url(bytes(64))}"))


def _attacker_signed(**header_extra: Any) -> Callable[[Signer, Signer], Body]:
    """Signed by the untrusted key, with header members that point at it."""
    def build(s: Signer, a: Signer) -> Body:
        extra = {k: (a.jwk() if v == "ATTACKER_JWK" else v) for k, v in header_extra.items()}
        return single(a.mint_raw(b64url_json(_hdr(s, **extra)), b64url_json(idcs_claims())))
    return build


def _reserialised_header(s: Signer, _a: Signer) -> Body:
    token = s.mint()
    _h, p, sig = token.split(".")
    spaced = b64url(json.dumps({"alg": "RS256", "kid": s.kid, "typ": "JWT"}, indent=1).encode())
    return single(remember(f"{spaced}.{p}.{sig}"))


def _payload_swap(s: Signer, _a: Signer) -> Body:
    token = s.mint()
    h, _p, sig = token.split(".")
    return single(remember(f"{h}.{b64url_json(idcs_claims(sub='admin'))}.{sig}"))


def _nested(depth: int) -> bytes:
    claims = idcs_claims()
    return json.dumps(claims)[:-1].encode() + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


def _dup_claims() -> bytes:
    claims = json.dumps(idcs_claims())[:-1]
    return (claims + ', "sub": "admin"}').encode()


_NOW = int(time.time())

CATALOGUE: list[Case] = [
    # -- accepted ----------------------------------------------------------
    Case("valid single-argument", "allow", "the baseline", lambda s, a: single(s.mint())),
    Case("valid multi-argument", "allow", "the recommended gateway mode",
         lambda s, a: multi("Bearer " + s.mint(), path="/HELLO_WORLD/1.0/hello", method="GET")),
    Case("scheme lower case", "allow", "RFC 7235: the scheme is case-insensitive",
         lambda s, a: single(s.mint(), scheme="bearer ")),
    Case("scheme upper case", "allow", "RFC 7235", lambda s, a: single(s.mint(), scheme="BEARER ")),
    Case("aud as a string", "allow", "IDCS sends a list, others a string", signed(aud=AUDIENCE)),
    Case("no typ header", "allow", "IDCS headers carry no typ", signed(header={"alg": "RS256", "kid": "SIGNING_KEY"})),
    Case("typ application/jwt", "allow", "RFC 7515 4.1.9: the same media type as JWT, case-insensitive",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "typ": "Application/JWT"})),
    Case("typ at+jwt", "allow", "RFC 9068 access tokens", signed(header={"alg": "RS256", "kid": "SIGNING_KEY",
                                                                          "typ": "application/at+jwt"})),
    Case("x5t thumbprints", "allow", "IDCS sends x5t and x5t#S256; they select nothing",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "x5t": "abc", "x5t#S256": "def"})),
    # -- framing and encoding -------------------------------------------------
    Case("two segments", "invalid_token", "not a JWS", mutate(lambda t: t.rsplit(".", 1)[0])),
    Case("four segments", "invalid_token", "JWE-like or smuggled data", mutate(lambda t: t + ".AAAA")),
    Case("empty signature", "invalid_token", "unsigned token with RS256 header", mutate(lambda t: t.rsplit(".", 1)[0] + ".")),
    Case("padded signature", "invalid_token", "padding is not base64url (RFC 7515 2)", mutate(lambda t: t + "==")),
    Case("standard alphabet", "invalid_token", "+ and / are not base64url", mutate(_standard_alphabet)),
    Case("non-canonical last char", "invalid_token", "malleable encodings break token hashing",
         mutate(_non_canonical_last_char)),
    Case("non-UTF-8 payload", "invalid_token", "JSON must be UTF-8 (RFC 8259)",
         signed(raw_payload=b'{"sub":"\xff\xfe"}')),
    Case("duplicate claim names", "invalid_token", "parsers disagree on which one wins", signed(raw_payload=_dup_claims())),
    Case("NaN claim", "invalid_token", "not JSON", signed(raw_payload=json.dumps(idcs_claims())[:-1].encode()
                                                             + b', "x": NaN}')),
    Case("exp 1e300", "invalid_token", "huge numbers must not mean 'never expires'", signed(exp=1e300)),
    Case("exp huge integer", "invalid_token", "bounded integers", signed(raw_payload=json.dumps(idcs_claims())[:-1].encode()
                                                                         + b', "n": ' + b"9" * 400 + b"}")),
    Case("deep nesting", "invalid_token", "bounded work per request", signed(raw_payload=_nested(64))),
    Case("oversized token", "invalid_token", "bounded work per request", signed(pad="x" * 20000)),
    Case("Bearer and many dots", "invalid_token", "split cost and segment count",
         lambda s, a: single("." * 5000)),
    Case("header is an array", "invalid_token", "header must be an object",
         lambda s, a: single(s.mint_raw(b64url(b'["RS256"]'), b64url_json(idcs_claims())))),
    Case("non-ASCII token", "invalid_token", "tokens are ASCII", mutate(lambda t: t[:10] + "é" + t[11:])),
    # -- algorithms and signatures --------------------------------------------
    Case("alg none", "invalid_token", "the classic bypass", _unsigned("none")),
    Case("alg None", "invalid_token", "casing variants", _unsigned("None")),
    Case("alg NONE", "invalid_token", "casing variants", _unsigned("NONE")),
    Case("alg nOnE", "invalid_token", "casing variants", _unsigned("nOnE")),
    Case("HS256 keyed with the RSA public key", "invalid_token", "algorithm confusion", _hs256_with_public_key),
    Case("RS512 validly signed", "invalid_token", "off the allow-list even if the signature is good",
         _rsa_other_alg("RS512")),
    Case("PS256 validly signed", "invalid_token", "off the allow-list even if the signature is good",
         _rsa_other_alg("PS256")),
    Case("ES256 zero r and s", "invalid_token", "psychic signatures (CVE-2022-21449)", _es256_zero),
    Case("alg missing", "invalid_token", "no default algorithm", signed(header={"kid": "SIGNING_KEY"})),
    Case("truncated signature", "invalid_token", "length must equal the modulus", mutate(lambda t: t[:-4])),
    Case("flipped signature bit", "invalid_token", "integrity", mutate(_flip_bit)),
    Case("signature with a byte appended", "invalid_token", "length must equal the modulus",
         mutate(lambda t: _with_sig(t, _sig(t) + b"\x00"))),
    Case("signature with a leading zero byte", "invalid_token", "length must equal the modulus",
         mutate(lambda t: _with_sig(t, b"\x00" + _sig(t)))),
    Case("signed by an untrusted key", "invalid_token", "same kid, wrong key", _attacker_signed()),
    Case("re-serialised header", "invalid_token", "the signature covers the bytes, not the meaning",
         _reserialised_header),
    Case("payload swapped", "invalid_token", "integrity", _payload_swap),
    # -- header and key selection ---------------------------------------------
    Case("embedded jwk", "invalid_token", "a token must not bring its own key", _attacker_signed(jwk="ATTACKER_JWK")),
    Case("jku header", "invalid_token", "a token must not choose where keys come from",
         _attacker_signed(jku="http://127.0.0.1:1/jwks")),
    Case("x5u header", "invalid_token", "same, for certificates", _attacker_signed(x5u="http://127.0.0.1:1/cert")),
    Case("x5c header", "invalid_token", "embedded certificate chain", _attacker_signed(x5c=["MIIB"])),
    Case("jwk header on a validly signed token", "invalid_token", "refused outright, not ignored",
         lambda s, a: signed(header=_hdr(s, jwk=s.jwk()))(s, a)),
    Case("kid path traversal", "invalid_token", "kid is only a dictionary key",
         signed(header={"alg": "RS256", "kid": "../../../../etc/passwd"})),
    Case("kid SQL injection", "invalid_token", "kid is only a dictionary key",
         signed(header={"alg": "RS256", "kid": "x' OR '1'='1"})),
    Case("kid very long", "invalid_token", "bounded", signed(header={"alg": "RS256", "kid": "K" * 5000})),
    Case("kid not a string", "invalid_token", "type confusion", signed(header={"alg": "RS256", "kid": 1})),
    Case("kid missing", "invalid_token", "IDCS always sends one", signed(header={"alg": "RS256"})),
    Case("unknown crit", "invalid_token", "RFC 7515 4.1.11: must reject unknown critical headers",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "crit": ["exp"], "exp": 1})),
    Case("zip header", "invalid_token", "compression is for JWE; decompression bombs",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "zip": "DEF"})),
    Case("cty JWT", "invalid_token", "nested tokens", signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "cty": "JWT"})),
    Case("b64 false", "invalid_token", "unencoded payload changes what is signed",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "b64": False, "crit": ["b64"]})),
    Case("typ JWE-ish", "invalid_token", "only JWT access tokens",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "typ": "secevent+jwt"})),
    Case("typ with another media-type prefix", "invalid_token", "only the application/ prefix may be left out",
         signed(header={"alg": "RS256", "kid": "SIGNING_KEY", "typ": "text/jwt"})),
    # -- claims and time --------------------------------------------------------
    Case("expired", "invalid_token", "exp", signed(exp=_NOW - 3600, iat=_NOW - 7200)),
    Case("expired 30 s ago, inside the leeway", "allow", "CLOCK_SKEW_SECONDS (60) tolerates clock drift",
         lambda s, a: single(s.mint(exp=int(time.time()) - 30, iat=int(time.time()) - 600))),
    Case("nbf 30 s ahead, inside the leeway", "allow", "CLOCK_SKEW_SECONDS", lambda s, a: single(
        s.mint(nbf=int(time.time()) + 30))),
    Case("iat 30 s ahead, inside the leeway", "allow", "CLOCK_SKEW_SECONDS", lambda s, a: single(
        s.mint(iat=int(time.time()) + 30, exp=int(time.time()) + 600))),
    Case("expired 90 s ago, past the leeway", "invalid_token", "leeway boundary", lambda s, a: single(
        s.mint(exp=int(time.time()) - 90, iat=int(time.time()) - 600))),
    Case("expired just past leeway", "invalid_token", "leeway boundary", signed(exp=_NOW - 120, iat=_NOW - 3000)),
    Case("nbf in the future", "invalid_token", "nbf", signed(nbf=_NOW + 600)),
    Case("iat in the future", "invalid_token", "iat", signed(iat=_NOW + 600, exp=_NOW + 3000)),
    Case("exp as a string", "invalid_token", "type confusion", signed(exp=str(_NOW + 3600))),
    Case("exp as true", "invalid_token", "bool is not a time", signed(exp=True)),
    Case("exp missing", "invalid_token", "required", signed(exp=DROP)),
    Case("iat missing", "invalid_token", "required", signed(iat=DROP)),
    Case("lifetime too long", "invalid_token", "MAX_TOKEN_LIFETIME_SECONDS", signed(exp=_NOW + 10 * 86400)),
    Case("issuer without trailing slash", "invalid_token", "exact match", signed(iss=ISSUER.rstrip("/"))),
    Case("issuer with two slashes", "invalid_token", "exact match", signed(iss=ISSUER + "/")),
    Case("look-alike issuer", "invalid_token", "exact match", signed(iss="https://identity.oraclecloud.com.evil.example/")),
    Case("issuer not a string", "invalid_token", "type confusion", signed(iss=[ISSUER])),
    Case("wrong audience", "invalid_token", "token for another API", signed(aud=["https://other.example.com"])),
    Case("empty audience list", "invalid_token", "no audience", signed(aud=[])),
    Case("non-string audience", "invalid_token", "type confusion", signed(aud=[AUDIENCE, 42])),
    Case("audience missing", "invalid_token", "required", signed(aud=DROP)),
    Case("sub missing", "invalid_token", "required", signed(sub=DROP)),
    Case("scope not a string", "invalid_token", "IDCS scope is a space-separated string", signed(scope=["oic-invoke"])),
    # -- scope -----------------------------------------------------------------
    Case("scope missing", "insufficient_scope", "REQUIRED_SCOPES", signed(scope=DROP)),
    Case("scope without the required one", "insufficient_scope", "REQUIRED_SCOPES", signed(scope="read other")),
    Case("scope prefix only", "insufficient_scope", "whole-word match", signed(scope="oic-invoke-all")),
    # -- transport and input shape -----------------------------------------------
    Case("double space after Bearer", "invalid_token", "exactly one space",
         lambda s, a: single(s.mint(), scheme="Bearer  ")),
    Case("tab after Bearer", "invalid_token", "exactly one space", lambda s, a: single(s.mint(), scheme="Bearer\t")),
    Case("CRLF after the token", "invalid_token", "header injection",
         lambda s, a: single(s.mint() + "\r\nX-Evil: 1")),
    Case("trailing space", "invalid_token", "strict framing", lambda s, a: single(s.mint() + " ")),
    Case("no scheme", "invalid_token", "the whole header value is expected", lambda s, a: single(s.mint(), scheme="")),
    Case("Basic scheme", "invalid_token", "wrong scheme", lambda s, a: single("dXNlcjpwYXNz", scheme="Basic ")),
    Case("repeated header", "invalid_token", "the gateway sends an array: ambiguous",
         lambda s, a: multi(["Bearer " + s.mint(), "Bearer " + s.mint()])),
    Case("token argument a number", "invalid_token", "type confusion", lambda s, a: multi(12345)),
    Case("token argument an object", "invalid_token", "type confusion", lambda s, a: multi({"a": 1})),
    Case("body not JSON", "invalid_token", "garbage in", lambda s, a: "this is not json"),
    Case("body a JSON array", "invalid_token", "wrong shape", lambda s, a: "[1,2,3]"),
    Case("body empty", "invalid_token", "wrong shape", lambda s, a: ""),
    Case("body non-UTF-8", "invalid_token", "wrong encoding", lambda s, a: b"\xff\xfe\x00"),
    Case("body with duplicate token members", "invalid_token", "which one would the gateway mean?",
         lambda s, a: '{"type":"TOKEN","token":"Bearer a.b.c","token":"Bearer d.e.f"}'),
    Case("unknown type", "invalid_token", "wrong shape", lambda s, a: {"type": "JWT", "token": "Bearer " + s.mint()}),
    Case("USER_DEFINED without data", "invalid_token", "wrong shape", lambda s, a: {"type": "USER_DEFINED"}),
    Case("data not an object", "invalid_token", "wrong shape", lambda s, a: {"type": "USER_DEFINED", "data": "x"}),
    Case("body too large", "invalid_token", "bounded work", lambda s, a: {"type": "TOKEN", "token": "x" * 100_000}),
    Case("missing token (single)", "no_token", "RFC 6750 3.1: no error code without credentials",
         lambda s, a: {"type": "TOKEN"}),
    Case("missing token (multi)", "no_token", "the gateway omits absent arguments",
         lambda s, a: multi(None, path="/x")),
    Case("empty token", "no_token", "no credentials", lambda s, a: {"type": "TOKEN", "token": ""}),
]
