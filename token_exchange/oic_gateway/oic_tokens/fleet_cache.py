"""The fleet-wide token cache: one OIC token per subject for every container.

It sits behind the in-process ``TokenCache`` (a local hit never comes here)
and in front of the token endpoint. Pure apart from what it is given: a
``FleetStore`` (Redis / OCI Cache in production, see ``fleet_store``), the
entry key, clocks and ``sleep``; so it is tested with a fake store and clock.

* Entries are sealed with AES-GCM. The entry's name is bound as associated
  data, so an entry copied to another name, altered, or written with another
  key does not open: it is a miss, never an error.
* Names are ``HMAC(key, what the token is for)``: no user name, client id or
  token ever appears in the store.
* An entry lives until the token's advisory refresh point, so every container
  sees the fleet's token exactly while its own cache would serve it.
* Single flight across the fleet with ``SET NX PX`` (no scripts: OCI Cache's
  sharded clusters refuse ``EVAL``/``FUNCTION``): one container fetches; the
  others poll briefly for its entry, or, when they still hold a valid token,
  go on using it.
* A 429/503 from the token endpoint is published as a sealed back-off marker,
  so the whole fleet waits out ``Retry-After`` instead of retrying in step.
* Any store failure (refused, slow, dead) is a bypass: the caller fetches
  directly, and a circuit breaker stops a dead store from costing every call
  its timeout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from oic_gateway.errors import ExchangeError, InternalError, TokenEndpointThrottled
from oic_gateway.oic_tokens.issued import MAX_RETRY_AFTER, IssuedToken

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4
NAMESPACE = "oicgw"
KEY_RETRY_SECONDS = 30.0  # after the key could not be read
# How much longer than its fetch's budget the fleet lock is held. The lock must
# outlive the holder's whole token request (retries included), which ends by
# that budget: expiring first would let a second container fetch the same token
# while the first still may, and the holder's plain DEL (no compare-and-delete
# without a script) could then free the other's lock. The margin covers what
# runs around the request on the holder's side (the store's writes after it)
# and the store's own clock.
LOCK_MARGIN_SECONDS = 1.0


def lock_seconds_for(fetch_budget: float) -> float:
    """How long a fetch with ``fetch_budget`` seconds holds the fleet lock."""
    return fetch_budget + LOCK_MARGIN_SECONDS


class StoreUnavailable(InternalError):
    """The store refused, timed out or is unreachable. Never an outage: the
    caller goes to the token endpoint directly."""


class FleetStore(Protocol):
    """The five single-key operations the cache needs (all valid on a sharded
    cluster, none a script: OCI Cache refuses scripts there). Implementations
    raise ``StoreUnavailable`` and nothing else, and end each one by
    ``deadline`` (the call's, on the cache's monotonic clock; ``inf``: the
    store's own timeout alone)."""

    def get(self, name: str, *, deadline: float = math.inf) -> bytes | None: ...

    def put(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> None: ...

    def put_if_absent(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> bool: ...

    def delete(self, name: str, *, deadline: float = math.inf) -> None: ...

    def delete_if_equal(self, name: str, value: bytes, *, deadline: float = math.inf) -> bool:
        """Delete ``name`` only while it still holds ``value``; True when deleted."""
        ...


class FleetBusy(ExchangeError):
    """Another container is refreshing this token and the caller still holds
    a valid one: it keeps using it rather than waiting."""

    reason = "fleet_refresh_in_progress"


# -- sealing -----------------------------------------------------------------


class Sealer:
    """Names and seals entries with keys derived (HKDF) from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_BYTES:
            raise ValueError(f"the cache key must be {KEY_BYTES} bytes")
        derived = HKDF(algorithm=hashes.SHA256(), length=2 * KEY_BYTES + _KEY_ID_BYTES, salt=None,
                       info=b"oic-gateway fleet cache v1").derive(secret)
        self._aead = AESGCM(derived[:KEY_BYTES])
        self._name_key = derived[KEY_BYTES:2 * KEY_BYTES]
        self.key_id = derived[2 * KEY_BYTES:]

    def name(self, purpose: str, material: str, part: str = "") -> str:
        digest = hmac.new(self._name_key, f"{purpose}\0{material}".encode(), hashlib.sha256).hexdigest()[:40]
        # The hash tag {...} keeps an entry and its lock in one slot of a sharded cluster.
        return f"{NAMESPACE}:{{{digest}}}:{part or purpose}"

    def seal(self, name: str, payload: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        header = _VERSION + self.key_id
        return header + nonce + self._aead.encrypt(nonce, payload, header + name.encode())

    def open(self, name: str, blob: bytes) -> bytes | None:
        """The payload, or None for anything not sealed by this key for this name."""
        head = len(_VERSION) + _KEY_ID_BYTES
        if len(blob) < head + _NONCE_BYTES + 16 or blob[:1] != _VERSION or blob[1:head] != self.key_id:
            return None
        try:
            return self._aead.decrypt(blob[head:head + _NONCE_BYTES], blob[head + _NONCE_BYTES:],
                                      blob[:head] + name.encode())
        except InvalidTag:
            return None


def parse_key(text: str) -> bytes:
    """A base64 (standard or URL-safe) encoding of 32 random bytes."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if ("-" in raw or "_" in raw) else None,
                               validate=True)
    except ValueError:
        raise ValueError("is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"decodes to {len(key)} bytes, not {KEY_BYTES} (make one: openssl rand -base64 32)")
    return key


def _token_payload(token: IssuedToken) -> bytes:
    return json.dumps({"t": token.access_token, "y": token.token_type, "e": token.expires_at,
                       "i": token.issued_at}, separators=(",", ":")).encode()


def _token_from(payload: bytes) -> IssuedToken | None:
    try:
        value = json.loads(payload)
        token = IssuedToken(str(value["t"]), str(value["y"]), float(value["e"]), float(value["i"]))
    except (ValueError, KeyError, TypeError):
        return None
    return token if token.access_token else None


# -- circuit breaker -----------------------------------------------------------


class CircuitBreaker:
    """Closed until ``threshold`` failures in a row; then open (no store
    calls) for ``cooldown`` seconds; then one probe call decides."""

    def __init__(self, monotonic: Callable[[], float], *, threshold: int = 3, cooldown: float = 5.0) -> None:
        self._monotonic = monotonic
        self._threshold = threshold
        self._cooldown = cooldown
        self._failures = 0
        self._open_until = float("-inf")
        self._probing = False

    def allow(self) -> bool:
        if self._failures < self._threshold:
            return True
        if self._probing or self._monotonic() < self._open_until:
            return False
        self._probing = True  # one call tries the store again
        return True

    def success(self) -> None:
        self._failures = 0
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        self._probing = False
        if self._failures >= self._threshold:
            self._open_until = self._monotonic() + self._cooldown

    def is_open(self) -> bool:
        return self._failures >= self._threshold


# -- the cache -----------------------------------------------------------------


class _Bypass(InternalError):
    """The store cannot help this call: fetch directly."""


@dataclass
class FleetStats:
    hits: int = 0
    misses: int = 0
    waits: int = 0
    bypasses: int = 0
    rejected_entries: int = 0  # tampered, wrong key, unreadable


class FleetCache:
    def __init__(
        self,
        store: FleetStore,
        key: Callable[[], bytes],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
        lock_seconds: float = 5.0,
        poll_seconds: float = 0.02,
    ) -> None:
        """``key``: the 32-byte sealing key (may read Vault; a failure is a bypass).
        ``lock_seconds``: how long a fetch may hold the fleet lock (its budget)."""
        self._store = store
        self._key = key
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.breaker = breaker or CircuitBreaker(monotonic)
        self._lock_ms = max(int(lock_seconds * 1000), 1)
        self._poll = poll_seconds
        self._sealer: tuple[bytes, Sealer] | None = None
        self._key_retry_at = float("-inf")
        self.stats = FleetStats()

    def token(
        self,
        material: str,
        fetch: Callable[[], IssuedToken],
        *,
        serve_until: Callable[[IssuedToken], float],
        deadline: float,
        wait_for_others: bool = True,
        throttle_material: str = "",
    ) -> IssuedToken:
        """The fleet's token for ``material`` or a freshly fetched one.

        ``serve_until(token)``: wall-clock time until which a token may be
        shared (the caller's advisory refresh point). ``deadline``: monotonic.
        Raises what ``fetch`` raises, ``TokenEndpointThrottled`` while the
        fleet backs off, or ``FleetBusy`` (only with ``wait_for_others=False``).
        """
        try:
            sealer = self._current_sealer()
            name = sealer.name("token", material)
            lock = sealer.name("token", material, "lock")
            throttle = sealer.name("throttle", throttle_material)
            found = self._read_token(sealer, name, serve_until, deadline)
            if found is not None:
                self.stats.hits += 1
                return found
            self.stats.misses += 1
            self._check_throttle(sealer, throttle, deadline)
            if self._op(lambda: self._store.put_if_absent(lock, b"1", self._lock_ms, deadline=deadline), deadline):
                return self._fetch_and_publish(sealer, name, lock, throttle, fetch, serve_until, deadline)
            if not wait_for_others:
                raise FleetBusy("another container is refreshing this token")
            self.stats.waits += 1
            # Wait for the other container's entry, at most half of what is
            # left, so a direct fetch still fits if it never comes.
            wait_until = self._monotonic() + max(deadline - self._monotonic(), 0.0) / 2
            while self._monotonic() + self._poll < wait_until:
                self._sleep(self._poll)
                found = self._read_token(sealer, name, serve_until, deadline)
                if found is not None:
                    self.stats.hits += 1
                    return found
                self._check_throttle(sealer, throttle, deadline)
                if self._op(lambda: self._store.put_if_absent(lock, b"1", self._lock_ms, deadline=deadline),
                            deadline):
                    return self._fetch_and_publish(sealer, name, lock, throttle, fetch, serve_until, deadline)
            # No entry came: the holder is slow or gone, or the lock is nobody's
            # (written without expiry). Fetch, and publish it so the rest of the
            # fleet need not wait too; the lock is left alone (it may be a holder's).
            return self._fetch_and_publish(sealer, name, None, throttle, fetch, serve_until, deadline)
        except _Bypass:
            self.stats.bypasses += 1
        return fetch()

    def forget(self, material: str, rejected: str) -> None:
        """Drop the shared entry if it still holds ``rejected``, the access token
        OIC refused. Best effort. A container that still holds a refused token
        must not delete the fresh entry another container has just published:
        the refresh would then cost one token request per container instead of
        one for the fleet. Compare-and-delete on the sealed value, under WATCH
        (single key, no script)."""
        with contextlib.suppress(_Bypass):
            sealer = self._current_sealer()
            name = sealer.name("token", material)
            # No call's deadline here: the store's own timeout bounds each step.
            blob = self._op(lambda: self._store.get(name))
            if not isinstance(blob, bytes):
                return
            payload = sealer.open(name, blob)
            token = _token_from(payload) if payload is not None else None
            if token is not None and token.access_token != rejected:
                return  # another container's fresh token: keep it
            self._op(lambda: self._store.delete_if_equal(name, blob))

    # -- internals -------------------------------------------------------------

    def _op(self, operation: Callable[[], object], deadline: float = math.inf) -> object:
        if deadline - self._monotonic() <= 0:
            raise _Bypass  # the call's time is up: not the store's failure, so not the breaker's business
        if not self.breaker.allow():
            raise _Bypass
        try:
            result = operation()
        except StoreUnavailable:
            self.breaker.failure()
            raise _Bypass from None
        self.breaker.success()
        return result

    def _current_sealer(self) -> Sealer:
        if self._monotonic() < self._key_retry_at:
            raise _Bypass
        try:
            secret = self._key()
        except Exception:  # Vault down, malformed key: never an outage, just no fleet cache
            # ... and not asked again on every call: a slow Vault would cost each one its timeout.
            self._key_retry_at = self._monotonic() + KEY_RETRY_SECONDS
            raise _Bypass from None
        if self._sealer is None or self._sealer[0] != secret:
            try:
                self._sealer = (secret, Sealer(secret))
            except ValueError:
                raise _Bypass from None
        return self._sealer[1]

    def _read_token(self, sealer: Sealer, name: str, serve_until: Callable[[IssuedToken], float],
                    deadline: float, count_rejected: bool = True) -> IssuedToken | None:
        blob = self._op(lambda: self._store.get(name, deadline=deadline), deadline)
        if not isinstance(blob, bytes):
            return None
        payload = sealer.open(name, blob)
        token = _token_from(payload) if payload is not None else None
        if token is None:
            self.stats.rejected_entries += count_rejected
            return None
        # The writer's clock set the entry's life; ours decides if it is still good.
        return token if self._clock() < serve_until(token) else None

    def _check_throttle(self, sealer: Sealer, name: str, deadline: float) -> None:
        """Wait out a shared back-off that ends in time for a request; else raise."""
        blob = self._op(lambda: self._store.get(name, deadline=deadline), deadline)
        if not isinstance(blob, bytes):
            return
        payload = sealer.open(name, blob)
        try:
            retry_at = float(payload) if payload is not None else 0.0
        except ValueError:
            retry_at = 0.0
        wait = retry_at - self._clock()
        # No Retry-After is obeyed past MAX_RETRY_AFTER, so a marker saying more
        # (a publisher's clock far ahead, a forged marker) is not one to obey.
        if not math.isfinite(wait) or wait <= 0 or wait > MAX_RETRY_AFTER + 1:
            return
        if wait < (deadline - self._monotonic()) / 2:  # the other half is left for the request
            self._sleep(wait)
            return
        raise TokenEndpointThrottled("token endpoint is throttling the fleet (shared back-off)", retry_at)

    def publish_throttle(self, throttle_material: str, retry_at: float) -> None:
        """Tell the fleet: no token request before ``retry_at`` (wall clock). Best effort."""
        with contextlib.suppress(_Bypass):
            sealer = self._current_sealer()
            self._publish_marker(sealer, sealer.name("throttle", throttle_material), retry_at)

    def _publish_marker(self, sealer: Sealer, name: str, retry_at: float, deadline: float = math.inf) -> None:
        ttl_ms = int((retry_at - self._clock()) * 1000)
        if ttl_ms > 0:
            marker = sealer.seal(name, repr(retry_at).encode())
            self._best_effort(lambda: self._store.put(name, marker, ttl_ms, deadline=deadline), deadline)

    def _fetch_and_publish(self, sealer: Sealer, name: str, lock: str | None, throttle: str,
                           fetch: Callable[[], IssuedToken],
                           serve_until: Callable[[IssuedToken], float], deadline: float) -> IssuedToken:
        # A holder may have published its entry and freed the lock just after
        # our last read: read once more before asking the endpoint.
        published = self._read_token(sealer, name, serve_until, deadline, count_rejected=False)
        if published is not None:
            self._release(lock, deadline)
            self.stats.hits += 1
            return published
        try:
            token = fetch()
        except TokenEndpointThrottled as throttled:
            self._publish_marker(sealer, throttle, throttled.retry_at, deadline)
            self._release(lock, deadline)
            raise
        except Exception:
            self._release(lock, deadline)  # let another container try
            raise
        ttl_ms = int((serve_until(token) - self._clock()) * 1000)
        if ttl_ms > 0:
            sealed = sealer.seal(name, _token_payload(token))
            self._best_effort(lambda: self._store.put(name, sealed, ttl_ms, deadline=deadline), deadline)
        # Plain DEL, not compare-and-delete (that needs a script): the lock
        # outlives the fetch's own deadline, so it is still ours here. (No
        # time left to free it: it expires on its own, ``lock_seconds`` after it was taken.)
        self._release(lock, deadline)
        return token

    def _release(self, lock: str | None, deadline: float) -> None:
        if lock is not None:
            self._best_effort(lambda: self._store.delete(lock, deadline=deadline), deadline)

    def _best_effort(self, operation: Callable[[], object], deadline: float = math.inf) -> None:
        with contextlib.suppress(_Bypass):
            self._op(operation, deadline)
