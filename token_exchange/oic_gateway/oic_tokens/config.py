"""The exchange's configuration, read once from the environment and validated.

Self-contained on purpose: Fn builds the token-exchange function from this
folder alone, so nothing here may import from outside ``token_exchange``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oic_gateway.net.secret_sources import SecretSource, secret_from_env
from oic_gateway.settings import Problems, number, optional_url, text_or_default

TOKEN_PATH = "/oauth2/v1/token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANTS = {"client_credentials": GRANT_CLIENT_CREDENTIALS, "jwt_bearer": GRANT_JWT_BEARER}
CLIENT_AUTH_METHODS = ("client_secret_basic", "private_key_jwt")


@dataclass(frozen=True)
class ExchangeConfig:
    token_url: str
    client_id: str
    client_auth: str  # client_secret_basic | private_key_jwt
    client_secret: SecretSource | None
    scope: str
    grant_type: str  # the full grant URN or client_credentials
    assertion_key: SecretSource | None
    assertion_key_id: str | None
    assertion_audience: str
    timeout: float  # seconds for one whole token request, retries included

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExchangeConfig:
        """Raises one ``ConfigError`` naming every wrong key."""
        problems = Problems()
        token_url = problems.read(lambda: optional_url(env, "OIC_TOKEN_URL"), None)
        if token_url is None and not problems.failed("OIC_TOKEN_URL"):
            domain = problems.read(lambda: optional_url(env, "IDCS_DOMAIN_URL"), None)
            if domain is not None:
                token_url = domain.rstrip("/") + TOKEN_PATH
            elif not problems.failed("IDCS_DOMAIN_URL"):
                problems.add("OIC_TOKEN_URL", "not set, and no IDCS_DOMAIN_URL to derive it from")

        client_id = env.get("OIC_CLIENT_ID", "").strip()
        if not client_id:
            problems.add("OIC_CLIENT_ID", "not set (the confidential app that may call OIC)")
        scope = env.get("OIC_SCOPE", "").strip()
        if not scope:
            problems.add("OIC_SCOPE", "not set (e.g. https://<oic-primary-audience>urn:opc:resource:consumer::all)")

        grant_name = text_or_default(env, "OIC_GRANT_TYPE")
        if grant_name not in GRANTS:
            problems.add("OIC_GRANT_TYPE", f"{grant_name!r} is not one of {', '.join(GRANTS)}")
        grant_type = GRANTS.get(grant_name, GRANT_CLIENT_CREDENTIALS)

        client_auth = text_or_default(env, "OIC_CLIENT_AUTH")
        if client_auth not in CLIENT_AUTH_METHODS:
            problems.add("OIC_CLIENT_AUTH", f"{client_auth!r} is not one of {', '.join(CLIENT_AUTH_METHODS)}")

        client_secret = problems.read(
            lambda: secret_from_env(env, "OIC_CLIENT_SECRET", required=client_auth == "client_secret_basic"), None)
        needs_key = grant_type == GRANT_JWT_BEARER or client_auth == "private_key_jwt"
        assertion_key = problems.read(lambda: secret_from_env(env, "OIC_ASSERTION_KEY", required=needs_key), None)
        assertion_key_id = env.get("OIC_ASSERTION_KEY_ID", "").strip() or None
        if needs_key and assertion_key_id is None:
            problems.add(
                "OIC_ASSERTION_KEY_ID", "not set (the alias of the trusted certificate registered in the domain)"
            )
        timeout = problems.read(lambda: number(env, "OIC_TOKEN_TIMEOUT_SECONDS"), 0.0)  # 0.0: until raise_any()
        problems.raise_any()
        assert token_url is not None

        return cls(
            token_url=token_url,
            client_id=client_id,
            client_auth=client_auth,
            client_secret=client_secret,
            scope=scope,
            grant_type=grant_type,
            assertion_key=assertion_key,
            assertion_key_id=assertion_key_id,
            assertion_audience=text_or_default(env, "OIC_ASSERTION_AUDIENCE"),
            timeout=timeout,
        )
