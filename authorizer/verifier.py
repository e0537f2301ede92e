"""The verifier facade: ``verify(token) -> Claims`` and ``hydrate()``.

Order of work follows cost: the cheap structural checks of ``jws.decode``
first, then the key lookup, then the signature, then the claims.
"""

from __future__ import annotations

from collections.abc import Callable

from . import jws
from .claims import ClaimRules, Claims, check_claims
from .keystore import KeyStore


class JwtVerifier:
    def __init__(self, keys: KeyStore, rules: ClaimRules, clock: Callable[[], float]) -> None:
        self.keys = keys
        self.rules = rules
        self._clock = clock

    def verify(self, token: str) -> Claims:
        """Raise a ``TokenRejected`` subclass, or ``KeysUnavailable``; else the claims."""
        decoded = jws.decode(token)
        key = self.keys.get(decoded.kid)
        jws.verify_signature(decoded, key)
        return check_claims(decoded.payload, self.rules, self._clock())

    def hydrate(self) -> None:
        """Load the signing keys ahead of the first token."""
        self.keys.hydrate()
