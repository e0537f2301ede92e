"""A cache of issued tokens with refresh ahead of expiry. Pure apart from the
clock it is given.

For an entry of lifetime L:
* until the advisory window (min(600 s, L/3) before expiry) it is served as is;
* in the advisory window one caller refreshes while the others keep using the
  current token; a failed refresh keeps the still-valid token and is not
  retried for ``failure_backoff`` seconds (no request storm);
* in the mandatory window (min(300 s, L/6) before expiry, or more when the
  caller needs a minimum remaining life, up to L/2) the token is no longer
  handed out: the caller must obtain a new one, single-flight per key.

So a token handed out always has at least the mandatory window left, which
is what lets the authorizer give API Gateway an ``expiresAt`` that its cache
(at least 60 s) cannot overrun.

A caller's own expiry (``cap_expires_at``) shortens only what ``get`` says the
token may be used until, never the entry's windows: those follow the token's
own life. Were the entry capped, a caller token near (or, inside the clock-skew
leeway, just past) its ``exp`` would leave a fresh token no serving window, and
every call would cost the identity domain a token request (issue 18). A new
token cannot outlive a cap that is at or behind the clock, so fetching one
gains nothing; the caller's own token is verified on every call anyway.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from oic_gateway.oic_tokens.issued import IssuedToken

ADVISORY_SECONDS = 600.0
MANDATORY_SECONDS = 300.0


@dataclass
class _Entry:
    token: IssuedToken
    expires_at: float  # the token's own expiry (never capped: see the module's docstring)
    advisory_at: float
    mandatory_at: float


@dataclass
class _KeyState:
    lock: threading.Lock
    last_failure: float = float("-inf")
    last_error: Exception | None = None
    last_invalidated: float = float("-inf")


class TokenCache:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        max_entries: int = 1024,
        failure_backoff: float = 5.0,
        min_remaining: float = 0.0,
    ) -> None:
        """``min_remaining``: never hand out a token with less time left (the
        authorizer needs API Gateway's 60 s minimum cache plus a margin)."""
        self._clock = clock
        self._min_remaining = min_remaining
        self._max = max_entries
        self._failure_backoff = failure_backoff
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._states: dict[Hashable, _KeyState] = {}
        self._guard = threading.Lock()

    def get(
        self,
        key: Hashable,
        fetch: Callable[[], IssuedToken],
        *,
        cap_expires_at: float | None = None,
        wait: float = 5.0,
    ) -> tuple[IssuedToken, float]:
        """The token for ``key`` and the time it may be used until: its own
        expiry, or ``cap_expires_at`` when that is sooner."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now < entry.advisory_at:
            self._touch(key)
            return _until(entry, cap_expires_at)
        state = self._state(key)
        if entry is not None and now < entry.mandatory_at:
            # Advisory window: refresh if nobody else is, else use what we have.
            # A token already good until the caller's own expiry (the cap) cannot
            # be bettered: a refresh would cost a token request and gain nothing.
            capped = cap_expires_at is not None and entry.expires_at >= cap_expires_at
            if capped or now - state.last_failure < self._failure_backoff or not state.lock.acquire(blocking=False):
                return _until(entry, cap_expires_at)
            try:
                return _until(self._refresh(key, state, fetch), cap_expires_at)
            except Exception:  # any failure: keep the still-valid token
                return _until(entry, cap_expires_at)
            finally:
                state.lock.release()
        # Missing or in the mandatory window: we must have a new token.
        if not state.lock.acquire(timeout=wait):
            raise TimeoutError("another caller is still obtaining this token")
        try:
            current = self._entries.get(key)
            now = self._clock()
            if current is not None and now < current.mandatory_at:
                return _until(current, cap_expires_at)  # refreshed while we waited
            if now - state.last_failure < self._failure_backoff and state.last_error is not None:
                raise state.last_error
            return _until(self._refresh(key, state, fetch), cap_expires_at)
        finally:
            state.lock.release()

    def holds_usable(self, key: Hashable) -> bool:
        """True if a token for ``key`` can still be handed out (so a refresh
        need not wait for anyone)."""
        entry = self._entries.get(key)
        return entry is not None and self._clock() < entry.mandatory_at

    def refresh_points(self, token: IssuedToken) -> tuple[float, float, float]:
        """(expires_at, advisory_at, mandatory_at) of ``token`` in this cache."""
        expires_at = token.expires_at
        lifetime = max(expires_at - token.issued_at, 0.0)
        # A token must keep min_remaining seconds when handed out, but a
        # short-lived one (say 120 s) must still serve for half its life
        # rather than be fetched anew on every call.
        mandatory_gap = max(min(MANDATORY_SECONDS, lifetime / 6), min(self._min_remaining, lifetime / 2))
        advisory_gap = max(min(ADVISORY_SECONDS, lifetime / 3), mandatory_gap + min(60.0, lifetime / 6))
        return expires_at, expires_at - advisory_gap, expires_at - mandatory_gap

    def invalidate(self, key: Hashable, *, rejected: str | None = None, at_most_every: float = 0.0) -> bool:
        """Forget the token for ``key``, unless it was forgotten less than
        ``at_most_every`` seconds ago (then keep it and say False): a backend that
        keeps rejecting fresh tokens must not turn every call into a token request.

        ``rejected``: the access token the backend refused. When the entry holds
        another one (a concurrent call already replaced it), it is kept and the
        answer is True: the refused token is no longer handed out."""
        state = self._state(key)
        with self._guard:
            entry = self._entries.get(key)
            if rejected is not None and (entry is None or entry.token.access_token != rejected):
                # Already forgotten by a concurrent call, or replaced by a newer token:
                # the refused one is no longer handed out, and no rate-limit slot is spent.
                return True
            now = self._clock()
            if at_most_every > 0 and now - state.last_invalidated < at_most_every:  # 0: no limit at all
                return False
            state.last_invalidated = now
            self._entries.pop(key, None)
            return True

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals ---------------------------------------------------------

    def _refresh(self, key: Hashable, state: _KeyState, fetch: Callable[[], IssuedToken]) -> _Entry:
        try:
            token = fetch()
        except Exception as exc:
            state.last_failure = self._clock()
            state.last_error = exc
            raise
        state.last_error = None
        state.last_failure = float("-inf")
        expires_at, advisory_at, mandatory_at = self.refresh_points(token)
        entry = _Entry(token=token, expires_at=expires_at, advisory_at=advisory_at, mandatory_at=mandatory_at)
        with self._guard:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                old, _ = self._entries.popitem(last=False)
                self._states.pop(old, None)
        return entry

    def _touch(self, key: Hashable) -> None:
        with self._guard:
            if key in self._entries:
                self._entries.move_to_end(key)

    def _state(self, key: Hashable) -> _KeyState:
        with self._guard:
            state = self._states.get(key)
            if state is None:
                if len(self._states) >= 4 * self._max:
                    # Bound the per-key state too: drop idle keys without a token.
                    for idle in [k for k, s in self._states.items() if k not in self._entries and not s.lock.locked()]:
                        del self._states[idle]
                state = self._states[key] = _KeyState(threading.Lock())
            return state


def _until(entry: _Entry, cap: float | None) -> tuple[IssuedToken, float]:
    return entry.token, entry.expires_at if cap is None else min(entry.expires_at, cap)
