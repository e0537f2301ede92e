"""Compact JWS decoding and signature checks, each layer on its own (pure unit
tests: ``jws`` refuses these tokens itself, not only the verifier after it)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from oic_gateway import errors
from oic_gateway.verification import jws
from oic_gateway.verification.jwk import MAX_KID_LENGTH, parse_signing_key
from oic_gateway.verification.jws import MAX_TOKEN_LENGTH, decode, verify_signature
from tests.tokens import Signer, b64url, b64url_json, idcs_claims

SIGNER = Signer.generate("k1")
KEY = parse_signing_key(SIGNER.jwk())  # bound to RS256
HEADER = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
_fresh = itertools.count()


def token(header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None) -> str:
    return SIGNER.mint(claims=claims or idcs_claims(), header=HEADER if header is None else header)


def unique(header: dict[str, Any]) -> dict[str, Any]:
    """A header not seen before, so the header cache cannot answer for it."""
    return {**header, "x-test": next(_fresh)}


def refused(kind: type[errors.TokenRejected], message: str, value: str, reason: str | None = None) -> None:
    with pytest.raises(kind) as caught:
        decode(value)
    assert type(caught.value) is kind
    assert str(caught.value) == message
    if reason is not None:
        assert caught.value.reason == reason


def test_valid_token_decodes_to_its_parts():
    claims = idcs_claims()
    value = token(claims=claims)
    decoded = decode(value)
    header_b64, payload_b64, signature_b64 = value.split(".")
    assert decoded.header == HEADER and decoded.payload == claims
    assert decoded.signing_input == f"{header_b64}.{payload_b64}".encode()
    assert b64url(decoded.signature) == signature_b64 and len(decoded.signature) == 256
    assert (decoded.kid, decoded.alg) == ("k1", "RS256")
    verify_signature(decoded, KEY)


# -- the token's size and shape ------------------------------------------------


def of_length(length: int) -> str:
    """A well-formed token of exactly ``length`` characters (unsigned: decode
    does not verify), padded with a filler claim and a signature length."""
    header = b64url_json(HEADER)
    start = max(0, (length - len(header) - 400) * 3 // 4 - 20)
    for filler in range(start, start + 8):
        payload = b64url_json({"sub": "x" * filler})
        room = length - len(header) - len(payload) - 2
        signature = b64url(bytes(room * 3 // 4))
        if len(signature) == room:
            return f"{header}.{payload}.{signature}"
    raise AssertionError(f"no token of length {length}")


def test_token_length_limit_is_exact():
    assert MAX_TOKEN_LENGTH == 16 * 1024
    longest = of_length(MAX_TOKEN_LENGTH)
    assert len(longest) == MAX_TOKEN_LENGTH and decode(longest).kid == "k1"
    refused(errors.MalformedToken, "token too long", of_length(MAX_TOKEN_LENGTH + 1))


def test_shape_refusals_say_why():
    value = token()
    h, p, s = value.split(".")
    refused(errors.MalformedToken, "token is not ASCII", value[:-1] + "é")
    refused(errors.MalformedToken, "token has 2 segments, expected 3", f"{h}.{p}")
    refused(errors.MalformedToken, "token has 4 segments, expected 3", f"{value}.{s}")
    refused(errors.MalformedToken, "token has 1 segments, expected 3", h)
    for parts in ((h, p, ""), (h, "", s), ("", p, s)):
        refused(errors.MalformedToken, "empty token segment", ".".join(parts))


def test_payload_and_signature_must_be_canonical():
    h, p, s = token().split(".")
    refused(errors.MalformedToken, "payload or signature: not base64url", f"{h}.{p}=.{s}")
    refused(errors.MalformedToken, "payload or signature: not base64url", f"{h}.{p}.{s}+")
    refused(errors.MalformedToken, "payload or signature: not a JSON object", f"{h}.{b64url_json([1])}.{s}")


# -- the header: every check on its own ------------------------------------------


def test_header_must_be_canonical_json():
    _, p, s = token().split(".")
    refused(errors.MalformedToken, "header: not base64url", f"{b64url_json(HEADER)}=.{p}.{s}")
    twice = b64url(b'{"alg":"RS256","kid":"k1","kid":"k2"}')
    refused(errors.MalformedToken, "header: duplicate member name", f"{twice}.{p}.{s}")


def test_header_nesting_is_limited_to_four_levels():
    four = unique({**HEADER, "x": {"y": {"z": {}}}})
    assert decode(token(four)).header["x"] == {"y": {"z": {}}}
    five = unique({**HEADER, "x": {"y": {"z": {"w": {}}}}})
    refused(errors.MalformedToken, "header: JSON nested too deeply", token(five))


@pytest.mark.parametrize("alg", [None, "none", "None", "HS256", "RS512", "rs256", 7, ["RS256"], {"a": "RS256"}])
def test_algorithm_outside_the_supported_set_is_refused_by_jws_itself(alg):
    header = unique({"kid": "k1"} if alg is None else {"alg": alg, "kid": "k1"})
    refused(errors.UnsupportedToken, "algorithm not allowed", token(header), "algorithm_not_allowed")


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_each_supported_algorithm_passes_the_header_check(alg):
    assert decode(token(unique({"alg": alg, "kid": "k1"}))).alg == alg


@pytest.mark.parametrize(
    "member, what",
    [("jwk", "embedded 'jwk' header"), ("jku", "'jku' header"), ("x5u", "'x5u' header"),
     ("x5c", "embedded 'x5c' header"), ("crit", "'crit' header"), ("zip", "compressed token ('zip')"),
     ("b64", "'b64' header"), ("cty", "'cty' header (nested or typed content)")],
)
def test_each_forbidden_header_member_is_refused(member, what):
    header = unique({**HEADER, member: "x"})
    refused(errors.UnsupportedToken, f"{what} not accepted", token(header), "header_not_allowed")


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"])
def test_access_token_types_are_accepted(typ):
    assert decode(token(unique({**HEADER, "typ": typ}))).header["typ"] == typ


def test_absent_typ_is_accepted():
    assert "typ" not in decode(token(unique({"alg": "RS256", "kid": "k1"}))).header


@pytest.mark.parametrize("typ", ["secevent+jwt", "JWE", "", 1, ["JWT"]])
def test_other_types_are_refused(typ):
    refused(errors.UnsupportedToken, "'typ' not accepted", token(unique({**HEADER, "typ": typ})),
            "header_not_allowed")


def test_kid_length_limit_is_exact():
    assert MAX_KID_LENGTH == 128
    assert decode(token(unique({"alg": "RS256", "kid": "K" * MAX_KID_LENGTH}))).kid == "K" * MAX_KID_LENGTH
    assert decode(token(unique({"alg": "RS256", "kid": "K"}))).kid == "K"
    for kid in ("K" * (MAX_KID_LENGTH + 1), "", 1, None, ["k1"]):
        refused(errors.MalformedToken, "'kid' missing or not a short string",
                token(unique({"alg": "RS256", "kid": kid})))
    refused(errors.MalformedToken, "'kid' missing or not a short string", token(unique({"alg": "RS256"})))


def test_header_cache_is_bounded_and_only_keeps_good_headers():
    jws._checked_headers.clear()
    sizes = []
    for _ in range(3 * jws._HEADER_CACHE_ENTRIES):
        decode(token(unique(HEADER)))
        sizes.append(len(jws._checked_headers))
    assert max(sizes) == jws._HEADER_CACHE_ENTRIES == 64
    assert sizes[jws._HEADER_CACHE_ENTRIES] == 1  # full: cleared, then the new one kept
    bad = token(unique({"alg": "none", "kid": "k1"}))
    for _ in range(2):
        refused(errors.UnsupportedToken, "algorithm not allowed", bad)
    assert bad.split(".")[0] not in jws._checked_headers


def test_cached_header_gives_the_same_answer():
    value = token(unique(HEADER))
    first, second = decode(value), decode(value)
    assert first == second and first.header is second.header


# -- the signature -----------------------------------------------------------------


def test_signature_of_another_key_or_content_does_not_verify():
    other = Signer.generate("k1")
    forged = other.mint(claims=idcs_claims(), header=HEADER)
    with pytest.raises(errors.InvalidSignature) as caught:
        verify_signature(decode(forged), KEY)
    assert type(caught.value) is errors.InvalidSignature and str(caught.value) == "signature does not verify"
    h, _, s = token().split(".")
    with pytest.raises(errors.InvalidSignature, match="does not verify"):
        verify_signature(decode(f"{h}.{b64url_json(idcs_claims(sub='mallory'))}.{s}"), KEY)


@pytest.mark.parametrize("size", [0, 1, 255, 257, 512])
def test_signature_must_be_exactly_the_key_size(size):
    h, p, _ = token().split(".")
    value = f"{h}.{p}.{b64url(bytes(size))}" if size else f"{h}.{p}.AA"
    decoded = decode(value)
    with pytest.raises(errors.InvalidSignature) as caught:
        verify_signature(decoded._replace(signature=bytes(size)), KEY)
    assert str(caught.value) == "signature length does not match the key"


def test_algorithm_the_key_is_not_bound_to_is_refused():
    h, p, s = token(unique({"alg": "PS256", "kid": "k1"})).split(".")
    with pytest.raises(errors.UnsupportedToken) as caught:
        verify_signature(decode(f"{h}.{p}.{s}"), KEY)
    assert caught.value.reason == "algorithm_not_allowed"
    assert str(caught.value) == "algorithm not allowed for this key"


def test_ps256_and_es256_verify_with_keys_bound_to_them():
    ps_key = parse_signing_key({**SIGNER.jwk(), "alg": "PS256"}, frozenset({"PS256"}))
    header = b64url_json({"alg": "PS256", "kid": "k1"})
    payload = b64url_json(idcs_claims())
    signing_input = f"{header}.{payload}".encode()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    good = SIGNER.key.sign(signing_input, pss, hashes.SHA256())
    verify_signature(decode(f"{header}.{payload}.{b64url(good)}"), ps_key)
    pkcs = SIGNER.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # RS256 bytes under a PS256 header
    with pytest.raises(errors.InvalidSignature):
        verify_signature(decode(f"{header}.{payload}.{b64url(pkcs)}"), ps_key)

    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    es_key = parse_signing_key({"kty": "EC", "crv": "P-256", "kid": "e1", "x": b64url(numbers.x.to_bytes(32, "big")),
                                "y": b64url(numbers.y.to_bytes(32, "big"))}, frozenset({"ES256"}))
    header = b64url_json({"alg": "ES256", "kid": "e1"})
    signing_input = f"{header}.{payload}".encode()
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    verify_signature(decode(f"{header}.{payload}.{b64url(raw)}"), es_key)
    with pytest.raises(errors.InvalidSignature, match="does not verify"):
        verify_signature(decode(f"{header}.{payload}.{b64url(bytes(64))}"), es_key)  # r = s = 0


def test_signature_length_of_a_key_that_is_not_a_multiple_of_eight_bits():
    odd = Signer.generate("k1", bits=2056)  # 257-byte signatures
    key = parse_signing_key(odd.jwk())
    assert key.signature_bytes == 257
    verify_signature(decode(odd.mint(claims=idcs_claims(), header=HEADER)), key)
