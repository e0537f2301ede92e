"""Secrets given inline or as OCI Vault secret OCIDs.

Every ``*_SECRET`` / ``*_KEY`` setting may instead be given as
``*_SECRET_OCID`` / ``*_KEY_OCID``: the value is then read from OCI Vault with
the function's resource principal. ``oci`` is imported only when such a
setting exists (it costs about 650 ms). Values are cached for ``ttl`` seconds
and can be invalidated, so a rotated secret is picked up without a redeploy.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from oic_gateway.errors import ConfigError, SecretUnavailable
from oic_gateway.setting_keys import default_float
from oic_gateway.settings import number

_OCID = re.compile(r"ocid1\.vaultsecret\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9._-]+")
DEFAULT_SECRET_TTL = default_float("SECRET_CACHE_SECONDS")


class SecretSource(Protocol):
    def get(self) -> str: ...

    def invalidate(self) -> bool:
        """Forget the cached value; True if a re-read could give a new one."""
        ...


class InlineSecret:
    """A value from the function configuration. Cannot change without a redeploy."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "InlineSecret(***)"


class VaultSecret:
    """A secret bundle read from OCI Vault through the resource principal."""

    def __init__(
        self,
        ocid: str,
        reader: Callable[[str], str],
        *,
        ttl: float = DEFAULT_SECRET_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ocid = ocid
        self._reader = reader
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._read_at = 0.0

    def get(self) -> str:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._read_at >= self._ttl:
                self._value = self._reader(self.ocid)
                self._read_at = now
            return self._value

    def invalidate(self) -> bool:
        with self._lock:
            self._value = None
        return True

    def __repr__(self) -> str:
        return f"VaultSecret({self.ocid})"


class OciVaultReader:
    """Reads secret bundles with ``oci.secrets.SecretsClient`` and the
    resource-principal signer. ``oci`` is imported on first use only."""

    def __init__(self, service_endpoint: str | None = None, timeout: tuple[float, float] = (2.0, 5.0)) -> None:
        self._endpoint = service_endpoint
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def _secrets_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import oci  # deliberately lazy: see the module docstring

                signer = oci.auth.signers.get_resource_principals_signer()
                # No SDK retries: the caller's deadline and our cache decide.
                kwargs: dict[str, Any] = {
                    "signer": signer,
                    "timeout": self._timeout,
                    "retry_strategy": oci.retry.NoneRetryStrategy(),
                }
                if self._endpoint:
                    kwargs["service_endpoint"] = self._endpoint
                self._client = oci.secrets.SecretsClient(config={}, **kwargs)
            return self._client

    def __call__(self, ocid: str) -> str:
        try:
            bundle = self._secrets_client().get_secret_bundle(secret_id=ocid).data
            content = bundle.secret_bundle_content
            if getattr(content, "content_type", "BASE64") != "BASE64":
                raise SecretUnavailable(f"secret {ocid}: content type is not BASE64")
            return base64.b64decode(content.content, validate=True).decode("utf-8")
        except SecretUnavailable:
            raise
        except Exception as exc:  # the SDK raises many kinds; none may leak the secret's content
            status = getattr(exc, "status", None)
            code = getattr(exc, "code", None)
            detail = f"HTTP {status} {code}" if status else type(exc).__name__
            raise SecretUnavailable(f"secret {ocid}: cannot read from OCI Vault ({detail})") from None


_READER: OciVaultReader | None = None


def secret_from_env(
    env: Mapping[str, str],
    key: str,
    *,
    required: bool,
    reader: Callable[[str], str] | None = None,
) -> SecretSource | None:
    """``key`` inline, or ``key + "_OCID"`` from Vault; both set is an error."""
    global _READER
    inline = env.get(key, "")
    ocid = env.get(key + "_OCID", "").strip()
    if inline and ocid:
        raise ConfigError(key, f"set both {key} and {key}_OCID; keep one")
    if ocid:
        if not _OCID.fullmatch(ocid):
            raise ConfigError(key + "_OCID", "is not a Vault secret OCID (ocid1.vaultsecret....)")
        if reader is None:
            if _READER is None:
                _READER = OciVaultReader(env.get("OCI_SECRETS_ENDPOINT") or None)
            reader = _READER
        ttl = number(env, "SECRET_CACHE_SECONDS")
        return VaultSecret(ocid, reader, ttl=ttl)
    if inline:
        return InlineSecret(inline)
    if required:
        raise ConfigError(key, f"not set (set {key} or {key}_OCID)")
    return None

