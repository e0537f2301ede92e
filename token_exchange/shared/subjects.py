"""Which identity-domain user a caller is, for OIC user assertions.

A caller from another issuer (e.g. Entra ID) is not a user of the identity
domain under its own ``sub``. ``OIC_SUBJECT_CLAIM`` names the verified claim
that holds the domain user name (e.g. ``upn`` or ``email``), or
``OIC_SUBJECT_MAP`` (JSON object) maps principals to domain users. A caller
with no mapping is refused: there is no OIC identity to act as.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .claims import Claims
from .errors import ConfigError, InsufficientScope

MAX_MAPPED = 1000


@dataclass(frozen=True)
class SubjectMapper:
    claim: str | None
    table: Mapping[str, str] | None

    def subject(self, claims: Claims) -> str:
        if self.table is not None:
            mapped = self.table.get(claims.sub)
            if mapped is None:
                raise InsufficientScope("no OIC user is mapped for this caller", reason="unmapped_subject")
            return mapped
        assert self.claim is not None
        value = claims.payload.get(self.claim)
        if not isinstance(value, str) or not value or len(value) > 256:
            raise InsufficientScope(f"the token has no usable '{self.claim}' claim to map to an OIC user",
                                    reason="unmapped_subject")
        return value


def subject_mapper_from_env(env: Mapping[str, str]) -> SubjectMapper | None:
    claim = env.get("OIC_SUBJECT_CLAIM", "").strip() or None
    raw = env.get("OIC_SUBJECT_MAP", "").strip()
    if claim and raw:
        raise ConfigError("OIC_SUBJECT_MAP", "set both OIC_SUBJECT_MAP and OIC_SUBJECT_CLAIM; keep one")
    if raw:
        try:
            table = json.loads(raw)
        except ValueError:
            raise ConfigError("OIC_SUBJECT_MAP", "is not valid JSON") from None
        if not isinstance(table, dict) or not 0 < len(table) <= MAX_MAPPED or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in table.items()
        ):
            raise ConfigError("OIC_SUBJECT_MAP", f"must be a JSON object of up to {MAX_MAPPED} principal -> user")
        return SubjectMapper(None, table)
    if claim:
        return SubjectMapper(claim, None)
    return None
