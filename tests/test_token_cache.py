import threading
import time

import pytest

from tests.fakeclock import FakeClock
from token_exchange.cache import TokenCache
from token_exchange.oauth import IssuedToken


class Issuer:
    def __init__(self, clock: FakeClock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail = False

    def __call__(self) -> IssuedToken:
        self.calls += 1
        if self.fail:
            raise RuntimeError("endpoint down")
        now = self.clock()
        return IssuedToken(f"token-{self.calls}", "Bearer", now + self.lifetime, now)


def test_served_from_cache_until_the_advisory_window():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, until = cache.get("k", issuer)
    clock.now += 2999  # 601 s left: outside the 600 s advisory window
    again, _ = cache.get("k", issuer)
    assert again is first and issuer.calls == 1 and until == first.expires_at


def test_advisory_refresh_failure_keeps_the_valid_token_and_backs_off():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, _ = cache.get("k", issuer)
    clock.now += 3100  # 500 s left: advisory window
    issuer.fail = True
    assert cache.get("k", issuer)[0] is first
    assert cache.get("k", issuer)[0] is first
    assert issuer.calls == 2  # one attempt, then the failure backoff
    clock.now += 6
    issuer.fail = False
    refreshed, _ = cache.get("k", issuer)
    assert refreshed.access_token == "token-3"


def test_mandatory_window_requires_a_new_token():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    clock.now += 3400  # 200 s left: inside the 300 s mandatory window
    issuer.fail = True
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)  # remembered failure: no new request
    assert issuer.calls == 2


def test_capped_by_the_subjects_own_expiry():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    _, until = cache.get("user", issuer, cap_expires_at=clock.now + 900)
    assert until == clock.now + 900
    clock.now += 800  # 100 s left of the cap: inside min(300, 900/6) = 150 s
    cache.get("user", issuer, cap_expires_at=clock.now + 900)
    assert issuer.calls == 2


def test_a_token_capped_by_the_subjects_expiry_is_not_refreshed_for_nothing():
    """In the advisory window a new token could not outlive the same cap: no request."""
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cap = clock.now + 1800  # the user's own token: half an hour left; the OIC token would last an hour
    cache.get("user", issuer, cap_expires_at=cap)
    clock.now += 1300  # 500 s before the cap: advisory window (min(600, 1800/3))
    for _ in range(20):
        _, until = cache.get("user", issuer, cap_expires_at=cap)
        clock.now += 1
    assert issuer.calls == 1 and until == cap
    clock.now = cap - 200  # mandatory window (min(300, 1800/6) = 300 s): a new token is due
    cache.get("user", issuer, cap_expires_at=cap + 3600)  # the caller came back with a fresh token
    assert issuer.calls == 2


def test_bounded():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=3), Issuer(clock)
    for i in range(10):
        cache.get(i, issuer)
    assert len(cache) == 3


def test_single_flight_per_key():
    clock = FakeClock()
    cache = TokenCache(time.time)
    gate = threading.Event()
    calls = []

    def slow() -> IssuedToken:
        calls.append(1)
        gate.wait(2)
        now = time.time()
        return IssuedToken("t", "Bearer", now + 3600, now)

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow)[0].access_token))
               for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["t"] * 8
    del clock


def test_min_remaining_for_the_gateway_cache():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=120), Issuer(clock, lifetime=300)
    cache.get("k", issuer)
    clock.now += 185  # 115 s left: below the 120 s the authorizer needs
    _, until = cache.get("k", issuer)
    assert issuer.calls == 2 and until - clock.now >= 120


def test_short_lived_tokens_still_serve_half_their_life():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=120), Issuer(clock, lifetime=120)
    for _ in range(39):
        cache.get("k", issuer)
        clock.now += 1  # 39 s of calls: one token (not one per call)
    assert issuer.calls == 1
    clock.now += 2  # 79 s left: the advisory window (80 s) opens, one caller refreshes
    _, until = cache.get("k", issuer)
    assert issuer.calls == 2 and until - clock.now == 120


def test_invalidation_at_most_once_per_key_per_interval():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, _ = cache.get("k", issuer)
    assert cache.invalidate("k", at_most_every=30) is True
    second, _ = cache.get("k", issuer)
    assert second is not first and issuer.calls == 2
    clock.now += 29.9  # a backend rejecting every token cannot make each call fetch a new one
    assert cache.invalidate("k", at_most_every=30) is False
    assert cache.get("k", issuer)[0] is second and issuer.calls == 2
    assert cache.invalidate("other", at_most_every=30) is True  # per key
    clock.now += 0.1
    assert cache.invalidate("k", at_most_every=30) is True
    assert cache.get("k", issuer)[0] is not second and issuer.calls == 3
