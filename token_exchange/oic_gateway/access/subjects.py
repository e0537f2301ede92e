"""Which identity-domain user a caller is, for OIC user assertions.

A caller from another issuer (e.g. Entra ID) is not a user of the identity
domain under its own ``sub``. ``OIC_SUBJECT_CLAIM`` names the verified claim
that holds the domain user name (e.g. ``upn`` or ``email``), or
``OIC_SUBJECT_MAP`` (JSON object) maps principals to domain users: flat
(``{"<principal>": "<user>"}``) while one authority is trusted, keyed by
issuer (``{"<issuer>": {"<principal>": "<user>"}}``) with several, since a
principal only means something to its own issuer. A caller with no mapping
is refused: there is no OIC identity to act as.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oic_gateway.errors import ConfigError, UnmappedSubject
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.issuers import IssuerConfig

MAX_MAPPED = 1000


@dataclass(frozen=True)
class SubjectMapper:
    claim: str | None
    # (issuer, principal) -> domain user; issuer None in the flat form, which
    # is accepted only while a single authority (key source) is trusted.
    table: Mapping[tuple[str | None, str], str] | None

    def subject(self, claims: Claims) -> str:
        if self.table is not None:
            mapped = self.table.get((claims.issuer, claims.sub)) or self.table.get((None, claims.sub))
            if mapped is None:
                raise UnmappedSubject("no OIC user is mapped for this caller")
            return mapped
        assert self.claim is not None
        value = claims.payload.get(self.claim)
        if not isinstance(value, str) or not value or len(value) > 256:
            raise UnmappedSubject(f"the token has no usable '{self.claim}' claim to map to an OIC user",
                                  for_caller="no OIC user is mapped for this caller")
        return value


def subject_mapper_from_env(env: Mapping[str, str], trusted: Sequence[IssuerConfig] = ()) -> SubjectMapper | None:
    """``trusted``: the verifier's issuers. Principals are only unique within one
    authority: with several, a flat map could let one issuer's principal name
    another issuer's user, and no mapping at all would assert a foreign
    principal as a domain user. Both are refused."""
    claim = env.get("OIC_SUBJECT_CLAIM", "").strip() or None
    raw = env.get("OIC_SUBJECT_MAP", "").strip()
    authorities = {settings.key_source for settings in trusted}
    if claim and raw:
        raise ConfigError("OIC_SUBJECT_MAP", "set both OIC_SUBJECT_MAP and OIC_SUBJECT_CLAIM; keep one")
    if raw:
        return SubjectMapper(None, _table(raw, {settings.issuer for settings in trusted}, len(authorities) > 1))
    if claim:
        return SubjectMapper(claim, None)
    if len(authorities) > 1 and env.get("OIC_GRANT_TYPE", "").strip() == "jwt_bearer":
        raise ConfigError("OIC_SUBJECT_MAP", "OIC_GRANT_TYPE=jwt_bearer with several trusted issuers needs "
                                             "OIC_SUBJECT_MAP (keyed by issuer) or OIC_SUBJECT_CLAIM: another "
                                             "issuer's principal is not a domain user name")
    return None


def _table(raw: str, issuers: set[str], keyed_by_issuer: bool) -> dict[tuple[str | None, str], str]:
    try:
        document = json.loads(raw)
    except ValueError:
        raise ConfigError("OIC_SUBJECT_MAP", "is not valid JSON") from None
    shape = f"must be a JSON object of up to {MAX_MAPPED} principal -> user"
    if not isinstance(document, dict) or not document:
        raise ConfigError("OIC_SUBJECT_MAP", shape)
    nested = all(isinstance(v, dict) for v in document.values())
    if keyed_by_issuer and not nested:
        raise ConfigError("OIC_SUBJECT_MAP", 'several issuers are trusted: key it by issuer, '
                                             '{"<issuer>": {"<principal>": "<user>"}}')
    groups: dict[str | None, object] = dict(document) if nested else {None: document}
    table: dict[tuple[str | None, str], str] = {}
    for issuer, entries in groups.items():
        if issuer is not None and issuers and issuer not in issuers:
            raise ConfigError("OIC_SUBJECT_MAP", f"{issuer!r} is not a trusted issuer")
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in entries.items()
        ):
            raise ConfigError("OIC_SUBJECT_MAP", shape)
        table.update({(issuer, principal): user for principal, user in entries.items()})
    if not 0 < len(table) <= MAX_MAPPED:
        raise ConfigError("OIC_SUBJECT_MAP", shape)
    return table
