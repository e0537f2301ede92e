import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from oic_gateway.verification.jwk import (
    MAX_KEYS,
    MAX_KID_LENGTH,
    MAX_RSA_BITS,
    MIN_RSA_BITS,
    UnusableKey,
    parse_jwks,
    parse_signing_key,
)
from tests.tokens import Signer, uint_b64


@pytest.fixture(scope="module")
def signer():
    return Signer.generate("k1")


def test_usable_key(signer):
    key = parse_signing_key(signer.jwk())
    assert key.kid == "k1" and key.signature_bytes == 256 and key.algorithms == {"RS256"}


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"kty": "EC"}, "kty"),
        ({"use": "enc"}, "use"),
        ({"alg": "RS512"}, "alg"),
        ({"alg": "HS256"}, "alg"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
        ({"d": "AQAB"}, "private"),
        ({"k": "c2VjcmV0"}, "private"),
        ({"e": uint_b64(1)}, "exponent"),
        ({"e": uint_b64(65536)}, "exponent"),
        ({"e": "AQ=="}, "base64url"),
        ({"kid": ""}, "kid"),
        ({"kid": 7}, "kid"),
        ({"kid": "x" * 200}, "kid"),
        ({"n": None}, "'n' missing"),
    ],
)
def test_unusable_keys(signer, change, reason):
    jwk = {**signer.jwk(), **change}
    with pytest.raises(UnusableKey, match=reason):
        parse_signing_key(jwk)


def test_short_modulus_rejected():
    weak = Signer.generate("weak", bits=1024)
    with pytest.raises(UnusableKey, match="1024 bits"):
        parse_signing_key(weak.jwk())


def test_bad_keys_do_not_drop_good_ones(signer):
    other = Signer.generate("k2")
    doc = {"keys": [
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {**other.jwk(), "use": "enc"},
        signer.jwk(),
        "not an object",
    ]}
    key_set = parse_jwks(json.dumps(doc).encode())
    assert set(key_set.keys) == {"k1"}
    assert {kid for kid, _ in key_set.rejected} == {"sym", "k2", "?"}


def test_duplicate_kid_trusts_neither(signer):
    impostor = Signer.generate("k1")
    doc = {"keys": [signer.jwk(), impostor.jwk(), Signer.generate("k3").jwk()]}
    key_set = parse_jwks(json.dumps(doc).encode())
    assert set(key_set.keys) == {"k3"}


@pytest.mark.parametrize("doc", [b"[]", b'{"keys":{}}', b'{"keys":[]}', b"<html>", b'{"keys":[{"kty":"oct"}]}'])
def test_unusable_documents(doc):
    with pytest.raises(ValueError):
        parse_jwks(doc)


# -- every screening rule on its own, limits at their exact boundary -------------


def rsa_jwk(n: int, e: int = 65537, **extra: Any) -> dict[str, Any]:
    """A public RSA JWK from raw numbers: no key generation needed for size limits."""
    return {"kty": "RSA", "kid": "r1", "n": uint_b64(n), "e": uint_b64(e), **extra}


def unusable(jwk, reason: str, allowed=frozenset({"RS256"})) -> None:
    with pytest.raises(UnusableKey) as caught:
        parse_signing_key(jwk, allowed)
    assert str(caught.value) == reason


def test_modulus_size_limits_are_exact():
    assert (MIN_RSA_BITS, MAX_RSA_BITS) == (2048, 8192)
    assert parse_signing_key(rsa_jwk(2**2047 + 1)).signature_bytes == 256
    assert parse_signing_key(rsa_jwk(2**2048 + 1)).signature_bytes == 257  # 2049 bits: rounded up
    assert parse_signing_key(rsa_jwk(2**8191 + 1)).signature_bytes == 1024
    unusable(rsa_jwk(2**2046 + 1), "modulus of 2047 bits")
    unusable(rsa_jwk(2**8192 + 1), "modulus of 8193 bits")


def test_public_exponent_rules():
    n = 2**2047 + 1
    for e in (3, 5, 65537, 2**32 - 1):
        public_key = parse_signing_key(rsa_jwk(n, e)).public_key
        assert isinstance(public_key, RSAPublicKey) and public_key.public_numbers().e == e
    for e in (1, 2, 4, 65536, 2**32 + 1, 2**33 + 1):
        unusable(rsa_jwk(n, e), "bad public exponent")


@pytest.mark.parametrize("member", ["n", "e"])
def test_missing_or_broken_numbers(member):
    base = rsa_jwk(2**2047 + 1)
    for value, reason in ((None, f"'{member}' missing"), ("", f"'{member}' missing"), (7, f"'{member}' missing"),
                          ("AQ==", f"'{member}' is not base64url")):
        unusable({**base, member: value}, reason)
    unusable({k: v for k, v in base.items() if k != member}, f"'{member}' missing")


