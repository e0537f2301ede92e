"""An OAuth 2.0 client for the identity domain's token endpoint.

Grants: ``client_credentials`` and the RFC 7523 user assertion
(``urn:ietf:params:oauth:grant-type:jwt-bearer``). Client authentication:
``client_secret_basic`` or ``private_key_jwt``. Every request is bounded by
one deadline, retries included; 429, 5xx, timeouts and connection failures
are retried with jittered exponential backoff while time remains.

A 429 (or a 503 with ``Retry-After``) is the identity domain's rate limit
speaking: its ``Retry-After`` is obeyed. When it does not fit in the deadline, the request
fails at once with ``TokenEndpointThrottled`` and no request is sent until
then (the fleet cache shares that back-off with every container).
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from oic_gateway.errors import (
    ExchangeError,
    InternalError,
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    MalformedTokenResponse,
    TokenEndpointError,
    TokenEndpointThrottled,
    TokenEndpointUnavailable,
)
from oic_gateway.net.client_auth import basic_authorization
from oic_gateway.net.deadline import MARGIN_SECONDS, guard, stateless_session
from oic_gateway.net.http import in_words
from oic_gateway.oic_tokens.config import GRANT_JWT_BEARER, ExchangeConfig
from oic_gateway.oic_tokens.issued import MAX_RETRY_AFTER, IssuedToken

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 120  # seconds: assertions are single-use and short
MAX_RESPONSE_BYTES = 64 * 1024
MAX_EXPIRES_IN = 86400
DEFAULT_EXPIRES_IN = 300  # when the endpoint does not say: be conservative
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_THROTTLE_SECONDS = 2.0  # a 429/503 without Retry-After


class _Retryable(InternalError):
    def __init__(self, message: str, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class TokenClient:
    def __init__(
        self,
        config: ExchangeConfig,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._session = session or stateless_session()  # no cookies, proxies or .netrc; deadline-guarded
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng
        self._signing_keys: dict[str, Any] = {}
        self._quiet_until = float("-inf")  # wall clock: no request before (429/503 back-off)
        # Told of every back-off (wall-clock end), so the fleet cache can share it.
        self.on_throttled: Callable[[float], None] | None = None
        self.requests_sent = 0

    # -- public ------------------------------------------------------------

    def request_token(self, subject: str | None, deadline: float) -> IssuedToken:
        """Obtain a token; ``deadline`` is on the ``monotonic`` clock."""
        if self._clock() < self._quiet_until:
            raise self._throttled("backing off after HTTP 429/503", self._quiet_until)
        attempt = 0
        last_problem = "no attempt made"
        while True:
            remaining = deadline - self._monotonic()
            if remaining <= MARGIN_SECONDS:
                raise TokenEndpointUnavailable(
                    f"token endpoint {self.config.token_url}: {last_problem} (gave up at the deadline)"
                )
            try:
                return self._attempt(subject, remaining)
            except _Retryable as problem:
                last_problem = str(problem)
                attempt += 1
                backoff = min(1.0, 0.1 * 2 ** (attempt - 1)) * (0.5 + self._rng() / 2)
                if problem.throttled:
                    wait = problem.retry_after
                    if wait is None:
                        wait = DEFAULT_THROTTLE_SECONDS * (0.75 + self._rng() / 2)  # not in step with others
                    if self.on_throttled is not None:
                        self.on_throttled(self._clock() + wait)
                    if self._monotonic() + wait >= deadline - MARGIN_SECONDS:
                        # Cannot wait it out within this call: say so now, and ask
                        # nobody again before the endpoint allows it.
                        self._quiet_until = self._clock() + wait
                        raise self._throttled(last_problem, self._quiet_until) from None
                    backoff = max(backoff, wait)
                elif problem.retry_after is not None:
                    backoff = max(backoff, problem.retry_after)
                if self._monotonic() + backoff >= deadline - MARGIN_SECONDS:
                    raise TokenEndpointUnavailable(
                        f"token endpoint {self.config.token_url}: {last_problem} (no time left to retry)"
                    ) from None
                self._sleep(backoff)

    def _throttled(self, problem: str, retry_at: float) -> TokenEndpointThrottled:
        seconds = max(math.ceil(retry_at - self._clock()), 1)
        return TokenEndpointThrottled(
            f"token endpoint {self.config.token_url}: {problem}; retry in {seconds} s", retry_at)

    # -- one attempt -------------------------------------------------------

    def _attempt(self, subject: str | None, remaining: float) -> IssuedToken:
        form, headers = self._request_parts(subject)
        started = self._monotonic()
        self.requests_sent += 1
        # The watchdog bounds the whole attempt (a peer trickling its headers or
        # body included); the per-read timeouts only catch a silent peer sooner.
        with guard(started + remaining, self._monotonic) as watch:
            try:
                response = self._session.post(
                    self.config.token_url,
                    data=form,
                    headers=headers,
                    timeout=(min(remaining, 2.0), remaining),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.Timeout:
                raise _Retryable("timed out") from None
            except requests.RequestException as exc:
                problem = "timed out" if watch.expired else f"connection failed: {in_words(exc)}"
                raise _Retryable(problem) from None
            try:
                body = self._read_body(response, started + remaining)
            except _Retryable:
                if watch.expired:
                    raise _Retryable("response too slow") from None
                raise
            finally:
                response.close()
        if watch.expired:  # cut mid-answer: urllib3 may still return a short response
            raise _Retryable("response too slow")
        if response.status_code in _RETRY_STATUS:
            wait = retry_after(response.headers.get("Retry-After"), self._clock())
            # 429 is a rate limit even unsaid; a 503 is one when it says how long.
            throttled = response.status_code == 429 or (response.status_code == 503 and wait is not None)
            raise _Retryable(f"HTTP {response.status_code}", wait, throttled=throttled)
        if response.status_code != 200:
            raise self._error_for(response.status_code, body)
        return self._parse_success(body)

    def _read_body(self, response: requests.Response, until: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(8192):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise MalformedTokenResponse(
                        f"token endpoint {self.config.token_url}: response larger than {MAX_RESPONSE_BYTES} bytes"
                    )
                if self._monotonic() > until:
                    raise _Retryable("response too slow")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise _Retryable(f"response interrupted ({type(exc).__name__})") from None
        return b"".join(chunks)

    def _request_parts(self, subject: str | None) -> tuple[dict[str, str], dict[str, str]]:
        cfg = self.config
        form = {"grant_type": cfg.grant_type, "scope": cfg.scope}
        headers = {"Accept": "application/json"}
        if cfg.grant_type == GRANT_JWT_BEARER:
            if not subject:
                raise ExchangeError("a user assertion needs the caller's subject")
            form["assertion"] = self._sign(
                {"sub": subject, "iss": cfg.client_id, "aud": cfg.assertion_audience}
            )
        if cfg.client_auth == "private_key_jwt":
            form["client_id"] = cfg.client_id
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            form["client_assertion"] = self._sign(
                {"sub": cfg.client_id, "iss": cfg.client_id, "aud": cfg.assertion_audience}
            )
        else:
            assert cfg.client_secret is not None
            headers["Authorization"] = basic_authorization(cfg.client_id, cfg.client_secret.get())
        return form, headers

    def _sign(self, claims: dict[str, Any]) -> str:
        import jwt  # PyJWT: imported here so a validate-only authorizer never pays for it

        cfg = self.config
        if cfg.assertion_key is None or cfg.assertion_key_id is None:  # from_env never allows it; a built config may
            raise ExchangeError("configuration OIC_ASSERTION_KEY and OIC_ASSERTION_KEY_ID: both are needed to sign")
        pem = cfg.assertion_key.get()
        key = self._signing_keys.get(pem)
        if key is None:
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            try:
                key = load_pem_private_key(pem.encode(), password=None)
            except (ValueError, TypeError):
                raise ExchangeError("configuration OIC_ASSERTION_KEY: not a PEM private key") from None
            if not isinstance(key, RSAPrivateKey) or key.key_size < 2048:
                raise ExchangeError("configuration OIC_ASSERTION_KEY: not an RSA private key of 2048 bits or more")
            self._signing_keys = {pem: key}
        now = int(self._clock())
        payload = {**claims, "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex}
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": cfg.assertion_key_id})

    def _parse_success(self, body: bytes) -> IssuedToken:
        url = self.config.token_url
        try:
            document = json.loads(body)
        except ValueError:
            raise MalformedTokenResponse(f"token endpoint {url}: response is not JSON") from None
        if not isinstance(document, dict):
            raise MalformedTokenResponse(f"token endpoint {url}: response is not a JSON object")
        token = document.get("access_token")
        if not isinstance(token, str) or not token or len(token) > 32 * 1024:
            raise MalformedTokenResponse(f"token endpoint {url}: no usable access_token")
        token_type = document.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise MalformedTokenResponse(f"token endpoint {url}: token_type is not Bearer")
        expires_in = document.get("expires_in", DEFAULT_EXPIRES_IN)
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)  # some servers send a string; the value is what matters
        if type(expires_in) not in (int, float) or not 0 < expires_in <= MAX_EXPIRES_IN:
            raise MalformedTokenResponse(f"token endpoint {url}: expires_in is not a sane number of seconds")
        now = self._clock()
        return IssuedToken(access_token=token, token_type="Bearer", expires_at=now + float(expires_in), issued_at=now)  # noqa: S106

    def _error_for(self, status: int, body: bytes) -> ExchangeError:
        url = self.config.token_url
        code: str | None = None
        try:
            document = json.loads(body)
            if isinstance(document, dict) and isinstance(document.get("error"), str):
                code = document["error"][:64]
        except ValueError:
            pass
        cfg = self.config
        if code == "invalid_client" or (code is None and status == 401):
            what = (
                "OIC_CLIENT_ID and OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID"
                if cfg.client_auth == "private_key_jwt"
                else "OIC_CLIENT_ID and OIC_CLIENT_SECRET"
            )
            return InvalidClientError(
                f"token endpoint rejected the client (invalid_client): check {what}", code, status
            )
        if code == "invalid_grant":
            what = (
                "OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID (the trusted certificate's alias) and that the caller "
                "is a user of the domain"
                if cfg.grant_type == GRANT_JWT_BEARER
                else "OIC_GRANT_TYPE and the app's allowed grants"
            )
            return InvalidGrantError(f"token endpoint rejected the grant (invalid_grant): check {what}", code, status)
        if code == "invalid_scope":
            return InvalidScopeError(
                "token endpoint rejected the scope (invalid_scope): check OIC_SCOPE "
                "(primary audience + scope, e.g. https://<oic-primary-audience>urn:opc:resource:consumer::all)",
                code,
                status,
            )
        if code in ("unauthorized_client", "unsupported_grant_type"):
            return InvalidGrantError(
                f"token endpoint refused the grant ({code}): "
                "allow it on the OIC_CLIENT_ID app, or change OIC_GRANT_TYPE",
                code,
                status,
            )
        return TokenEndpointError(f"token endpoint {url}: HTTP {status} ({code or 'no error code'})", code, status)


def retry_after(value: str | None, now: float) -> float | None:
    """RFC 9110 10.2.3: delay-seconds or an HTTP-date; capped at MAX_RETRY_AFTER."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # isdigit alone takes "\xb2", which float refuses
        seconds = float(text)
    else:
        # All it raises on Python >= 3.11: ValueError for what is no date, OverflowError for a
        # year or offset too large for datetime (CPython gh-153406; 3.14 makes that a ValueError).
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
