"""Trusted issuers: which ``iss`` values are accepted, and for each, where its
keys come from, which audiences and algorithms it may use, and which claims
carry the principal, the scopes and the client.

By default there is one issuer family, the identity domain (``IDCS_DOMAIN_URL``
or ``JWKS_URL``, ``TOKEN_ISSUERS``, ``TOKEN_AUDIENCES``). ``TRUSTED_ISSUERS``
(JSON, or ``TRUSTED_ISSUERS_FILE``, a JSON file shipped in the image) replaces
it with a list, e.g. an identity domain beside a Microsoft Entra ID tenant::

    [{"issuer": "https://identity.oraclecloud.com/",
      "jwks_uri": "https://idcs-123.identity.oraclecloud.com/admin/v1/SigningCert/jwk",
      "audiences": ["https://apigw.example.com/"]},
     {"issuer": "https://login.microsoftonline.com/<tenant>/v2.0", "discovery": true,
      "audiences": ["api://oic-gateway"], "principal_claim": "oid",
      "scope_claims": ["scp", "roles"], "client_id_claims": ["azp", "appid"]}]

Keys of one issuer never verify another issuer's tokens: the token's ``iss``
picks the issuer (an unknown ``iss`` is refused before any fetch), and each
issuer has its own key store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oic_gateway.errors import ConfigError
from oic_gateway.settings import checked_url, json_setting
from oic_gateway.verification.jwk import SUPPORTED_ALGORITHMS

PRINCIPAL_CLAIMS = ("sub", "oid", "appid", "azp", "client_id", "upn", "email", "preferred_username")
MAX_ISSUERS = 8


@dataclass(frozen=True)
class IssuerConfig:
    issuer: str
    jwks_url: str | None  # either this,
    discovery_url: str | None  # or OpenID discovery, which names the jwks_uri
    audiences: frozenset[str]
    algorithms: frozenset[str]
    principal_claim: str = "sub"
    scope_claims: tuple[str, ...] = ("scope",)
    client_id_claims: tuple[str, ...] = ("client_id",)
    required_scopes: frozenset[str] | None = None  # None: the global REQUIRED_SCOPES

    @property
    def key_source(self) -> str:
        return self.jwks_url or self.discovery_url or ""


def trusted_issuers_from_env(env: Mapping[str, str]) -> list[IssuerConfig] | None:
    """The TRUSTED_ISSUERS list, or None when the default (identity domain) applies."""
    setting = json_setting(env, "TRUSTED_ISSUERS")
    if setting is None:
        return None
    key, entries = setting
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_ISSUERS:
        raise ConfigError(key, f"must be a JSON list of 1 to {MAX_ISSUERS} issuer objects")
    parsed = [_issuer(key, i + 1, entry) for i, entry in enumerate(entries)]
    names = [p.issuer for p in parsed]
    if len(set(names)) != len(names):
        raise ConfigError(key, "lists the same issuer twice")
    return parsed


def _strings(key: str, where: str, value: Any, name: str, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty) or not all(
        isinstance(v, str) and v for v in value
    ):
        raise ConfigError(key, f"{where}: '{name}' must be a {'' if allow_empty else 'non-empty '}list of strings")
    return value


def _issuer(key: str, number: int, entry: Any) -> IssuerConfig:
    where = f"issuer #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(key, f"{where} is not an object")
    known = {"issuer", "jwks_uri", "discovery", "discovery_url", "audiences", "algorithms", "principal_claim",
             "scope_claims", "client_id_claims", "required_scopes"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(key, f"{where}: unknown member(s) {', '.join(unknown)}")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ConfigError(key, f"{where}: 'issuer' must be the exact iss value")
    where = f"issuer {issuer}"
    jwks_url = entry.get("jwks_uri")
    discovery_url = entry.get("discovery_url")
    if entry.get("discovery") is True and discovery_url is None:
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    if (jwks_url is None) == (discovery_url is None):
        raise ConfigError(key, f"{where}: give exactly one of 'jwks_uri', 'discovery': true or 'discovery_url'")
    try:
        if jwks_url is not None:
            jwks_url = checked_url(f"{key} ({where}) jwks_uri", str(jwks_url))
        if discovery_url is not None:
            discovery_url = checked_url(f"{key} ({where}) discovery_url", str(discovery_url))
    except ConfigError as error:
        raise ConfigError(key, f"{where}: {error.problem}") from None
    audiences = _strings(key, where, entry.get("audiences"), "audiences")
    algorithms = _strings(key, where, entry.get("algorithms", ["RS256"]), "algorithms")
    bad = sorted(set(algorithms) - SUPPORTED_ALGORITHMS)
    if bad:
        raise ConfigError(key, f"{where}: algorithms {', '.join(bad)} not supported "
                               f"(use {', '.join(sorted(SUPPORTED_ALGORITHMS))})")
    principal = entry.get("principal_claim", "sub")
    if principal not in PRINCIPAL_CLAIMS:
        raise ConfigError(key, f"{where}: 'principal_claim' must be one of {', '.join(PRINCIPAL_CLAIMS)}")
    scope_claims = _strings(key, where, entry.get("scope_claims", ["scope"]), "scope_claims")
    client_claims = _strings(key, where, entry.get("client_id_claims", ["client_id"]), "client_id_claims")
    required = entry.get("required_scopes")
    return IssuerConfig(
        issuer=issuer,
        jwks_url=jwks_url,
        discovery_url=discovery_url,
        audiences=frozenset(audiences),
        algorithms=frozenset(algorithms),
        principal_claim=principal,
        scope_claims=tuple(scope_claims),
        client_id_claims=tuple(client_claims),
        required_scopes=frozenset(_strings(key, where, required, "required_scopes", allow_empty=True))
        if required is not None else None,
    )
