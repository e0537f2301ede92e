"""Every configuration key the two functions read: one typed list.

Pure data, and the one source of every default and range: the readers
(``oic_gateway.settings``) take them from here. The doctor's known keys, the
configuration reference (docs/configuration.md) and the consistency tests
(the readers, the Terraform configuration) all come from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reader = Literal["authorizer", "token-exchange", "both"]


@dataclass(frozen=True)
class SettingKey:
    name: str
    type: str
    default: str | None  # None: no default (required, derived, or off when unset)
    reader: Reader
    secret: bool
    description: str  # one line
    bounds: tuple[float, float] | None = None  # int and float keys: the accepted range, both ends included
    notes: str = ""  # the longer explanation, when there is one

    def reads(self, function: Literal["authorizer", "token-exchange"]) -> bool:
        return self.reader in (function, "both")


A: Reader = "authorizer"
T: Reader = "token-exchange"
B: Reader = "both"
IDCS_AUDIENCE = "https://identity.oraclecloud.com/"
WEEK = 7 * 86400

SETTINGS: tuple[SettingKey, ...] = (
    SettingKey("IDCS_DOMAIN_URL", "url", None, B, False, "The Identity Domain URL.",
               notes="e.g. `https://idcs-<id>.identity.oraclecloud.com`. The JWKS is it + `/admin/v1/SigningCert/jwk`, "
                     "the token endpoint it + `/oauth2/v1/token`. Required unless `JWKS_URL` or `TRUSTED_ISSUERS` is "
                     "set."),
    SettingKey("JWKS_URL", "url", None, B, False, "Signing keys URL (default: from IDCS_DOMAIN_URL).",
               notes="Overrides the JWKS URL derived from `IDCS_DOMAIN_URL`."),
    SettingKey("TOKEN_ISSUERS", "str", IDCS_AUDIENCE, B, False, "Accepted iss values, comma separated.",
               notes="Exact match."),
    SettingKey("TOKEN_AUDIENCES", "str", None, B, False, "Accepted aud values, comma separated.",
               notes="Required. The token's `aud` (a string or a list) must contain at least one."),
    SettingKey("REQUIRED_SCOPES", "str", "", B, False, "Scopes every token needs, space separated.",
               notes="The token's `scope` must contain at least one of them (any-of); empty: no scope check."),
    SettingKey("CLOCK_SKEW_SECONDS", "int", "60", B, False, "Allowed clock skew.", (0, 300),
               notes="Leeway on `exp`, `nbf` and `iat`."),
    SettingKey("MAX_TOKEN_LIFETIME_SECONDS", "int", "86400", B, False, "Longest accepted token lifetime.",
               (60, WEEK), notes="The longest accepted `exp - iat`."),
    SettingKey("JWKS_CACHE_SECONDS", "int", "900", B, False, "How long signing keys are cached.", (1, 86400),
               notes="How long fetched keys stay fresh (minus up to 10 % jitter)."),
    SettingKey("JWKS_MAX_STALE_SECONDS", "int", "3600", B, False, "How long stale keys may serve.", (0, WEEK),
               notes="How long past freshness cached keys are still used while the JWKS endpoint fails; then 502."),
    SettingKey("JWKS_CLIENT_ID", "str", None, B, False, "Client id for fetching signing keys.",
               notes="When the domain's \"Access signing certificate\" is off: the JWKS is read with a "
                     "client-credentials token (scope `urn:opc:idm:__myscopes__`). Needs `IDCS_DOMAIN_URL` and "
                     "`JWKS_CLIENT_SECRET` (or `JWKS_CLIENT_SECRET_OCID`)."),
    SettingKey("JWKS_CLIENT_SECRET", "str", None, B, True, "Its secret, inline."),
    SettingKey("JWKS_CLIENT_SECRET_OCID", "ocid", None, B, False, "Its secret, from Vault."),
    SettingKey("AUTH_REALM", "str", "oic", B, False, "The WWW-Authenticate realm.",
               notes="1 to 64 printable characters without `\"` or `\\`."),
    SettingKey("TRUSTED_ISSUERS", "json", None, B, False, "Several trusted issuers (JSON).",
               notes="Several issuers, each with its own keys and rules; replaces `IDCS_DOMAIN_URL` / `JWKS_URL`, "
                     "`TOKEN_ISSUERS` and `TOKEN_AUDIENCES` (docs/security.md: Trusted issuers)."),
    SettingKey("TRUSTED_ISSUERS_FILE", "str", None, B, False, "TRUSTED_ISSUERS from a file in the image."),
    SettingKey("ACCESS_POLICY", "json", None, B, False, "Per-integration access rules (JSON).",
               notes="The backend enforces them too, against the integration path it is about to call "
                     "(docs/security.md: Per-integration access rules)."),
    SettingKey("ACCESS_POLICY_FILE", "str", None, B, False, "ACCESS_POLICY from a file in the image."),
    SettingKey("GATEWAY_INTEGRATIONS", "json", None, A, False, "The deployment's integrations, one route each (JSON).",
               notes="The list the routes were generated from (`deploy/integrations.json`, `make routes`). Set: the "
                     "answer's `scope` adds the synthetic scope (`oic:<INTEGRATION>/<VERSION>`, "
                     "`oic:project/<PROJECT>/<INTEGRATION>/<VERSION>`) of each integration `ACCESS_POLICY` grants "
                     "(each one, without a policy), which the route's `ANY_OF` checks; a `path` argument is refused. "
                     "At most 50 (OCI's routes per deployment)."),
    SettingKey("GATEWAY_INTEGRATIONS_FILE", "str", None, A, False, "GATEWAY_INTEGRATIONS from a file in the image."),
    SettingKey("OIC_TOKEN_URL", "url", None, B, False, "Token endpoint (default: from IDCS_DOMAIN_URL).",
               notes="Default: `IDCS_DOMAIN_URL` + `/oauth2/v1/token`."),
    SettingKey("OIC_CLIENT_ID", "str", None, B, False, "Client id of the OIC confidential app.",
               notes="The confidential app that may call OIC. Set on the authorizer (with the other exchange keys), "
                     "it turns on the authorizer-context topology."),
    SettingKey("OIC_CLIENT_SECRET", "str", None, B, True, "Its secret, inline.",
               notes="Required for `client_secret_basic`."),
    SettingKey("OIC_CLIENT_SECRET_OCID", "ocid", None, B, False, "Its secret, from Vault."),
    SettingKey("OIC_CLIENT_AUTH", "str", "client_secret_basic", B, False, "How the client authenticates.",
               notes="`client_secret_basic`, or `private_key_jwt` (a client assertion signed with "
                     "`OIC_ASSERTION_KEY`)."),
    SettingKey("OIC_SCOPE", "str", None, B, False, "The OIC app's resource scope.",
               notes="Required. IDCS form, the primary audience then the scope, no separator: "
                     "`https://<oic-primary-audience>urn:opc:resource:consumer::all`. The primary audience is "
                     "the OIC instance's (identity domain: Oracle Cloud Services, the instance's app, OAuth "
                     "configuration, Resources), often a GUID-style host with `:443`, not "
                     "`OIC_BASE_URL`'s host (the doctor warns when they are equal)."),
    SettingKey("OIC_GRANT_TYPE", "str", "client_credentials", B, False, "client_credentials or jwt_bearer.",
               notes="`jwt_bearer`: an RFC 7523 user assertion for the validated caller's subject."),
    SettingKey("OIC_ASSERTION_KEY", "str", None, B, True, "Assertion signing key, inline.",
               notes="A PEM private key (RSA, 2048 bits or more) that signs the assertions; required for "
                     "`jwt_bearer` and `private_key_jwt`."),
    SettingKey("OIC_ASSERTION_KEY_OCID", "ocid", None, B, False, "Assertion signing key, from Vault."),
    SettingKey("OIC_ASSERTION_KEY_ID", "str", None, B, False, "The assertion key's kid.",
               notes="The alias of the trusted certificate registered on the app; required with a key."),
    SettingKey("OIC_ASSERTION_AUDIENCE", "str", IDCS_AUDIENCE, B, False, "The assertions' aud."),
    SettingKey("OIC_TOKEN_TIMEOUT_SECONDS", "float", "1.5", B, False, "Token endpoint timeout.", (0.2, 30.0),
               notes="The budget of one token request, retries included."),
    SettingKey("OIC_BASE_URL", "url", None, T, False, "The OIC runtime host.",
               notes="Required. `https://<oic-host>`, no path."),
    SettingKey("GATEWAY_PATH_PREFIX", "str", "", T, False, "Prefix removed from gateway paths.",
               notes="The part of the route before the integration path."),
    SettingKey("OIC_PATH_PREFIX", "str", "/ic/api/integration/v1/flows/rest", T, False,
               "Prefix added to OIC paths.", notes="Put in front of what remains of the path; empty: none."),
    SettingKey("OIC_PROJECT_PATH_PREFIX", "str", "/ic/api/integration/v2/flows/rest/project", T, False,
               "Prefix added to OIC 3 project paths.",
               notes="A caller path `/project/<PROJECT>/<INTEGRATION>/<VERSION>/...` goes to OIC as this prefix "
                     "plus `/<PROJECT>/<INTEGRATION>/<VERSION>/...` (OIC 3 also shows a v1 form, "
                     "`/ic/api/integration/v1/flows/rest/project`); empty: none."),
    SettingKey("CALLER_SUB_HEADER", "str", "X-Caller-Sub", T, False, "Header carrying the caller's subject.",
               notes="Never proof: when present and not empty it must equal the verified, mapped subject, else 403 "
                     "`caller_mismatch`. The shipped route sets it from `${request.auth[oic_sub]}` (`OVERWRITE`), "
                     "so a drift between the two functions' mappings is caught."),
    SettingKey("OIC_TIMEOUT_SECONDS", "float", "25.0", T, False, "Timeout of the whole call.", (1.0, 300.0),
               notes="The token endpoint and OIC together, even against a peer that trickles bytes (the function's "
                     "own deadline also bounds it); the token request keeps its own `OIC_TOKEN_TIMEOUT_SECONDS` "
                     "inside it."),
    SettingKey("FORWARD_REQUEST_HEADERS", "str", "", T, False, "Extra request headers to forward.",
               notes="Comma separated, besides the default list (docs/security.md)."),
    SettingKey("RETURN_RESPONSE_HEADERS", "str", "", T, False, "Extra response headers to return.",
               notes="Comma separated, besides the default list (docs/security.md)."),
    SettingKey("OIC_SUBJECT_CLAIM", "str", None, B, False, "Claim giving the OIC subject.",
               notes="Which domain user a verified caller is, for user assertions; unset: the token's principal."),
    SettingKey("OIC_SUBJECT_MAP", "json", None, B, False, "Subject mapping (JSON)."),
    SettingKey("SECRET_CACHE_SECONDS", "float", "300", B, False, "How long Vault secrets are cached.",
               (0.0, 86400.0), notes="A secret is re-read at once on `invalid_client`."),
    SettingKey("OCI_SECRETS_ENDPOINT", "url", None, B, False, "Vault secrets endpoint override.",
               notes="Private endpoints, tests; unset: the region's."),
    SettingKey("INTROSPECTION_URL", "url", None, A, False, "Token introspection endpoint.",
               notes="Default: `IDCS_DOMAIN_URL` + `/oauth2/v1/introspect`."),
    SettingKey("INTROSPECTION_CLIENT_ID", "str", None, A, False, "Introspection client id.",
               notes="Turns on the optional RFC 7662 revocation check."),
    SettingKey("INTROSPECTION_CLIENT_SECRET", "str", None, A, True, "Its secret, inline."),
    SettingKey("INTROSPECTION_CLIENT_SECRET_OCID", "ocid", None, A, False, "Its secret, from Vault."),
    SettingKey("INTROSPECTION_CACHE_SECONDS", "int", "30", A, False, "Introspection cache time.", (0, 300)),
    SettingKey("SHARED_CACHE_URL", "str", None, B, False, "rediss:// URL of the fleet cache.",
               notes="`rediss://<OCI Cache primary endpoint FQDN>:6379[/<db>]`, no credentials in it (`redis://` "
                     "only for loopback hosts). Unset: no fleet cache."),
    SettingKey("SHARED_CACHE_KEY", "str", None, B, True, "Fleet cache encryption key, inline.",
               notes="base64 of 32 random bytes (`openssl rand -base64 32`): seals and names the entries; every "
                     "function of the fleet needs the same. Required with the URL."),
    SettingKey("SHARED_CACHE_KEY_OCID", "ocid", None, B, False, "Fleet cache key, from Vault."),
    SettingKey("SHARED_CACHE_USERNAME", "str", None, B, False, "Fleet cache user, if it requires one."),
    SettingKey("SHARED_CACHE_PASSWORD", "str", None, B, True, "Fleet cache password, inline."),
    SettingKey("SHARED_CACHE_PASSWORD_OCID", "ocid", None, B, False, "Fleet cache password, from Vault."),
    SettingKey("SHARED_CACHE_CA_FILE", "str", None, B, False, "CA bundle for the fleet cache.",
               notes="A file in the image that verifies the cache's certificate; unset: the system's."),
    SettingKey("SHARED_CACHE_TIMEOUT_MS", "int", "50", B, False, "Per-operation timeout.", (5, 2000),
               notes="The longest wait for one cache operation's whole reply."),
    SettingKey("SHARED_CACHE_CONNECT_TIMEOUT_MS", "int", "250", B, False, "Connect timeout.", (5, 5000),
               notes="The longest wait for a new TLS connection."),
    SettingKey("SHARED_CACHE_BREAKER_FAILURES", "int", "3", B, False, "Failures that open the breaker.", (1, 100),
               notes="Failures in a row."),
    SettingKey("SHARED_CACHE_BREAKER_SECONDS", "float", "5.0", B, False, "How long the breaker stays open.",
               (0.1, 600.0)),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}
KEY_NAMES = frozenset(BY_NAME)


def default_text(name: str) -> str:
    """The registered default of a key that has one."""
    default = BY_NAME[name].default
    if default is None:
        raise LookupError(f"{name} has no registered default")
    return default


def default_int(name: str) -> int:
    return int(default_text(name))


def default_float(name: str) -> float:
    return float(default_text(name))


def bounds(name: str) -> tuple[float, float]:
    """The registered range of an int or float key."""
    found = BY_NAME[name].bounds
    if found is None:
        raise LookupError(f"{name} has no registered range")
    return found
