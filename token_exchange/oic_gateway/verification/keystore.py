"""The trusted signing keys, cached, refreshed and served through outages.

Pure apart from the two callables it is given: ``fetch(deadline)`` (returns
a parsed ``KeySet`` or raises ``FetchError``; ``deadline`` is the call's, on
``clock``, or None for its own timeout) and ``clock`` (seconds, monotonic or
wall, as long as it is consistent). ``spawn`` runs a background refresh; tests
pass an inline runner to keep everything deterministic.

Rules:
* keys are fresh for ``fresh_seconds`` (minus up to 10 % jitter so a fleet of
  containers does not refetch in step);
* past freshness they are still served for ``max_stale_seconds`` while a
  single background refresh runs, so a slow or failing endpoint never holds a
  call back; a failed refresh is retried ``failure_backoff`` seconds after the
  failure (a success never delays the next refresh);
* an unknown ``kid`` triggers at most one synchronous refetch per
  ``unknown_kid_cooldown`` (a negative cache in between), single-flight;
* with no usable keys at all (none yet, or past the stale limit) a call
  fetches synchronously. Only a failure of such a synchronous fetch is
  remembered, for ``unusable_backoff`` seconds, so that an outage does not
  turn into a request storm; within it a call cannot decide
  (``KeysUnavailable``) at once. A failure seen while stale keys were still
  usable never stops the first call past the stale limit from asking: if the
  provider answers by then, that call gets keys;
* a call that must wait for a fetch in progress (single flight) waits at
  most until its ``deadline`` (on ``clock``; ``lock_wait_seconds`` from now
  without one), then cannot decide (``KeysUnavailable``): a stuck refresh
  never holds every call behind it;
* a synchronous fetch is given the call's ``deadline``, so it ends by it
  too; a background refresh and ``hydrate`` have none (the fetch's own
  timeout).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from oic_gateway.errors import FetchError, KeysUnavailable, UnknownKey
from oic_gateway.verification.jwk import KeySet, SigningKey

# A fetch that fails this close to its caller's deadline is taken to have run out of time.
OUT_OF_TIME_SLACK_SECONDS = 0.01
Fetch = Callable[[float | None], KeySet]  # the call's deadline on the store's clock, or None
Clock = Callable[[], float]
Spawn = Callable[[Callable[[], None]], None]


class FetchLock(Protocol):
    """The single-flight lock (``threading.Lock``; a test's recording lock sees each wait it is asked for)."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


def spawn_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="jwks-refresh", daemon=True).start()


@dataclass
class KeyStoreStatus:
    """What ``doctor`` and the logs show about the key store."""

    kids: tuple[str, ...]
    fetched_at: float | None
    fresh_until: float
    usable_until: float
    last_error: str | None