def test_kid_limits_are_exact():
    assert MAX_KID_LENGTH == 128
    assert parse_signing_key(rsa_jwk(2**2047 + 1, kid="k" * 128)).kid == "k" * 128
    assert parse_signing_key(rsa_jwk(2**2047 + 1, kid="k")).kid == "k"
    for kid in ("k" * 129, "", None, 1):
        unusable(rsa_jwk(2**2047 + 1, kid=kid), "'kid' missing or not a short string")
    unusable("not a key", "not an object")
    unusable(["kty", "RSA"], "not an object")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_any_private_member_makes_a_key_unusable(member):
    unusable({**rsa_jwk(2**2047 + 1), member: "AQAB"}, "publishes private or symmetric key material")


def test_key_type_algorithm_and_use_binding():
    both = frozenset({"RS256", "PS256"})
    key = parse_signing_key(rsa_jwk(2**2047 + 1), both)
    assert key.algorithms == both and set(key.verifiers) == both
    key = parse_signing_key(rsa_jwk(2**2047 + 1, alg="PS256"), both)
    assert key.algorithms == {"PS256"} and set(key.verifiers) == {"PS256"}
    unusable(rsa_jwk(2**2047 + 1, alg="ES256"), "'alg' 'ES256' is not accepted for this key", both)
    unusable(rsa_jwk(2**2047 + 1), "'kty' 'RSA' fits none of the accepted algorithms", frozenset({"ES256"}))
    unusable(rsa_jwk(2**2047 + 1, kty="oct"), "'kty' 'oct' fits none of the accepted algorithms")
    assert parse_signing_key(rsa_jwk(2**2047 + 1, use="sig")).algorithms == {"RS256"}
    unusable(rsa_jwk(2**2047 + 1, use="enc"), "'use' is not sig")
    unusable(rsa_jwk(2**2047 + 1, use=None), "'use' is not sig")


@pytest.mark.parametrize("key_ops", [["verify"], ["sign", "verify"], None])
def test_key_ops_that_allow_verify(key_ops):
    extra = {} if key_ops is None else {"key_ops": key_ops}
    assert parse_signing_key(rsa_jwk(2**2047 + 1, **extra)).kid == "r1"


@pytest.mark.parametrize("key_ops", [["sign"], [], "verify", {"verify": True}])
def test_key_ops_that_do_not(key_ops):
    unusable(rsa_jwk(2**2047 + 1, key_ops=key_ops), "'key_ops' does not allow verify")


def test_ec_keys():
    from cryptography.hazmat.primitives.asymmetric import ec

    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "kid": "e1", "x": uint_b64(numbers.x), "y": uint_b64(numbers.y)}
    key = parse_signing_key(jwk, frozenset({"ES256", "RS256"}))
    assert key.algorithms == {"ES256"} and key.signature_bytes == 64 and set(key.verifiers) == {"ES256"}
    unusable({**jwk, "crv": "P-384"}, "'crv' is not P-256", frozenset({"ES256"}))
    unusable({**jwk, "y": uint_b64(numbers.y + 1)}, "not a point on P-256", frozenset({"ES256"}))
    unusable({**jwk, "x": None}, "'x' missing", frozenset({"ES256"}))


# -- the document ---------------------------------------------------------------


def test_key_count_limit_is_exact():
    assert MAX_KEYS == 64
    keys = [rsa_jwk(2**2047 + 1, kid=f"k{i}") for i in range(64)]
    assert len(parse_jwks(json.dumps({"keys": keys}).encode()).keys) == 64
    with pytest.raises(ValueError, match=r"^JWKS has more than 64 keys$"):
        parse_jwks(json.dumps({"keys": [*keys, rsa_jwk(2**2047 + 1, kid="k64")]}).encode())


def test_document_nesting_is_limited_to_six_levels():
    three: dict[str, Any] = {"a": {"b": {}}}  # document, keys list, key: with these, six levels
    doc = {"keys": [rsa_jwk(2**2047 + 1, x=three)]}
    assert parse_jwks(json.dumps(doc).encode()).keys["r1"]
    doc = {"keys": [rsa_jwk(2**2047 + 1, x={"deeper": three})]}
    with pytest.raises(ValueError, match=r"^JWKS is not a JSON object: JSON nested too deeply$"):
        parse_jwks(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "doc, message",
    [
        (b"[]", "JWKS is not a JSON object: not a JSON object"),
        (b'{"keys":{}}', "JWKS has no 'keys' list"),
        (b"{}", "JWKS has no 'keys' list"),
        (b'{"keys":[]}', "JWKS has no usable key"),
    ],
)
def test_unusable_documents_say_why(doc, message):
    with pytest.raises(ValueError) as caught:
        parse_jwks(doc)
    assert str(caught.value) == message


