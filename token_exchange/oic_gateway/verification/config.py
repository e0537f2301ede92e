"""How both functions verify a caller's token, as configured: read once from the
environment, validated (the authorizer and the backend read the very same keys).

OCI Functions passes application and function configuration as environment
variables (``ctx.Config()`` is ``os.environ``). Every problem is reported as
``ConfigError(key, problem)`` so an operator can fix it from one log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oic_gateway.errors import ConfigError
from oic_gateway.net.secret_sources import secret_from_env
from oic_gateway.settings import Problems, integer, optional_url, text
from oic_gateway.verification.claims import ClaimRules
from oic_gateway.verification.idp import JWKS_SCOPE, ClientCredentialsToken, DiscoveryJwksFetcher, JwksFetcher
from oic_gateway.verification.issuers import IssuerConfig, trusted_issuers_from_env
from oic_gateway.verification.keystore import KeyStore
from oic_gateway.verification.verifier import JwtVerifier, TrustedIssuer

JWKS_PATH = "/admin/v1/SigningCert/jwk"
TOKEN_PATH = "/oauth2/v1/token"


@dataclass(frozen=True)
class VerifierConfig:
    trusted: tuple[IssuerConfig, ...]  # every accepted issuer, with its key source and rules
    token_url: str | None  # the domain's token endpoint, when IDCS_DOMAIN_URL is set
    required_scopes: frozenset[str]
    clock_skew: int
    max_token_lifetime: int
    jwks_cache_seconds: int
    jwks_max_stale_seconds: int
    jwks_client_id: str | None
    realm: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VerifierConfig:
        """Raises one ``ConfigError`` naming every wrong key."""
        problems = Problems()
        domain = problems.read(lambda: optional_url(env, "IDCS_DOMAIN_URL"), None)
        if domain is not None:
            domain = domain.rstrip("/")
        trusted = problems.read(lambda: trusted_issuers_from_env(env), None)
        if trusted is None and not problems.failed("TRUSTED_ISSUERS", "TRUSTED_ISSUERS_FILE"):
            trusted = _identity_domain_issuers(env, domain, problems)
        required_scopes = frozenset(_split(text(env, "REQUIRED_SCOPES"), " "))

        jwks_client_id = env.get("JWKS_CLIENT_ID", "").strip() or None
        if jwks_client_id is not None:
            if domain is None:
                problems.add("IDCS_DOMAIN_URL", "needed by JWKS_CLIENT_ID to find the token endpoint")
            if not (env.get("JWKS_CLIENT_SECRET") or env.get("JWKS_CLIENT_SECRET_OCID")):
                problems.add("JWKS_CLIENT_SECRET", "not set, but JWKS_CLIENT_ID is")

        config = cls(
            trusted=tuple(trusted or ()),
            token_url=domain + TOKEN_PATH if domain is not None else None,
            required_scopes=required_scopes,
            # The fallbacks stand in only until raise_any() raises.
            clock_skew=problems.read(lambda: integer(env, "CLOCK_SKEW_SECONDS"), 0),
            max_token_lifetime=problems.read(lambda: integer(env, "MAX_TOKEN_LIFETIME_SECONDS"), 0),
            jwks_cache_seconds=problems.read(lambda: integer(env, "JWKS_CACHE_SECONDS"), 0),
            jwks_max_stale_seconds=problems.read(lambda: integer(env, "JWKS_MAX_STALE_SECONDS"), 0),
            jwks_client_id=jwks_client_id,
            realm=problems.read(lambda: _realm(env), ""),
        )
        problems.raise_any()
        return config


def _identity_domain_issuers(env: Mapping[str, str], domain: str | None, problems: Problems) -> list[IssuerConfig]:
    """The default: one identity domain, its JWKS, TOKEN_ISSUERS and TOKEN_AUDIENCES."""
    jwks_url = problems.read(lambda: optional_url(env, "JWKS_URL"), None)
    if jwks_url is None and not problems.failed("JWKS_URL"):
        if domain is None:
            problems.add("IDCS_DOMAIN_URL", "not set (set it, or set JWKS_URL, or TRUSTED_ISSUERS)")
        else:
            jwks_url = domain + JWKS_PATH
    issuers = _split(text(env, "TOKEN_ISSUERS"), ",")
    if not issuers:
        problems.add("TOKEN_ISSUERS", "empty (give at least one issuer)")
    audiences = frozenset(_split(env.get("TOKEN_AUDIENCES", ""), ","))
    if not audiences:
        problems.add("TOKEN_AUDIENCES", "not set (give the audiences tokens must carry, comma-separated)")
    if jwks_url is None:
        return []
    return [IssuerConfig(issuer, jwks_url, None, audiences, frozenset({"RS256"})) for issuer in issuers]


def _split(value: str, sep: str) -> list[str]:
    return [item.strip() for item in value.split(sep) if item.strip()]


def _realm(env: Mapping[str, str]) -> str:
    realm = text(env, "AUTH_REALM")
    if not realm or not all(c.isprintable() and c not in '"\\' for c in realm) or len(realm) > 64:
        raise ConfigError("AUTH_REALM", 'must be 1 to 64 printable characters without " or \\')
    return realm


def build_verifier(
    env: Mapping[str, str], clock: Callable[[], float] = time.time
) -> tuple[VerifierConfig, JwtVerifier]:
    """Read the verifier's settings and wire one key store per key source.
    Both functions call this: the authorizer and the backend verify callers
    with the very same rules. Raises ``ConfigError``; fetches nothing."""
    config = VerifierConfig.from_env(env)
    access_token = None
    if config.jwks_client_id is not None and config.token_url is not None:
        secret = secret_from_env(env, "JWKS_CLIENT_SECRET", required=True)
        assert secret is not None
        access_token = ClientCredentialsToken(config.token_url, config.jwks_client_id, secret.get, JWKS_SCOPE)
    domain = config.token_url[: -len(TOKEN_PATH)] if config.token_url else None
    stores: dict[tuple[str, frozenset[str]], KeyStore] = {}
    issuers: dict[str, TrustedIssuer] = {}
    for settings in config.trusted:
        # One key store per key source: issuers never share keys unless they
        # name the very same JWKS (the identity domain's TOKEN_ISSUERS do).
        source = (settings.key_source, settings.algorithms)
        if source not in stores:
            token = access_token if domain and settings.key_source.startswith(domain + "/") else None
            fetcher: JwksFetcher
            if settings.jwks_url is not None:
                fetcher = JwksFetcher(settings.jwks_url, access_token=token, algorithms=settings.algorithms)
            else:
                assert settings.discovery_url is not None
                fetcher = DiscoveryJwksFetcher(settings.discovery_url, settings.issuer, algorithms=settings.algorithms)
            stores[source] = KeyStore(
                fetcher,
                time.monotonic,
                fresh_seconds=config.jwks_cache_seconds,
                max_stale_seconds=config.jwks_max_stale_seconds,
            )
        rules = ClaimRules(
            issuers=frozenset({settings.issuer}),
            audiences=settings.audiences,
            required_scopes=settings.required_scopes if settings.required_scopes is not None
            else config.required_scopes,
            leeway=config.clock_skew,
            max_lifetime=config.max_token_lifetime,
            principal_claim=settings.principal_claim,
            scope_claims=settings.scope_claims,
            client_id_claims=settings.client_id_claims,
        )
        issuers[settings.issuer] = TrustedIssuer(stores[source], rules, settings.algorithms)
    return config, JwtVerifier(issuers, clock)
