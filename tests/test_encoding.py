import base64

import pytest

from token_exchange.shared.encoding import DecodeError, b64url_decode, b64url_encode, strict_json_object


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"\xff\xfe\xfd\x00", bytes(range(256))])
def test_round_trip(data):
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert b64url_decode(encoded) == data
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "segment, why",
    [
        ("Zg==", "padding"),
        ("Zm9v+A", "standard alphabet +"),
        ("Zm9v/A", "standard alphabet /"),
        ("Zm9", "unused bits set (non-canonical: 'Zm8' is canonical)"),
        ("Zh", "unused bits set (non-canonical: 'Zg' is canonical)"),
        ("Z", "impossible length"),
        ("Zm 9v", "whitespace"),
        ("Zm9v\n", "newline"),
        ("Zm9vé", "non-ASCII"),
    ],
)
def test_rejects_non_canonical(segment, why):
    with pytest.raises(DecodeError):
        b64url_decode(segment)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e999}',
        b'{"a":' + b"9" * 30 + b"}",
        b"[1,2]",
        b'"str"',
        b"\xff\xfe{}",
        b'{"a":1} trailing',
        b'{"a":' + b"[" * 20 + b"]" * 20 + b"}",
        b"[" * 100000 + b"]" * 100000,
        b"",
    ],
)
def test_strict_json_rejects(raw):
    with pytest.raises(DecodeError):
        strict_json_object(raw)


def test_strict_json_accepts_plain_object():
    assert strict_json_object(b'{"a":[1,2.5,"x",{"b":null}],"c":true}') == {
        "a": [1, 2.5, "x", {"b": None}],
        "c": True,
    }