def test_a_kid_seen_three_times_is_never_trusted():
    doc = {"keys": [rsa_jwk(2**2047 + 1, kid="dup"), rsa_jwk(2**2047 + 3, kid="dup"), rsa_jwk(2**2047 + 5, kid="dup"),
                    rsa_jwk(2**2047 + 1, kid="ok")]}
    key_set = parse_jwks(json.dumps(doc).encode())
    assert set(key_set.keys) == {"ok"}
    assert key_set.rejected == [("dup", "duplicate 'kid'"), ("dup", "duplicate 'kid'")]


def test_rejections_are_labelled_safely():
    doc = {"keys": [rsa_jwk(2**2047 + 1, kid="x" * 300), rsa_jwk(2**2047 + 1, kid=5), "text",
                    rsa_jwk(2**2047 + 1, kid="ok")]}
    key_set = parse_jwks(json.dumps(doc).encode())
    assert key_set.rejected == [("x" * 128, "'kid' missing or not a short string"),
                                ("?", "'kid' missing or not a short string"), ("?", "not an object")]
    assert parse_jwks(json.dumps({"keys": [rsa_jwk(2**2047 + 1)]}).encode()).rejected == []


def test_allowed_algorithms_reach_every_key():
    doc = {"keys": [rsa_jwk(2**2047 + 1, alg="PS256")]}
    with pytest.raises(ValueError, match="no usable key"):
        parse_jwks(json.dumps(doc).encode())
    assert parse_jwks(json.dumps(doc).encode(), frozenset({"PS256"})).keys["r1"].algorithms == {"PS256"}


def test_the_es256_range_guard_refuses_before_the_library_is_asked():
    """CVE-2022-21449: r and s must lie in (0, n). The guard refuses on its own,
    whatever the library would say (a recording key stands in for it here)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from oic_gateway.verification.jwk import _P256_ORDER, _verifier

    asked: list[tuple[int, int]] = []

    class RecordingKey:
        def verify(self, signature: bytes, data: bytes, algorithm: object) -> None:
            asked.append(decode_dss_signature(signature))

    assert _P256_ORDER == 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    es256 = _verifier("ES256", RecordingKey())  # type: ignore[arg-type]
    n = _P256_ORDER

    def raw(r: int, s: int) -> bytes:
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    for r, s in ((0, 0), (0, 1), (1, 0), (n, 1), (1, n), (n + 1, 1), (1, n + 1), (2**256 - 1, 1), (1, 2**256 - 1)):
        with pytest.raises(InvalidSignature):
            es256(raw(r, s), b"data")
    assert asked == []
    for r, s in ((1, 1), (n - 1, n - 1), (1, n - 1), (n - 1, 1), (2, 3)):
        es256(raw(r, s), b"data")
    assert asked == [(1, 1), (n - 1, n - 1), (1, n - 1), (n - 1, 1), (2, 3)]


def test_algorithms_from_a_parsed_document_pick_their_padding():
    """Names read from JSON are not the interned literals in the code: the
    padding must be chosen by value (RS256: PKCS#1 v1.5, PS256: PSS)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signer = Signer.generate("p1")
    document = json.dumps({"keys": [signer.jwk(alg="RS256"), {**signer.jwk(alg="PS256"), "kid": "p2"},
                                    {**signer.jwk(), "kid": "p3", "alg": None}]}).encode()
    allowed = frozenset(json.loads('["RS256", "PS256"]'))
    keys = parse_jwks(document, allowed).keys
    data = b"signing input"
    pkcs = signer.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    pss = signer.key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    keys["p1"].verifiers["RS256"](pkcs, data)
    keys["p2"].verifiers["PS256"](pss, data)
    keys["p3"].verifiers["RS256"](pkcs, data)
    keys["p3"].verifiers["PS256"](pss, data)
    from cryptography.exceptions import InvalidSignature

    with pytest.raises(InvalidSignature):
        keys["p1"].verifiers["RS256"](pss, data)
    with pytest.raises(InvalidSignature):
        keys["p2"].verifiers["PS256"](pkcs, data)


def test_keys_and_key_sets_are_immutable():
    import dataclasses

    key_set = parse_jwks(json.dumps({"keys": [rsa_jwk(2**2047 + 1)]}).encode())
    with pytest.raises(dataclasses.FrozenInstanceError):
        key_set.keys["r1"].kid = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        key_set.keys = {}  # type: ignore[misc]


@pytest.mark.parametrize("crv", ["P-192", "Ed25519", "", "P-256 ", "p-256", None])
def test_only_the_p256_curve_name(crv):
    jwk = {"kty": "EC", "kid": "e1", "x": uint_b64(1), "y": uint_b64(2)}
    if crv is not None:
        jwk["crv"] = crv
    unusable(jwk, "'crv' is not P-256", frozenset({"ES256"}))
