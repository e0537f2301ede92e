import base64
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from oic_gateway.verification.encoding import (
    MAX_JSON_DEPTH,
    DecodeError,
    b64url_decode,
    b64url_encode,
    strict_json_object,
)


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


@contextmanager
def refused(reason: str) -> Iterator[None]:
    """Refused with a DecodeError saying exactly ``reason``."""
    with pytest.raises(DecodeError) as caught:
        yield
    assert str(caught.value) == reason


# -- base64url: every layer of the strict decoder on its own ----------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_final_character_must_leave_the_unused_bits_clear():
    for index, char in enumerate(_ALPHABET):
        # "QUJDQ" + c: one trailing byte; c carries 2 data bits and 4 unused bits.
        # "QU" + c: two trailing bytes; c carries 4 data bits and 2 unused bits.
        # "QUJDQUJ" + c: no trailing bytes, no unused bits.
        for segment, unused in (("QUJDQ" + char, index & 0x0F), ("QU" + char, index & 0x03), ("QUJDQUJ" + char, 0)):
            if unused:
                with refused("non-canonical base64url"):
                    b64url_decode(segment)
            else:
                assert b64url_encode(b64url_decode(segment)) == segment


@pytest.mark.parametrize(
    "segment",
    [
        "Zm9vZm9v  ",  # lenient base64 would skip the spaces and answer b"foofoo"
        "Zm9v\tZm9v\tZg",
        "Zm9vZm9v\r\n",
        "Zm!v",  # a character outside every alphabet
        "Zm9v.A",
        "QU\x00",
    ],
)
def test_characters_outside_the_alphabet_are_refused_not_skipped(segment):
    with refused("not base64url"):
        b64url_decode(segment)


@pytest.mark.parametrize("segment", ["QU!", "QUJDQ!", "QU é"])
def test_an_unknown_final_character_is_not_base64url_rather_than_non_canonical(segment):
    with refused("not base64url"):
        b64url_decode(segment)


# -- strict JSON: each refusal, with its own reason ---------------------------


def nested(depth: int, inner: bytes = b"1", kinds: str = "o") -> bytes:
    """``depth`` containers, one inside the other (objects and/or lists)."""
    text = inner
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        text = b'{"a":' + text + b"}" if kind == "o" or level == depth - 1 else b"[" + text + b"]"
    return text


@pytest.mark.parametrize("kinds", ["o", "ol", "lo"])
def test_json_depth_limit_is_exact(kinds):
    assert MAX_JSON_DEPTH == 8
    assert strict_json_object(nested(MAX_JSON_DEPTH, kinds=kinds))
    with refused("JSON nested too deeply"):
        strict_json_object(nested(MAX_JSON_DEPTH + 1, kinds=kinds))


@pytest.mark.parametrize("max_depth", [1, 2, 3, 4, 5, 6])
def test_json_depth_limit_is_exact_for_every_budget(max_depth):
    assert strict_json_object(nested(max_depth), max_depth=max_depth)
    with refused("JSON nested too deeply"):
        strict_json_object(nested(max_depth + 1), max_depth=max_depth)
    with refused("JSON nested too deeply"):
        strict_json_object(nested(max_depth + 1, b"[]"), max_depth=max_depth)


def test_depth_is_counted_on_every_branch_not_only_the_first():
    deep = nested(MAX_JSON_DEPTH)[5:-1]  # the object inside the top one: 7 levels
    assert strict_json_object(b'{"a":1,"b":' + deep + b"}")
    with pytest.raises(DecodeError, match="nested too deeply"):
        strict_json_object(b'{"a":1,"b":{"c":' + deep + b"}}")
    with pytest.raises(DecodeError, match="nested too deeply"):
        strict_json_object(b'{"x":[1,{"y":2}],"b":{"c":' + deep + b"}}")


def test_zero_depth_budget_refuses_any_nesting():
    assert strict_json_object(b'{"a":1}', max_depth=0) == {"a": 1}
    with pytest.raises(DecodeError, match="nested too deeply"):
        strict_json_object(b'{"a":{}}', max_depth=0)


def test_integer_digits_limit_is_exact():
    assert strict_json_object(b'{"a":' + b"9" * 20 + b"}") == {"a": int("9" * 20)}
    with refused("number out of range"):
        strict_json_object(b'{"a":' + b"9" * 21 + b"}")


def test_many_members_are_not_mistaken_for_duplicates():
    members = b",".join(b'"m%d":%d' % (i, i) for i in range(300))
    assert len(strict_json_object(b"{" + members + b"}")) == 300


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"a":1,"a":2}', "duplicate member name"),
        (b'{"a":NaN}', "non-standard JSON constant NaN"),
        (b'{"a":1e999}', "number out of range"),
        (b'{"a":' + b"9" * 30 + b"}", "number out of range"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1,2]", "not a JSON object"),
        (b"}", "not a JSON object"),
        (b"~", "not a JSON object"),
        (b"  [1]", "not a JSON object"),
        ("é".encode(), "not a JSON object"),
        (b"", "not a JSON object"),
        (b'{"a":}', "not JSON"),
        (b"{", "not JSON"),
        (b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}", "not JSON"),  # the C scanner's recursion limit
        (b'{"a":1} trailing', "trailing data after JSON"),
        (b'{"a":1}{}', "trailing data after JSON"),
    ],
)
def test_strict_json_refusals_say_why(raw, reason):
    with refused(reason):
        strict_json_object(raw)


@pytest.mark.parametrize("raw", [b' {"a":1}', b'\n\t{"a":1}', b'{"a":1} ', b'{"a":1}\r\n', b'  {"a":1}  '])
def test_surrounding_json_whitespace_is_accepted(raw):
    assert strict_json_object(raw) == {"a": 1}
