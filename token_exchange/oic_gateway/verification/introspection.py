"""Optional revocation check: RFC 7662 token introspection.

For users who need a revoked token to stop working before it expires. The
local checks (signature, claims) still apply first; then the identity
domain's introspection endpoint is asked whether the token is still active.
Verdicts are cached for ``INTROSPECTION_CACHE_SECONDS`` (and never past the
token's ``exp``); the authorizer's ``expiresAt`` is capped to the same
horizon so API Gateway asks again. A revoked token therefore stops working
within max(60 s, the cache time): API Gateway caches any answer at least 60 s.

The cost: one round trip to the identity domain per token per cache period
(measured locally in ``make bench``-style runs at about one loopback request;
in OCI, a request to the domain, typically tens of milliseconds). An endpoint
that fails or hangs is "cannot decide" (502): fail closed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from oic_gateway.errors import CannotDecide, ConfigError, FetchError, TokenRejected
from oic_gateway.lru import ExpiringLru
from oic_gateway.net import http
from oic_gateway.net.client_auth import basic_authorization
from oic_gateway.net.secret_sources import SecretSource, secret_from_env
from oic_gateway.settings import integer, optional_url

INTROSPECT_PATH = "/oauth2/v1/introspect"
TIMEOUT_SECONDS = 1.5


class TokenInactive(TokenRejected):
    reason = "inactive"


@dataclass
class Introspector:
    url: str
    client_id: str
    secret: SecretSource
    cache_seconds: int
    timeout: float = TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        self._verdicts: ExpiringLru[bytes, bool] = ExpiringLru(4096)
        self._lock = threading.Lock()

    def check(self, token: str, token_key: bytes, exp: float, now: float, deadline: float | None = None) -> None:
        """Raise ``TokenInactive`` (deny) or ``CannotDecide``; return if active.
        ``deadline`` (monotonic): the call's; the request ends by it or by
        ``timeout``, whichever is first."""
        with self._lock:
            cached = self._verdicts.get(token_key, now)
        if cached is None:
            cached = self._ask(token, deadline)
            with self._lock:
                self._verdicts.put(token_key, cached, min(exp, now + self.cache_seconds), now)
        if not cached:
            raise TokenInactive("token revoked or no longer active")

    def _ask(self, token: str, deadline: float | None = None) -> bool:
        try:
            response = http.request(
                "POST", self.url,
                headers={"Authorization": basic_authorization(self.client_id, self.secret.get()),
                         "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                body=urlencode({"token": token, "token_type_hint": "access_token"}).encode(),
                timeout=self.timeout, max_bytes=64 * 1024, until=deadline,
            )
        except FetchError as error:
            raise CannotDecide(f"introspection unavailable: {error}") from None
        if response.status != 200:
            hint = " (check INTROSPECTION_CLIENT_ID / INTROSPECTION_CLIENT_SECRET)" if response.status == 401 else ""
            raise CannotDecide(f"introspection unavailable: {self.url}: HTTP {response.status}{hint}")
        try:
            document = json.loads(response.body)
            active = document["active"]
        except (ValueError, KeyError, TypeError):
            raise CannotDecide(f"introspection unavailable: {self.url}: not an RFC 7662 answer") from None
        if not isinstance(active, bool):
            raise CannotDecide(f"introspection unavailable: {self.url}: 'active' is not a boolean")
        return active


def introspector_from_env(env: Mapping[str, str], domain: str | None) -> Introspector | None:
    client_id = env.get("INTROSPECTION_CLIENT_ID", "").strip()
    if not client_id:
        return None
    url = optional_url(env, "INTROSPECTION_URL")
    if url is None:
        if domain is None:
            raise ConfigError("INTROSPECTION_URL", "not set, and no IDCS_DOMAIN_URL to derive it from")
        url = domain + INTROSPECT_PATH
    secret = secret_from_env(env, "INTROSPECTION_CLIENT_SECRET", required=True)
    cache_seconds = integer(env, "INTROSPECTION_CACHE_SECONDS")
    assert secret is not None
    return Introspector(url, client_id, secret, cache_seconds)
