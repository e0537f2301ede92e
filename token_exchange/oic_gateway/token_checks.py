"""What both functions check about a caller's token, built once.

The authorizer (``authorizer/app.py``) and the backend (``caller.py``) verify
the caller's bearer token with the same verifier and settings
(``verification.config``), name the identity-domain user it stands for
(``access.subjects``), apply ``ACCESS_POLICY`` and answer a refusal with the
same RFC 6750 challenge. What each derives from a verified token (``E``) is
kept in a bounded LRU keyed by the token's SHA-256, until the time its
``derive`` names: a warm call for a token seen before costs a hash and a lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from oic_gateway.access.paths import IntegrationPath
from oic_gateway.access.policy import AccessPolicy, access_policy_from_env
from oic_gateway.access.subjects import SubjectMapper, subject_mapper_from_env
from oic_gateway.errors import TokenRejected
from oic_gateway.lru import ExpiringLru
from oic_gateway.settings import Problems
from oic_gateway.verification.bearer import www_authenticate
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.config import VerifierConfig, build_verifier
from oic_gateway.verification.verifier import JwtVerifier

VERIFIED_CACHE_ENTRIES = 4096

E = TypeVar("E")


def token_key(token: str) -> bytes:
    """The verified-token cache's key: SHA-256 of the token (its first 16 hex name it in logs)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class CheckSettings:
    """The settings both functions read to check a token."""

    config: VerifierConfig
    verifier: JwtVerifier
    policy: AccessPolicy | None = None
    subjects: SubjectMapper | None = None

    @classmethod
    def read(cls, env: Mapping[str, str], problems: Problems) -> CheckSettings | None:
        """Read every part, noting each wrong key in ``problems``; None if the verifier cannot be built."""
        built = problems.read(lambda: build_verifier(env), None)
        trusted = built[0].trusted if built is not None else ()
        policy = problems.read(lambda: access_policy_from_env(env, trusted), None)
        subjects = problems.read(lambda: subject_mapper_from_env(env, trusted), None)
        return None if built is None else cls(built[0], built[1], policy, subjects)


class TokenChecks(Generic[E]):
    """``derive(claims, mapped subject or None, token key, the call's deadline)`` is what a function keeps
    for a verified token, and until when (wall clock). ``cached(key, now)`` is
    the LRU's own lookup: the hot path pays no extra call."""

    def __init__(self, settings: CheckSettings,
                 derive: Callable[[Claims, str | None, bytes, float | None], tuple[E, float]],
                 entries: int = VERIFIED_CACHE_ENTRIES) -> None:
        self.config = settings.config
        self.verifier = settings.verifier
        self.policy = settings.policy
        self.subjects = settings.subjects
        self._derive = derive
        self._verified: ExpiringLru[bytes, E] = ExpiringLru(entries)
        self.cached = self._verified.get
        self.required_scope = " ".join(sorted(settings.config.required_scopes))

    def derive(self, token: str, key: bytes, deadline: float | None = None) -> tuple[E, float]:
        """Verify ``token``, map its subject and derive, without the cache.
        Raises ``TokenRejected`` subclasses, or ``CannotDecide`` (also when no key
        can be had by ``deadline``, the call's, monotonic)."""
        claims = self.verifier.verify(token, deadline)
        subject = self.subjects.subject(claims) if self.subjects is not None else None
        return self._derive(claims, subject, key, deadline)

    def verify(self, token: str, key: bytes, now: float, deadline: float | None = None) -> E:
        """As ``derive``, kept until the time it names (call after a ``cached`` miss)."""
        entry, until = self.derive(token, key, deadline)
        self._verified.put(key, entry, until, now)
        return entry

    def authorize(self, claims: Claims, path: IntegrationPath | None, method: str | None) -> str | None:
        """The access rule that allows this call (None when no policy is set); else raise."""
        return None if self.policy is None else self.policy.decide(claims, path, method)

    def challenge(self, rejected: TokenRejected) -> str:
        return www_authenticate(self.config.realm, rejected, self.required_scope)