class KeyStore:
    def __init__(
        self,
        fetch: Fetch,
        clock: Clock,
        *,
        fresh_seconds: float,
        max_stale_seconds: float,
        unknown_kid_cooldown: float = 30.0,
        failure_backoff: float = 5.0,
        unusable_backoff: float = 1.0,
        spawn: Spawn = spawn_thread,
        jitter: Callable[[], float] = random.random,
        lock_wait_seconds: float = 5.0,
        fetch_lock: FetchLock | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._fresh_seconds = fresh_seconds
        self._max_stale = max_stale_seconds
        self._cooldown = unknown_kid_cooldown
        self._failure_backoff = failure_backoff
        self._unusable_backoff = unusable_backoff
        self._spawn = spawn
        self._jitter = jitter
        self._lock_wait = lock_wait_seconds
        self._lock = threading.Lock()
        self._fetch_lock: FetchLock = threading.Lock() if fetch_lock is None else fetch_lock  # single flight
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._fresh_until = float("-inf")
        self._usable_until = float("-inf")
        self._last_failure = float("-inf")  # of any fetch: paces background refreshes
        self._last_unusable_failure = float("-inf")  # of a fetch made with no usable keys
        self._last_unknown_refetch = float("-inf")
        self._refreshing = False
        self._last_error: str | None = None
        self._completed_fetches = 0

    # -- public ------------------------------------------------------------

    @property
    def fetcher(self) -> Fetch:
        return self._fetch

    def get(self, kid: str, deadline: float | None = None) -> SigningKey:
        """The key for ``kid``. Raises ``UnknownKey`` (deny) or
        ``KeysUnavailable`` (cannot decide, or not by ``deadline``)."""
        now = self._clock()
        until = now + self._lock_wait if deadline is None else deadline
        if now < self._fresh_until:
            key = self._keys.get(kid)
            if key is not None:
                return key
            return self._unknown_kid(kid, now, until, deadline)
        if now < self._usable_until:
            self._refresh_in_background(now)
            key = self._keys.get(kid)
            if key is not None:
                return key
            raise UnknownKey("no trusted key has this 'kid'")
        # Nothing usable: fetch now, unless a fetch made in this very state
        # failed a moment ago.
        if now - self._last_unusable_failure < self._unusable_backoff:
            raise KeysUnavailable(f"signing keys unavailable: {self._last_error}")
        self._fetch_now(wait=True, until=until, deadline=deadline)
        if self._clock() < self._usable_until:
            key = self._keys.get(kid)
            if key is not None:
                return key
            raise UnknownKey("no trusted key has this 'kid'")
        raise KeysUnavailable(f"signing keys unavailable: {self._last_error}")

    def hydrate(self) -> None:
        """Fetch the keys now (e.g. at start), raising if that fails."""
        self._fetch_now(wait=True, until=self._clock() + self._lock_wait)
        if self._clock() >= self._usable_until:
            raise KeysUnavailable(f"signing keys unavailable: {self._last_error}")

    def status(self) -> KeyStoreStatus:
        return KeyStoreStatus(
            kids=tuple(sorted(self._keys)),
            fetched_at=self._fetched_at,
            fresh_until=self._fresh_until,
            usable_until=self._usable_until,
            last_error=self._last_error,
        )

    # -- internals ---------------------------------------------------------

    def _unknown_kid(self, kid: str, now: float, until: float, deadline: float | None) -> SigningKey:
        # Keys are fresh but this kid is not among them: perhaps the issuer
        # rotated. Refetch at most once per cooldown; in between, the answer
        # is "unknown" without touching the network (negative cache).
        if now - self._last_unknown_refetch < self._cooldown:
            raise UnknownKey("no trusted key has this 'kid'")
        self._last_unknown_refetch = now
        self._fetch_now(wait=True, until=until, deadline=deadline)
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKey("no trusted key has this 'kid'")
        return key

    def _refresh_in_background(self, now: float) -> None:
        with self._lock:
            if self._refreshing or now - self._last_failure < self._failure_backoff:
                return
            self._refreshing = True

        def work() -> None:
            try:
                self._fetch_now(wait=False)
            finally:
                self._refreshing = False

        self._spawn(work)

    def _fetch_now(self, *, wait: bool, until: float = float("-inf"), deadline: float | None = None) -> None:
        # Single flight: one fetch at a time. A caller that needs the result
        # waits for the fetch in progress instead of starting another, but
        # only until its deadline: behind a stuck fetch it cannot decide.
        generation = self._completed_fetches
        if not wait:
            if not self._fetch_lock.acquire(blocking=False):
                return
        elif not self._fetch_lock.acquire(timeout=min(max(until - self._clock(), 0.0), threading.TIMEOUT_MAX)):
            raise KeysUnavailable("signing keys unavailable: a key fetch in progress did not finish in time")
        try:
            if generation != self._completed_fetches:
                return  # a fetch finished while we waited: use its result
            unusable = self._clock() >= self._usable_until
            try:
                key_set = self._fetch(deadline)
            except (FetchError, ValueError) as exc:
                self._failed(str(exc), unusable and not self._out_of_time(deadline))
                return
            except Exception as exc:  # a fetch defect must not become a crash, nor leak its text
                self._failed(f"JWKS fetch failed ({type(exc).__name__})", unusable and not self._out_of_time(deadline))
                return
            done = self._clock()
            fresh_for = self._fresh_seconds * (1.0 - 0.1 * self._jitter())
            with self._lock:
                self._keys = dict(key_set.keys)
                self._fetched_at = done
                self._fresh_until = done + fresh_for
                self._usable_until = done + fresh_for + self._max_stale
                self._last_error = None
        finally:
            self._completed_fetches += 1
            self._fetch_lock.release()

    def _out_of_time(self, deadline: float | None) -> bool:
        """The fetch ended because its caller's deadline came: that says nothing of
        the key source, so the next caller (with its own time) must not be refused
        for ``unusable_backoff`` because of it."""
        return deadline is not None and self._clock() >= deadline - OUT_OF_TIME_SLACK_SECONDS

    def _failed(self, error: str, unusable: bool) -> None:
        failed_at = self._clock()
        self._last_failure = failed_at
        if unusable:
            self._last_unusable_failure = failed_at
        self._last_error = error
