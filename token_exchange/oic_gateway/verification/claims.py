"""Claim checks on a verified payload. Pure: the time comes from the caller.

Boundaries follow RFC 7519 and PyJWT: a token is expired when
``now >= exp + leeway``; not yet valid when ``nbf > now + leeway``; issued in
the future when ``iat > now + leeway``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from oic_gateway.errors import (
    InsufficientScope,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    TokenExpired,
    TokenNotYetValid,
)

MAX_CLAIM_STRING = 1024
MAX_SCOPE_STRING = 8192
MAX_AUDIENCES = 32


@dataclass(frozen=True)
class ClaimRules:
    issuers: frozenset[str]
    audiences: frozenset[str]
    required_scopes: frozenset[str]  # any-of; empty means no scope check
    leeway: int
    max_lifetime: int
    # Which claims carry what, for issuers other than IDCS (e.g. Entra ID:
    # principal "oid", scopes in "scp" and "roles", client in "azp"/"appid").
    principal_claim: str = "sub"
    scope_claims: tuple[str, ...] = ("scope",)
    client_id_claims: tuple[str, ...] = ("client_id",)


class Claims(NamedTuple):
    """The claims the rest of the authorizer relies on, typed and checked.
    (A NamedTuple: immutable, and built in a fraction of a frozen dataclass's time.)"""

    sub: str
    client_id: str | None
    scopes: tuple[str, ...]
    exp: float
    iat: float
    jti: str | None
    issuer: str
    payload: dict[str, Any]  # all verified claims, for subject mapping and access rules


def _time(payload: dict[str, Any], name: str, required: bool) -> float | None:
    value = payload.get(name)
    if value is None:
        if required or name in payload:
            raise InvalidClaims(f"'{name}' missing", reason=f"missing_{name}")
        return None
    # bool is an int subclass: true must not mean 1970-01-01T00:00:01Z.
    if type(value) is not int and type(value) is not float:
        raise InvalidClaims(f"'{name}' is not a number", reason=f"bad_{name}")
    if not math.isfinite(value) or value < 0:
        raise InvalidClaims(f"'{name}' out of range", reason=f"bad_{name}")
    return float(value)


def _optional_string(payload: dict[str, Any], name: str, limit: int = MAX_CLAIM_STRING) -> str | None:
    value = payload.get(name)
    if value is None:
        if name in payload:
            raise InvalidClaims(f"'{name}' is null", reason=f"bad_{name}")
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidClaims(f"'{name}' is not a non-empty string", reason=f"bad_{name}")
    return value


def parse_scopes(value: str) -> tuple[str, ...]:
    return tuple(filter(None, value.split(" ")))


def check_claims(payload: dict[str, Any], rules: ClaimRules, now: float, *, scopes_too: bool = True) -> Claims:
    """Check every claim rule. ``scopes_too=False`` leaves out the required
    scopes, so the verifier can refuse a token on its claims before it needs
    a key, yet answer ``insufficient_scope`` only for a genuine token."""
    exp = _time(payload, "exp", required=True)
    iat = _time(payload, "iat", required=True)
    nbf = _time(payload, "nbf", required=False)
    assert exp is not None and iat is not None

    if now >= exp + rules.leeway:
        raise TokenExpired("token expired")
    if nbf is not None and nbf > now + rules.leeway:
        raise TokenNotYetValid("token not valid yet ('nbf')")
    if iat > now + rules.leeway:
        raise TokenNotYetValid("token issued in the future ('iat')")
    if exp <= iat:
        raise InvalidClaims("'exp' is not after 'iat'", reason="bad_lifetime")
    if exp - iat > rules.max_lifetime:
        raise InvalidClaims("token lifetime exceeds the maximum", reason="bad_lifetime")

    iss = payload.get("iss")
    if not isinstance(iss, str) or iss not in rules.issuers:
        raise InvalidIssuer("issuer not accepted")

    aud = payload.get("aud")
    if type(aud) is str:
        audiences: list[str] = [aud]
    elif type(aud) is list and 0 < len(aud) <= MAX_AUDIENCES:
        for item in aud:
            if type(item) is not str:
                raise InvalidAudience("'aud' is not a string or list of strings")
        audiences = aud
    else:
        raise InvalidAudience("'aud' missing or not a string or list of strings")
    if rules.audiences.isdisjoint(audiences):
        raise InvalidAudience("audience not accepted")

    principal = _optional_string(payload, rules.principal_claim)
    if principal is None:
        raise InvalidClaims(f"'{rules.principal_claim}' missing", reason=f"missing_{rules.principal_claim}")
    if rules.principal_claim != "sub":
        _optional_string(payload, "sub")  # present or not, it must not be malformed
    client_id = None
    for name in rules.client_id_claims:
        client_id = _optional_string(payload, name)
        if client_id is not None:
            break
    jti = _optional_string(payload, "jti")

    if rules.scope_claims == ("scope",):  # the IDCS case, kept fast
        scope = _optional_string(payload, "scope", MAX_SCOPE_STRING)
        scopes = parse_scopes(scope) if scope is not None else ()
    else:
        scopes = _scopes(payload, rules.scope_claims)
    claims = Claims(principal, client_id, scopes, exp, iat, jti, iss, payload)
    if scopes_too:
        check_scopes(claims, rules)
    return claims


def check_scopes(claims: Claims, rules: ClaimRules) -> None:
    if rules.required_scopes and rules.required_scopes.isdisjoint(claims.scopes):
        raise InsufficientScope("none of the required scopes granted")


def _scopes(payload: dict[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    """Scopes from space-separated strings (``scope``, ``scp``) and string
    arrays (``roles``)."""
    found: list[str] = []
    for name in names:
        value = payload.get(name)
        if value is None:
            if name in payload:
                raise InvalidClaims(f"'{name}' is null", reason=f"bad_{name}")
            continue
        if type(value) is str and len(value) <= MAX_SCOPE_STRING:
            found.extend(parse_scopes(value))
        elif type(value) is list and len(value) <= 256 and all(type(v) is str and v for v in value):
            found.extend(value)
        else:
            raise InvalidClaims(f"'{name}' is not a scope string or a list of strings", reason=f"bad_{name}")
    return tuple(found)
