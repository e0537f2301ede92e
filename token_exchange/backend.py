"""The function-backend topology: forward the gateway's request to OIC with an
OIC-scoped token, and hand OIC's answer back.

The client's own ``Authorization`` never reaches OIC. The caller's identity
is taken only from the header the deployment sets from ``request.auth[sub]``
(``CALLER_SUB_HEADER``, default ``X-Caller-Sub``; the route must set it with
``ifExists: OVERWRITE`` so a client cannot supply its own).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import requests

from .exchange import TokenExchanger
from .oauth import unverified_claims
from .shared.errors import ConfigError, ExchangeError
from .shared.settings import checked_url, number

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # OCI Functions' request and response limit
DEFAULT_OIC_PATH_PREFIX = "/ic/api/integration/v1/flows/rest"

# RFC 9110 7.6.1 hop-by-hop headers, plus the ones we set or must not pass.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade", "host", "content-length",
})
_NOT_FORWARDED = _HOP_BY_HOP | {"authorization", "cookie"}
_NOT_RETURNED = _HOP_BY_HOP | {"content-encoding", "set-cookie", "www-authenticate"}


@dataclass(frozen=True)
class BackendConfig:
    oic_base_url: str
    gateway_path_prefix: str
    oic_path_prefix: str
    caller_sub_header: str
    timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BackendConfig:
        raw = env.get("OIC_BASE_URL", "").strip()
        if not raw:
            raise ConfigError("OIC_BASE_URL", "not set (the OIC runtime host, e.g. https://<oic-host>)")
        base = checked_url("OIC_BASE_URL", raw).rstrip("/")
        if urlsplit(base).path or urlsplit(base).query:
            raise ConfigError("OIC_BASE_URL", "must be scheme://host[:port] only; put paths in OIC_PATH_PREFIX")
        gateway_prefix = _prefix(env, "GATEWAY_PATH_PREFIX", "")
        oic_prefix = _prefix(env, "OIC_PATH_PREFIX", DEFAULT_OIC_PATH_PREFIX)
        header = env.get("CALLER_SUB_HEADER", "X-Caller-Sub").strip() or "X-Caller-Sub"
        return cls(
            oic_base_url=base,
            gateway_path_prefix=gateway_prefix,
            oic_path_prefix=oic_prefix,
            caller_sub_header=header.lower(),
            timeout=number(env, "OIC_TIMEOUT_SECONDS", 25.0, 1.0, 300.0),
        )


def _prefix(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, default).strip().rstrip("/")
    if value and not value.startswith("/"):
        raise ConfigError(key, "must start with /")
    return value


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    url: str  # as the gateway gave it: a path with query, or a full URL
    headers: dict[str, str | list[str]]
    body: bytes


@dataclass
class BackendResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_error(status: int, error: str, detail: str) -> BackendResponse:
    body = json.dumps({"error": error, "detail": detail}, separators=(",", ":")).encode()
    return BackendResponse(status, {"Content-Type": "application/json"}, body)


def _single(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _unverified_exp(authorization: str | None) -> float | None:
    """The caller token's ``exp``, only ever used to SHORTEN how long a
    user-assertion OIC token is cached. The authorizer has verified the token
    before the gateway calls this function."""
    if not authorization or " " not in authorization:
        return None
    exp = unverified_claims(authorization.split(" ", 1)[1]).get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class OicForwarder:
    def __init__(
        self,
        config: BackendConfig,
        exchanger: TokenExchanger,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.exchanger = exchanger
        self._session = session or requests.Session()
        self._session.trust_env = False
        self._clock = clock
        self._monotonic = monotonic
        self._log = logger

    def forward(self, request: GatewayRequest, deadline: float) -> BackendResponse:
        """``deadline`` on the monotonic clock: the function's own deadline minus a margin."""
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return json_error(413, "payload_too_large", "request body exceeds the 6 MB function payload limit")
        target = self._target_url(request.url)
        if isinstance(target, BackendResponse):
            return target
        subject: str | None = None
        subject_exp: float | None = None
        if self.exchanger.per_subject:
            subject = _single(request.headers.get(self.config.caller_sub_header))
            if not subject:
                return json_error(
                    502, "caller_identity_missing",
                    f"the route must set {self.config.caller_sub_header} from request.auth[sub]",
                )
            subject_exp = _unverified_exp(_single(request.headers.get("authorization")))
            if subject_exp is None:
                subject_exp = self._clock() + 300
        headers = {
            name: _single(value) or ""
            for name, value in request.headers.items()
            if name not in _NOT_FORWARDED and not name.startswith("fn-") and name != self.config.caller_sub_header
        }
        for attempt in (1, 2):
            remaining = deadline - self._monotonic()
            if remaining <= 0.1:
                return json_error(504, "oic_timeout", "no time left before the function deadline")
            try:
                token = self.exchanger.token_for(subject, subject_exp, timeout=min(remaining, 5.0))
            except ExchangeError as exc:
                return json_error(502, "token_exchange_failed", str(exc))
            headers["Authorization"] = token.authorization
            result = self._send(request.method, target, headers, request.body, deadline)
            if result.status == 401 and attempt == 1:
                # The token may have been revoked or rotated: one fresh token, one retry.
                self.exchanger.invalidate(subject)
                continue
            return result
        return result

    def _target_url(self, url: str) -> str | BackendResponse:
        parts = urlsplit(url)
        path = parts.path or "/"
        decoded = unquote(path)
        if any(segment in (".", "..") for segment in decoded.split("/")) or "\\" in decoded or "\x00" in decoded:
            return json_error(400, "bad_path", "path traversal is not allowed")
        prefix = self.config.gateway_path_prefix
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                return json_error(404, "no_route", "the path is outside the configured gateway prefix")
            path = path[len(prefix):] or "/"
        target = f"{self.config.oic_base_url}{self.config.oic_path_prefix}{path}"
        if parts.query:
            target += "?" + parts.query
        return target

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes, deadline: float) -> BackendResponse:
        remaining = min(deadline - self._monotonic(), self.config.timeout)
        try:
            response = self._session.request(
                method, url, headers=headers, data=body or None, timeout=(min(remaining, 10.0), remaining),
                allow_redirects=False, stream=True,
            )
        except requests.Timeout:
            return json_error(504, "oic_timeout", "OIC did not answer in time")
        except requests.RequestException as exc:
            return json_error(502, "oic_unreachable", f"cannot reach OIC ({type(exc).__name__})")
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_PAYLOAD_BYTES:
                    return json_error(502, "response_too_large", "OIC's answer exceeds the 6 MB function payload limit")
                if self._monotonic() > deadline:
                    return json_error(504, "oic_timeout", "OIC's answer did not finish in time")
                chunks.append(chunk)
        except requests.Timeout:
            return json_error(504, "oic_timeout", "OIC's answer did not finish in time")
        except requests.RequestException as exc:
            return json_error(502, "oic_unreachable", f"OIC's answer was interrupted ({type(exc).__name__})")
        finally:
            response.close()
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _NOT_RETURNED}
        return BackendResponse(response.status_code, out_headers, b"".join(chunks))
