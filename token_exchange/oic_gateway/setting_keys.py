"""Every configuration key the two functions read: one typed list.

Pure data. The doctor's known keys, the configuration reference and the
consistency tests all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reader = Literal["authorizer", "token-exchange", "both"]


@dataclass(frozen=True)
class SettingKey:
    name: str
    type: str
    default: str | None
    reader: Reader
    secret: bool
    description: str


A: Reader = "authorizer"
T: Reader = "token-exchange"
B: Reader = "both"

SETTINGS: tuple[SettingKey, ...] = (
    SettingKey("IDCS_DOMAIN_URL", "url", None, B, False, "The Identity Domain URL."),
    SettingKey("JWKS_URL", "url", None, A, False, "Signing keys URL (default: from IDCS_DOMAIN_URL)."),
    SettingKey("TOKEN_ISSUERS", "str", "https://identity.oraclecloud.com/", A, False, "Accepted iss values."),
    SettingKey("TOKEN_AUDIENCES", "str", None, A, False, "Accepted aud values, comma separated."),
    SettingKey("REQUIRED_SCOPES", "str", "", A, False, "Scopes every token needs, space separated."),
    SettingKey("CLOCK_SKEW_SECONDS", "int", "60", A, False, "Allowed clock skew."),
    SettingKey("MAX_TOKEN_LIFETIME_SECONDS", "int", "86400", A, False, "Longest accepted token lifetime."),
    SettingKey("JWKS_CACHE_SECONDS", "int", "900", A, False, "How long signing keys are cached."),
    SettingKey("JWKS_MAX_STALE_SECONDS", "int", "3600", A, False, "How long stale keys may serve."),
    SettingKey("JWKS_CLIENT_ID", "str", None, A, False, "Client id for fetching signing keys."),
    SettingKey("JWKS_CLIENT_SECRET", "str", None, A, True, "Its secret, inline."),
    SettingKey("JWKS_CLIENT_SECRET_OCID", "ocid", None, A, False, "Its secret, from Vault."),
    SettingKey("AUTH_REALM", "str", "oic", A, False, "The WWW-Authenticate realm."),
    SettingKey("TRUSTED_ISSUERS", "json", None, A, False, "Extra trusted issuers (JSON)."),
    SettingKey("TRUSTED_ISSUERS_FILE", "str", None, A, False, "TRUSTED_ISSUERS from a file."),
    SettingKey("ACCESS_POLICY", "json", None, A, False, "Per-integration access rules (JSON)."),
    SettingKey("ACCESS_POLICY_FILE", "str", None, A, False, "ACCESS_POLICY from a file."),
    SettingKey("OIC_TOKEN_URL", "url", None, B, False, "Token endpoint (default: from IDCS_DOMAIN_URL)."),
    SettingKey("OIC_CLIENT_ID", "str", None, B, False, "Client id of the OIC confidential app."),
    SettingKey("OIC_CLIENT_SECRET", "str", None, B, True, "Its secret, inline."),
    SettingKey("OIC_CLIENT_SECRET_OCID", "ocid", None, B, False, "Its secret, from Vault."),
    SettingKey("OIC_CLIENT_AUTH", "str", "client_secret_basic", B, False, "How the client authenticates."),
    SettingKey("OIC_SCOPE", "str", None, B, False, "The OIC app's resource scope."),
    SettingKey("OIC_GRANT_TYPE", "str", "client_credentials", B, False, "client_credentials or jwt_bearer."),
    SettingKey("OIC_ASSERTION_KEY", "str", None, B, True, "Assertion signing key, inline."),
    SettingKey("OIC_ASSERTION_KEY_OCID", "ocid", None, B, False, "Assertion signing key, from Vault."),
    SettingKey("OIC_ASSERTION_KEY_ID", "str", None, B, False, "The assertion key's kid."),
    SettingKey("OIC_ASSERTION_AUDIENCE", "str", "https://identity.oraclecloud.com/", B, False, "Assertion audience."),
    SettingKey("OIC_TOKEN_TIMEOUT_SECONDS", "float", "1.5", B, False, "Token endpoint timeout."),
    SettingKey("OIC_BASE_URL", "url", None, T, False, "The OIC runtime host."),
    SettingKey("GATEWAY_PATH_PREFIX", "str", "", T, False, "Prefix removed from gateway paths."),
    SettingKey("OIC_PATH_PREFIX", "str", None, T, False, "Prefix added to OIC paths."),
    SettingKey("CALLER_SUB_HEADER", "str", "X-Caller-Sub", T, False, "Header carrying the caller's subject."),
    SettingKey("OIC_TIMEOUT_SECONDS", "float", "25.0", T, False, "Timeout of the whole call."),
    SettingKey("FORWARD_REQUEST_HEADERS", "str", "", T, False, "Extra request headers to forward."),
    SettingKey("RETURN_RESPONSE_HEADERS", "str", "", T, False, "Extra response headers to return."),
    SettingKey("OIC_SUBJECT_CLAIM", "str", None, A, False, "Claim giving the OIC subject."),
    SettingKey("OIC_SUBJECT_MAP", "json", None, A, False, "Subject mapping (JSON)."),
    SettingKey("SECRET_CACHE_SECONDS", "float", None, B, False, "How long Vault secrets are cached."),
    SettingKey("OCI_SECRETS_ENDPOINT", "url", None, B, False, "Vault secrets endpoint override."),
    SettingKey("INTROSPECTION_URL", "url", None, A, False, "Token introspection endpoint."),
    SettingKey("INTROSPECTION_CLIENT_ID", "str", None, A, False, "Introspection client id."),
    SettingKey("INTROSPECTION_CLIENT_SECRET", "str", None, A, True, "Its secret, inline."),
    SettingKey("INTROSPECTION_CLIENT_SECRET_OCID", "ocid", None, A, False, "Its secret, from Vault."),
    SettingKey("INTROSPECTION_CACHE_SECONDS", "int", "30", A, False, "Introspection cache time."),
    SettingKey("SHARED_CACHE_URL", "str", None, B, False, "rediss:// URL of the fleet cache."),
    SettingKey("SHARED_CACHE_KEY", "str", None, B, True, "Fleet cache encryption key, inline."),
    SettingKey("SHARED_CACHE_KEY_OCID", "ocid", None, B, False, "Fleet cache key, from Vault."),
    SettingKey("SHARED_CACHE_USERNAME", "str", None, B, False, "Fleet cache user."),
    SettingKey("SHARED_CACHE_PASSWORD", "str", None, B, True, "Fleet cache password, inline."),
    SettingKey("SHARED_CACHE_PASSWORD_OCID", "ocid", None, B, False, "Fleet cache password, from Vault."),
    SettingKey("SHARED_CACHE_CA_FILE", "str", None, B, False, "CA bundle for the fleet cache."),
    SettingKey("SHARED_CACHE_TIMEOUT_MS", "int", "50", B, False, "Per-operation timeout."),
    SettingKey("SHARED_CACHE_CONNECT_TIMEOUT_MS", "int", "250", B, False, "Connect timeout."),
    SettingKey("SHARED_CACHE_BREAKER_FAILURES", "int", "3", B, False, "Failures that open the breaker."),
    SettingKey("SHARED_CACHE_BREAKER_SECONDS", "float", "5.0", B, False, "How long the breaker stays open."),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}
KEY_NAMES = frozenset(BY_NAME)
