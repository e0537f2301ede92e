"""Strict decoders for the two encodings inside a JWS: base64url and JSON.

PyJWT checks base64url canonicality character by character in Python, which
is most of its cost. A compiled regular expression plus a check of the last
character's unused bits gives the same guarantee at C speed.
"""

from __future__ import annotations

import binascii
import json
import math
from typing import Any

from oic_gateway.errors import InternalError

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")  # bytes.translate is C-fast; str.translate is not
_PADDING = ("", "", "==", "=")

MAX_JSON_DEPTH = 8


class DecodeError(InternalError):
    """Input is not canonical base64url or strict JSON. The message is safe to log.
    Callers turn it into their own refusal (``MalformedToken``, an unusable key)."""

    reason = "decode_error"


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded, canonical base64url (RFC 7515 section 2).

    Refuses padding, the standard alphabet, whitespace, impossible lengths and
    non-canonical final characters (unused bits set), so that exactly one
    string encodes each byte sequence.
    """
    remainder = len(segment) % 4
    # The standard alphabet's + and /, and padding, are not base64url. Each
    # "in" is one C-speed scan; strict_mode then refuses every other
    # character outside the alphabet, whitespace included.
    if remainder == 1 or "+" in segment or "/" in segment or "=" in segment or not segment.isascii():
        raise DecodeError("not base64url")
    if remainder == 2 and _INDEX.get(segment[-1], 0) & 0x0F:
        raise DecodeError("non-canonical base64url")
    if remainder == 3 and _INDEX.get(segment[-1], 0) & 0x03:
        raise DecodeError("non-canonical base64url")
    try:
        return binascii.a2b_base64(
            (segment + _PADDING[remainder]).encode("ascii").translate(_TO_STANDARD), strict_mode=True
        )
    except binascii.Error:
        raise DecodeError("not base64url") from None


def b64url_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii").rstrip("=").translate(
        str.maketrans("+/", "-_")
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DecodeError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    raise DecodeError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError("number out of range")
    return value


def _int_bounded(text: str) -> int:
    # JSON numbers in tokens are times and small counts; 20 digits is ample
    # and keeps int() far from CPython's quadratic-time digit limit.
    if len(text) > 20:
        raise DecodeError("number out of range")
    return int(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_constant=_no_constants,
    parse_float=_finite_float,
    parse_int=_int_bounded,
)


_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


def _too_deep(container: dict[str, Any] | list[Any], budget: int) -> bool:
    """True if ``container`` nests more than ``budget`` levels. Scalars cost
    one type check each: token payloads are mostly flat."""
    for value in container.values() if type(container) is dict else container:
        kind = type(value)
        if (kind is dict or kind is list) and (budget <= 1 or _too_deep(value, budget - 1)):  # type: ignore[arg-type]
            return True
    return False


def strict_json_object(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object: no duplicate names, no NaN or
    Infinity, bounded numbers and nesting, no trailing data."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("not UTF-8") from None
    if text[:1] != "{":
        # JSON allows leading whitespace; a token segment never has any, and
        # the gateway's body does not either. Refusing it keeps one fast path.
        text = text.lstrip(" \t\n\r")
        if text[:1] != "{":
            raise DecodeError("not a JSON object")
    try:
        # scan_once is the C scanner behind json.loads, without the Python
        # wrapper's two regular-expression passes.
        value, end = _SCAN(text, 0)
    except DecodeError:
        raise
    except (ValueError, RecursionError, StopIteration):
        raise DecodeError("not JSON") from None
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise DecodeError("trailing data after JSON")
    if type(value) is not dict:
        raise DecodeError("not a JSON object")
    if _too_deep(value, max_depth):
        raise DecodeError("JSON nested too deeply")
    return value
