"""Who is calling the backend: its own bearer token, verified here.

Zero trust between hops: the gateway's authorizer has checked the token, but
the function can be invoked by anything IAM lets invoke it (another
deployment, a direct ``fn invoke``), and headers prove nothing. So the
backend verifies the caller's token itself, with the very same verifier and
settings as the authorizer (``oic_gateway.token_checks``, which both build),
and derives the OIC user from the verified claims (``OIC_SUBJECT_CLAIM`` /
``OIC_SUBJECT_MAP``). A verified token is cached by a hash of the token until
its ``exp``: a warm call for a token seen before costs a hash and a lookup.

``ACCESS_POLICY``, when set, is enforced here too (the same rules as the
authorizer's, against the integration path this function is about to call):
each hop checks what it can.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oic_gateway.access.paths import IntegrationPath
from oic_gateway.errors import TokenRejected
from oic_gateway.settings import Problems
from oic_gateway.token_checks import CheckSettings, TokenChecks, token_key
from oic_gateway.verification.bearer import bearer_token
from oic_gateway.verification.claims import Claims


@dataclass(frozen=True)
class Caller:
    claims: Claims
    oic_subject: str  # the identity-domain user OIC assertions name: mapped, or the token's principal
    token_hash: str  # 16 hex of SHA-256, for logs


def _caller(claims: Claims, subject: str | None, key: bytes, _deadline: float | None) -> tuple[Caller, float]:
    return Caller(claims, subject or claims.sub, key.hex()[:16]), claims.exp


class CallerVerifier:
    def __init__(self, settings: CheckSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.checks = TokenChecks(settings, _caller)
        self._clock = clock

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CallerVerifier:
        """Raises one ``ConfigError`` naming every wrong key."""
        problems = Problems()
        settings = CheckSettings.read(env, problems)
        problems.raise_any()
        assert settings is not None
        return cls(settings)

    def verify(self, authorization: object, deadline: float | None = None) -> Caller:
        """The verified caller of an ``Authorization`` value. Raises ``TokenRejected``
        subclasses, or ``KeysUnavailable`` (no usable signing key: cannot decide,
        or not by ``deadline``, the call's, monotonic)."""
        token = bearer_token(authorization)
        now = self._clock()
        key = token_key(token)
        return self.checks.cached(key, now) or self.checks.verify(token, key, now, deadline)

    @staticmethod
    def matches_claimed_subject(caller: Caller, claimed: str | None) -> bool:
        """A caller-subject header is never proof: when present (and not empty) it must
        name the verified, mapped subject, else the call is refused. (Empty: the route
        sets it from ``request.auth[oic_sub]``, which is empty when the authorizer maps no one.)"""
        return not claimed or claimed == caller.oic_subject

    def authorize(self, caller: Caller, path: IntegrationPath, method: str) -> str | None:
        """The access rule that allows this call (None when no policy is set); else raise."""
        return self.checks.authorize(caller.claims, path, method)

    def challenge(self, rejected: TokenRejected) -> str:
        return self.checks.challenge(rejected)
