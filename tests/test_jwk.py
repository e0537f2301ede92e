import json

import pytest

from tests.tokens import Signer, uint_b64
from token_exchange.shared.jwk import UnusableKey, parse_jwks, parse_signing_key


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
