"""The verifier facade: ``verify(token) -> Claims`` and ``hydrate()``.

Order of work: the structural checks of ``jws.decode``; the issuer (an
unknown ``iss`` is refused before any key is fetched) and its algorithms;
the claims (time, issuer, audience, types), which need no key, so that a
token that is wrong anyway is refused even while the keys are unavailable;
then the key, in *that issuer's* store, the signature, and last the required
scopes (``insufficient_scope`` is only ever said of a genuine token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oic_gateway.errors import InvalidIssuer, UnsupportedToken
from oic_gateway.verification import jws
from oic_gateway.verification.claims import ClaimRules, Claims, check_claims, check_scopes
from oic_gateway.verification.keystore import KeyStore


@dataclass(frozen=True)
class TrustedIssuer:
    keys: KeyStore
    rules: ClaimRules
    algorithms: frozenset[str]


class JwtVerifier:
    def __init__(self, issuers: dict[str, TrustedIssuer], clock: Callable[[], float]) -> None:
        self.issuers = issuers
        self._clock = clock

    def verify(self, token: str, deadline: float | None = None) -> Claims:
        """Raise a ``TokenRejected`` subclass, or ``KeysUnavailable``; else the claims.

        ``deadline``: the call's, on the key stores' clock (monotonic in
        production); a key fetch that must be waited for is waited for no
        longer (``KeysUnavailable`` then). None: the stores' own cap."""
        decoded = jws.decode(token)
        iss = decoded.payload.get("iss")
        issuer = self.issuers.get(iss) if type(iss) is str else None
        if issuer is None:
            raise InvalidIssuer("issuer not accepted")
        if decoded.alg not in issuer.algorithms:
            raise UnsupportedToken("algorithm not allowed", reason="algorithm_not_allowed")
        claims = check_claims(decoded.payload, issuer.rules, self._clock(), scopes_too=False)
        key = issuer.keys.get(decoded.kid, deadline)
        jws.verify_signature(decoded, key)
        check_scopes(claims, issuer.rules)
        return claims

    def hydrate(self) -> None:
        """Load every issuer's signing keys ahead of the first token."""
        for store in {id(i.keys): i.keys for i in self.issuers.values()}.values():
            store.hydrate()
