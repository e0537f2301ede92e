"""Who is calling the backend: its own bearer token, verified here.

Zero trust between hops: the gateway's authorizer has checked the token, but
the function can be invoked by anything IAM lets invoke it (another
deployment, a direct ``fn invoke``), and headers prove nothing. So the
backend verifies the caller's token itself, with the very same verifier and
settings as the authorizer (``oic_gateway.verification.config``), and
derives the OIC user from the verified claims (``OIC_SUBJECT_CLAIM`` /
``OIC_SUBJECT_MAP``). A verified token is cached by a hash of the token until
its ``exp``: a warm call for a token seen before costs a hash and a lookup.

``ACCESS_POLICY``, when set, is enforced here too (the same rules as the
authorizer's, against the integration path this function is about to call):
each hop checks what it can.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oic_gateway.access.paths import IntegrationPath
from oic_gateway.access.policy import AccessPolicy, access_policy_from_env
from oic_gateway.access.subjects import SubjectMapper, subject_mapper_from_env
from oic_gateway.errors import TokenRejected
from oic_gateway.lru import ExpiringLru
from oic_gateway.verification.bearer import bearer_token, www_authenticate
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.config import VerifierConfig, build_verifier
from oic_gateway.verification.verifier import JwtVerifier

VERIFIED_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class Caller:
    claims: Claims
    oic_subject: str  # the identity-domain user OIC assertions name: mapped, or the token's principal
    token_hash: str  # 16 hex of SHA-256, for logs


class CallerVerifier:
    def __init__(
        self,
        config: VerifierConfig,
        verifier: JwtVerifier,
        *,
        subjects: SubjectMapper | None = None,
        policy: AccessPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.subjects = subjects
        self.policy = policy
        self._clock = clock
        self._verified: ExpiringLru[bytes, Caller] = ExpiringLru(VERIFIED_CACHE_ENTRIES)
        self._required_scope = " ".join(sorted(config.required_scopes))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CallerVerifier:
        config, verifier = build_verifier(env)
        return cls(config, verifier, subjects=subject_mapper_from_env(env, config.trusted),
                   policy=access_policy_from_env(env, config.trusted))

    def verify(self, authorization: object, deadline: float | None = None) -> Caller:
        """The verified caller of an ``Authorization`` value. Raises ``TokenRejected``
        subclasses, or ``KeysUnavailable`` (no usable signing key: cannot decide,
        or not by ``deadline``, the call's, monotonic)."""
        token = bearer_token(authorization)
        now = self._clock()
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        caller = self._verified.get(key, now)
        if caller is None:
            claims = self.verifier.verify(token, deadline)
            subject = self.subjects.subject(claims) if self.subjects is not None else claims.sub
            caller = Caller(claims, subject, key.hex()[:16])
            self._verified.put(key, caller, claims.exp, now)
        return caller

    @staticmethod
    def matches_claimed_subject(caller: Caller, claimed: str | None) -> bool:
        """A caller-subject header is never proof: when present (and not empty) it must
        name the verified, mapped subject, else the call is refused. (Empty: the route
        sets it from ``request.auth[oic_sub]``, which is empty when the authorizer maps no one.)"""
        return not claimed or claimed == caller.oic_subject

    def authorize(self, caller: Caller, path: IntegrationPath, method: str) -> str | None:
        """The access rule that allows this call (None when no policy is set); else raise."""
        if self.policy is None:
            return None
        return self.policy.decide(caller.claims, path, method)

    def challenge(self, rejected: TokenRejected) -> str:
        return www_authenticate(self.config.realm, rejected, self._required_scope)
