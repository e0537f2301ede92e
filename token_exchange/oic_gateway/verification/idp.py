"""The identity provider's endpoints the authorizer itself uses: the JWKS, and
(when the domain's signing certificate is not public) a client-credentials
token to read it with."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from oic_gateway.errors import ConfigError as SettingsConfigError
from oic_gateway.errors import FetchError
from oic_gateway.log import WARNING, get_logger
from oic_gateway.net import http
from oic_gateway.net.client_auth import basic_authorization
from oic_gateway.settings import checked_url
from oic_gateway.verification.jwk import KeySet, parse_jwks

JWKS_TIMEOUT_SECONDS = 1.5
JWKS_MAX_BYTES = 256 * 1024
JWKS_SCOPE = "urn:opc:idm:__myscopes__"


class JwksFetcher:
    """Fetch and parse the key set. Raises ``FetchError`` or ``ValueError``.

    ``deadline`` (monotonic): the call's, given by the key store; every
    exchange of the fetch (discovery, the client-credentials token, the key
    set) ends by it or by ``timeout``, whichever is first. None: ``timeout``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = JWKS_TIMEOUT_SECONDS,
        access_token: Callable[[float | None], str] | None = None,
        algorithms: frozenset[str] = frozenset({"RS256"}),
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._access_token = access_token
        self._algorithms = algorithms

    def __call__(self, deadline: float | None = None) -> KeySet:
        key_set = self.parse(self.document(deadline))
        if key_set.rejected:
            # Once per fetch, so an operator sees why a published key is not
            # trusted without running the doctor. Key ids and reasons only:
            # never key material.
            get_logger("jwks").log(
                WARNING, "jwks keys dropped", url=self.jwks_url(), usable=len(key_set.keys),
                dropped=[{"kid": kid, "reason": why} for kid, why in key_set.rejected],
            )
        return key_set

    def document(self, deadline: float | None = None) -> bytes:
        """The key set as served (``doctor`` also reads its certificates)."""
        headers = {"Accept": "application/json"}
        if self._access_token is not None:
            headers["Authorization"] = "Bearer " + self._access_token(deadline)
        url = self.jwks_url(deadline)
        response = http.request("GET", url, headers=headers, timeout=self.timeout, max_bytes=JWKS_MAX_BYTES,
                                until=deadline)
        if response.status != 200:
            raise FetchError(f"{url}: HTTP {response.status}")
        return response.body

    def parse(self, document: bytes) -> KeySet:
        try:
            return parse_jwks(document, self._algorithms)
        except ValueError as exc:
            raise FetchError(f"{self.jwks_url()}: {exc}") from None

    def jwks_url(self, deadline: float | None = None) -> str:
        return self.url


class DiscoveryJwksFetcher(JwksFetcher):
    """Finds the key set through OpenID discovery (``jwks_uri``), with the same
    timeout and size rules. The discovery document must name the configured
    issuer (OpenID Connect Discovery 4.3), and its ``jwks_uri`` must be https
    (http only on loopback)."""

    def __init__(self, discovery_url: str, issuer: str, **kwargs: Any) -> None:
        super().__init__(discovery_url, **kwargs)
        self.issuer = issuer
        self._jwks_uri: str | None = None

    def jwks_url(self, deadline: float | None = None) -> str:
        if self._jwks_uri is None:
            response = http.request("GET", self.url, headers={"Accept": "application/json"}, timeout=self.timeout,
                                    max_bytes=JWKS_MAX_BYTES, until=deadline)
            if response.status != 200:
                raise FetchError(f"{self.url}: HTTP {response.status}")
            try:
                document = json.loads(response.body)
                jwks_uri = document["jwks_uri"]
                named_issuer = document.get("issuer")
            except (ValueError, KeyError, TypeError):
                raise FetchError(f"{self.url}: not a discovery document with a jwks_uri") from None
            if named_issuer != self.issuer:
                raise FetchError(f"{self.url}: discovery names another issuer")
            try:
                self._jwks_uri = checked_url("jwks_uri", str(jwks_uri))
            except SettingsConfigError as error:
                raise FetchError(f"{self.url}: jwks_uri {error.problem}") from None
        return self._jwks_uri

    def document(self, deadline: float | None = None) -> bytes:
        try:
            return super().document(deadline)
        except FetchError:
            self._jwks_uri = None  # look it up again next time: it may have moved
            raise


class ClientCredentialsToken:
    """A cached client-credentials access token (client_secret_basic).

    Used only to read a JWKS that needs client authentication; the
    token-exchange package has the full OAuth client for OIC tokens.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Callable[[], str],
        scope: str,
        *,
        timeout: float = JWKS_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def __call__(self, deadline: float | None = None) -> str:
        """``deadline`` (monotonic): the call's; the token request ends by it too."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires:
                return self._token
            response = http.request(
                "POST",
                self._token_url,
                headers={
                    "Authorization": basic_authorization(self._client_id, self._client_secret()),
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                body=urlencode({"grant_type": "client_credentials", "scope": self._scope}).encode(),
                timeout=self._timeout,
                max_bytes=64 * 1024,
                until=deadline,
            )
            if response.status != 200:
                raise FetchError(f"{self._token_url}: HTTP {response.status} for JWKS_CLIENT_ID")
            try:
                body = json.loads(response.body)
                token = body["access_token"]
                lifetime = float(body.get("expires_in", 300))
            except (ValueError, KeyError, TypeError):
                raise FetchError(f"{self._token_url}: malformed token response") from None
            if not isinstance(token, str) or not token:
                raise FetchError(f"{self._token_url}: malformed token response")
            self._token = token
            self._expires = now + max(min(lifetime, 3600.0) - 60.0, 0.0)
            return token
