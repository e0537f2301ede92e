"""The exchange facade: a validated caller in, an OIC-scoped token out.

``TokenExchanger.token_for(subject, subject_expires_at)`` returns a cached
token while it is good, refreshes ahead of expiry, and re-reads a Vault
secret once when the endpoint says ``invalid_client`` (a rotated secret is
then picked up without a redeploy).

With ``SHARED_CACHE_URL`` set, a miss in the in-process cache asks the fleet
cache (``fleet_cache``) before the token endpoint, so the whole fleet shares
one token per subject; without it, nothing changes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oic_gateway.errors import ExchangeError, InvalidClientError
from oic_gateway.oic_tokens.cache import TokenCache
from oic_gateway.oic_tokens.client import TokenClient
from oic_gateway.oic_tokens.config import GRANT_JWT_BEARER, ExchangeConfig
from oic_gateway.oic_tokens.fleet_cache import FleetCache, lock_seconds_for
from oic_gateway.oic_tokens.fleet_store import fleet_cache_from_env
from oic_gateway.oic_tokens.issued import IssuedToken


@dataclass(frozen=True)
class ExchangedToken:
    token: IssuedToken
    usable_until: float  # wall clock: min(token expiry, subject's own expiry)

    @property
    def authorization(self) -> str:
        return "Bearer " + self.token.access_token


class TokenExchanger:
    def __init__(
        self,
        config: ExchangeConfig,
        client: TokenClient | None = None,
        cache: TokenCache | None = None,
        *,
        fleet: FleetCache | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = client or TokenClient(config, clock=clock, monotonic=monotonic)
        self.cache = cache or TokenCache(clock)
        self.fleet = fleet
        self._monotonic = monotonic
        self._scopes = " ".join(sorted(config.scope.split()))
        self._throttle_material = config.token_url  # the rate limit is the identity domain's
        if fleet is not None:
            # Every back-off the endpoint asks for is the whole fleet's, not just this container's.
            self.client.on_throttled = lambda retry_at: fleet.publish_throttle(self._throttle_material, retry_at)

    @classmethod
    def from_env(cls, env: Mapping[str, str], cache: TokenCache | None = None) -> TokenExchanger:
        config = ExchangeConfig.from_env(env)
        # A fetch's budget is at most config.timeout (token_for): the fleet lock outlives it.
        fleet = fleet_cache_from_env(env, lock_seconds=lock_seconds_for(config.timeout))
        return cls(config, cache=cache, fleet=fleet)

    @property
    def per_subject(self) -> bool:
        return self.config.grant_type == GRANT_JWT_BEARER

    def cache_key(self, subject: str | None) -> tuple[str, str, str, str, str]:
        subject_hash = hashlib.sha256(subject.encode()).hexdigest() if subject and self.per_subject else ""
        cfg = self.config
        return (cfg.token_url, cfg.client_id, cfg.grant_type, self._scopes, subject_hash)

    def token_for(
        self,
        subject: str | None = None,
        subject_expires_at: float | None = None,
        *,
        timeout: float | None = None,
    ) -> ExchangedToken:
        """Raise an ``ExchangeError`` subclass if no usable token can be had.
        ``timeout``: what the caller has left; the token endpoint's own budget
        (``OIC_TOKEN_TIMEOUT_SECONDS``) applies inside it."""
        if self.per_subject and not subject:
            raise ExchangeError("OIC_GRANT_TYPE=jwt_bearer needs the caller's subject")
        budget = self.config.timeout if timeout is None else min(timeout, self.config.timeout)
        deadline = self._monotonic() + budget
        cap = subject_expires_at if self.per_subject else None
        key = self.cache_key(subject)

        def fetch() -> IssuedToken:
            return self._fetch(subject if self.per_subject else None, deadline)

        def through_fleet(fleet: FleetCache) -> IssuedToken:
            return fleet.token(
                "\0".join(key), fetch,
                serve_until=lambda token: self.cache.refresh_points(token)[1],
                deadline=deadline,
                wait_for_others=not self.cache.holds_usable(key),
                throttle_material=self._throttle_material,
            )

        fleet = self.fleet
        try:
            token, usable_until = self.cache.get(
                key, fetch if fleet is None else lambda: through_fleet(fleet), cap_expires_at=cap, wait=budget
            )
        except TimeoutError:
            raise ExchangeError("timed out waiting for a token request in progress") from None
        return ExchangedToken(token, usable_until)

    def invalidate(self, rejected: ExchangedToken, subject: str | None = None, *,
                   at_most_every: float = 0.0) -> bool:
        """Forget ``rejected`` (OIC's auth layer refused it), here and in the fleet,
        at most once per ``at_most_every`` seconds per cache key; True when it is
        no longer handed out. A newer token, cached here or published by another
        container, is kept."""
        key = self.cache_key(subject)
        access_token = rejected.token.access_token
        forgotten = self.cache.invalidate(key, rejected=access_token, at_most_every=at_most_every)
        if forgotten and self.fleet is not None:
            self.fleet.forget("\0".join(key), access_token)
        return forgotten

    def _fetch(self, subject: str | None, deadline: float) -> IssuedToken:
        try:
            return self.client.request_token(subject, deadline)
        except InvalidClientError:
            # The secret may have been rotated in Vault: re-read it once.
            secrets = [s for s in (self.config.client_secret, self.config.assertion_key) if s is not None]
            if not any([s.invalidate() for s in secrets]):
                raise
            return self.client.request_token(subject, deadline)
