import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oic_gateway.oic_tokens.cache import TokenCache
from oic_gateway.oic_tokens.issued import IssuedToken
from tests.fakeclock import FakeClock


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


def test_the_callers_expiry_caps_what_is_handed_out_not_the_entry():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    token, until = cache.get("user", issuer, cap_expires_at=clock.now + 900)
    assert until == clock.now + 900 and token.expires_at == clock.now + 3600
    clock.now += 800  # 100 s left of that caller's token; the OIC token has 2,800 s
    again, until = cache.get("user", issuer, cap_expires_at=clock.now + 100)
    assert again is token and until == clock.now + 100 and issuer.calls == 1


def test_a_token_capped_by_the_subjects_expiry_is_not_refreshed_for_nothing():
    """In the advisory window a new token could not outlive the same cap: no request."""
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=0), Issuer(clock, lifetime=1800)
    cap = clock.now + 3600  # the user's own token outlives the OIC token
    cache.get("user", issuer, cap_expires_at=cap)
    clock.now += 1300  # 500 s before the OIC token's expiry: advisory window (min(600, 1800/3))
    cache.get("user", issuer, cap_expires_at=clock.now + 100)  # this caller's token ends first: no refresh
    assert issuer.calls == 1
    cache.get("user", issuer, cap_expires_at=cap)  # a new token would serve this caller longer
    assert issuer.calls == 2


def test_a_cap_at_or_behind_the_clock_costs_one_token_request_in_all():
    """A caller token inside the skew leeway after its exp (the verifier still
    accepts it): a fetch cannot beat the cap, so it must not repeat per call."""
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=90), Issuer(clock)
    for _ in range(10):
        _, until = cache.get("k", issuer, cap_expires_at=clock.now - 30)
        assert until == clock.now - 30
        clock.now += 1
    assert issuer.calls == 1


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


# -- the refresh windows at their exact boundaries -------------------------------


def probe(lifetime: float, min_remaining: float, at: float, *, failing: bool) -> str:
    """Obtain a token at t0, then ask again at t0 + ``at``: is it served from
    the cache, refreshed, kept after a failed refresh, or refused?"""
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=min_remaining), Issuer(clock, lifetime=lifetime)
    cache.get("k", issuer)
    clock.now += at
    issuer.fail = failing
    try:
        token, _ = cache.get("k", issuer)
    except RuntimeError:
        return "refused"
    if issuer.calls == 1:
        return "cached"
    return "kept" if token.access_token == "token-1" else "refreshed"


@pytest.mark.parametrize(
    "lifetime, min_remaining, advisory, mandatory",
    [
        (3600, 0, 600, 300),  # long-lived: the fixed 600 s / 300 s windows
        (600, 0, 200, 100),  # L/3 and L/6
        (300, 120, 170, 120),  # the authorizer's 120 s, below L/2; advisory 60 s... or L/6 later
        (120, 120, 80, 60),  # short-lived: half its life, advisory L/6 before that
        (3600, 1000, 1060, 1000),  # a large minimum remaining life moves both windows
        (7200, 0, 600, 300),
        (123, 120, 82, 61.5),  # halves and sixths are not rounded: 61.5 and 61.5 + 20.5
        (123, 0, 41, 20.5),  # nor are sixths alone
        (1501.5, 0, 500.5, 250.25),  # nor thirds
    ],
)
def test_windows_are_exact(lifetime, min_remaining, advisory, mandatory):
    eps = 0.001
    assert probe(lifetime, min_remaining, lifetime - advisory - eps, failing=False) == "cached"
    assert probe(lifetime, min_remaining, lifetime - advisory, failing=False) == "refreshed"
    assert probe(lifetime, min_remaining, lifetime - advisory, failing=True) == "kept"
    assert probe(lifetime, min_remaining, lifetime - mandatory - eps, failing=True) == "kept"
    assert probe(lifetime, min_remaining, lifetime - mandatory, failing=True) == "refused"
    assert probe(lifetime, min_remaining, lifetime - mandatory, failing=False) == "refreshed"


def test_cap_only_ever_shortens():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    token, until = cache.get("k", issuer, cap_expires_at=clock.now + 7200)
    assert until == token.expires_at == clock.now + 3600


def test_failure_backoff_in_the_mandatory_window_is_exact():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, failure_backoff=5.0), Issuer(clock)
    issuer.fail = True
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)
    clock.now += 4.999
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)
    assert issuer.calls == 1
    clock.now += 0.001
    issuer.fail = False
    assert cache.get("k", issuer)[0].access_token == "token-2"
    assert issuer.calls == 2


def test_advisory_backoff_is_exact_and_success_clears_it():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, _ = cache.get("k", issuer)
    clock.now += 3000  # advisory window
    issuer.fail = True
    assert cache.get("k", issuer)[0] is first and issuer.calls == 2
    clock.now += 4.999
    assert cache.get("k", issuer)[0] is first and issuer.calls == 2
    clock.now += 0.001
    issuer.fail = False
    assert cache.get("k", issuer)[0].access_token == "token-3"
    cache.invalidate("k")
    issuer.fail = True
    with pytest.raises(RuntimeError):  # a fresh failure, not the one remembered before the success
        cache.get("k", issuer)
    assert issuer.calls == 4


def test_one_fetch_per_key_while_its_token_is_fresh():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    for key in ("a", "b", "a", "c"):
        cache.get(key, issuer)
    assert issuer.calls == 3


# -- single flight, deterministically: the fetch itself asks again -----------------


def test_while_a_token_is_being_obtained_another_caller_cannot_start_a_second_fetch():
    clock = FakeClock()
    cache = TokenCache(clock)
    inner: list[str] = []

    def fetch() -> IssuedToken:
        with pytest.raises(TimeoutError, match="another caller is still obtaining this token"):
            cache.get("k", fetch, wait=0)
        inner.append("asked")
        return IssuedToken("t", "Bearer", clock.now + 3600, clock.now)

    assert cache.get("k", fetch)[0].access_token == "t" and inner == ["asked"]


def test_in_the_advisory_window_a_caller_never_waits_for_the_refresh_in_progress():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, _ = cache.get("k", issuer)
    clock.now += 3000
    seen: list[IssuedToken] = []

    def refresh() -> IssuedToken:
        seen.append(cache.get("k", issuer)[0])  # the same key, from inside the refresh: must not block
        return issuer()

    refreshed, _ = cache.get("k", refresh)
    assert seen == [first] and refreshed.access_token == "token-2"


def test_a_caller_that_waited_uses_the_token_obtained_meanwhile():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    clock.now += 3400  # mandatory window
    cache._state("k").lock.acquire()
    answers: list[str] = []
    arrived = threading.Event()

    def waiter_clock() -> float:
        if threading.current_thread() is waiter:
            arrived.set()
        return clock.now

    cache._clock = waiter_clock
    waiter = threading.Thread(target=lambda: answers.append(cache.get("k", issuer)[0].access_token))
    waiter.start()
    assert arrived.wait(5)
    time.sleep(0.1)  # from its clock reading to the lock is a few lines (sequencing, not a timed assertion)
    cache._refresh("k", cache._state("k"), issuer)  # the holder refreshes...
    cache._state("k").lock.release()  # ...and lets the waiter in
    waiter.join(5)
    assert answers == ["token-2"] and issuer.calls == 2


# -- the bounds ------------------------------------------------------------------------


def test_least_recently_used_token_is_evicted_first():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=2), Issuer(clock)
    a, _ = cache.get("a", issuer)
    cache.get("b", issuer)
    assert cache.get("a", issuer)[0] is a  # a is now the most recently used
    cache.get("c", issuer)  # evicts b, not a
    assert len(cache) == 2
    assert cache.get("a", issuer)[0] is a and issuer.calls == 3
    cache.get("b", issuer)
    assert issuer.calls == 4


def test_eviction_bound_is_exact():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=3), Issuer(clock)
    for key in range(3):
        cache.get(key, issuer)
    assert len(cache) == 3
    cache.get(3, issuer)
    assert len(cache) == 3
    cache.get(1, issuer)
    assert issuer.calls == 4  # 1 survived the eviction of 0


def test_idle_per_key_state_is_bounded():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=2), Issuer(clock)
    cache.get("kept", issuer)
    issuer.fail = True
    sizes = []
    for key in range(40):
        with pytest.raises(RuntimeError):
            cache.get(key, issuer)
        sizes.append(len(cache._states))
    assert max(sizes) == 8 == 4 * 2  # never more than four per cached entry
    assert sizes[:8] == [2, 3, 4, 5, 6, 7, 8, 2]  # full: idle keys dropped, the one with a token kept
    issuer.fail = False
    assert cache.get("kept", issuer)[0].access_token == "token-1"


def test_a_key_in_use_keeps_its_state():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=1), Issuer(clock)
    busy = cache._state("busy")
    busy.lock.acquire()
    issuer.fail = True
    for key in range(10):
        with pytest.raises(RuntimeError):
            cache.get(key, issuer)
    assert cache._state("busy") is busy
    busy.lock.release()


def test_invalidate_forces_a_new_token():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    cache.invalidate("k")
    cache.invalidate("never-seen")
    assert len(cache) == 0
    assert cache.get("k", issuer)[0].access_token == "token-2"


def test_a_token_with_under_a_second_left_keeps_its_tiny_windows():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    issuer.lifetime = 0.5
    cache.get("k", issuer)  # windows: L/3 and L/6 of half a second
    clock.now += 0.3  # before the advisory window (0.5 - 0.5/3)
    cache.get("k", issuer)
    assert issuer.calls == 1


def test_idle_states_are_dropped_once_they_are_idle_again():
    clock = FakeClock()
    cache, issuer = TokenCache(clock, max_entries=2), Issuer(clock)
    issuer.fail = True
    busy = [cache._state(f"busy-{i}") for i in range(8)]
    for state in busy:
        state.lock.acquire()
    with pytest.raises(RuntimeError):
        cache.get("one-more", issuer)
    assert len(cache._states) == 9  # nothing idle to drop: over the bound, for now
    for state in busy:
        state.lock.release()
    with pytest.raises(RuntimeError):
        cache.get("and-another", issuer)
    assert len(cache._states) == 1  # idle again: all dropped


def test_a_remembered_failure_is_forgotten_after_the_backoff_on_any_clock():
    clock = FakeClock(100.0)
    cache, issuer = TokenCache(clock), Issuer(clock)
    issuer.fail = True
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)
    clock.now = 250.0  # long after the 5 s backoff (and 250 % 100 would look recent)
    issuer.fail = False
    assert cache.get("k", issuer)[0].access_token == "token-2"


def test_defaults():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    for key in range(1025):
        cache.get(key, issuer)
    assert len(cache) == 1024  # max_entries
    short = TokenCache(clock)  # min_remaining 0: a 3 s token is refused only in its last 0.5 s (L/6)
    three = Issuer(clock, lifetime=3)
    short.get("k", three)
    clock.now += 2.499
    three.fail = True
    assert short.get("k", three)[0].access_token == "token-1"
    clock.now += 0.001
    with pytest.raises(RuntimeError):
        short.get("k", three)


def test_construction_is_explicit_about_its_bounds():
    assert len(TokenCache(clock=FakeClock(), max_entries=2)) == 0
    with pytest.raises(TypeError):
        TokenCache(FakeClock(), 2)  # type: ignore[call-arg]


def test_lifetime_is_a_difference_of_times_on_any_clock():
    clock = FakeClock(100.0)
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)  # issued at 100, expires at 3700
    clock.now = 3700 - 600 - 0.001
    cache.get("k", issuer)
    assert issuer.calls == 1
    clock.now = 3700 - 300
    issuer.fail = True
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)


def test_calls_are_explicit_about_caps_and_waits():
    import inspect

    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    assert cache.get(key="k", fetch=issuer)[0].access_token == "token-1"
    with pytest.raises(TypeError):
        cache.get("k", issuer, None)  # type: ignore[call-arg]
    # A waiter gives up after 5 s of real time: pinned by value rather than by waiting.
    assert inspect.signature(TokenCache.get).parameters["wait"].default == 5.0


@settings(max_examples=300, deadline=None)
@given(remaining=st.floats(-60, 7200), lifetime=st.floats(120, 7200), min_remaining=st.sampled_from([0.0, 90.0]),
       gap=st.floats(0, 2))
def test_no_caller_expiry_makes_more_than_one_request_per_refresh_period(
        remaining: float, lifetime: float, min_remaining: float, gap: float) -> None:
    """Whatever the caller's token has left (or is past by, inside the leeway), ten
    calls a few seconds apart cost one token request: a fresh token is not due again
    for at least a sixth of its life."""
    clock = FakeClock()
    cache, issuer = TokenCache(clock, min_remaining=min_remaining), Issuer(clock, lifetime=lifetime)
    cap = clock.now + remaining
    for _ in range(10):
        _, until = cache.get("user", issuer, cap_expires_at=cap)
        assert until <= cap
        clock.now += gap
    assert issuer.calls == 1


def test_invalidating_a_refused_token_keeps_a_newer_one() -> None:
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    refused, _ = cache.get("k", issuer)
    assert cache.invalidate("k", rejected=refused.access_token, at_most_every=30) is True
    newer, _ = cache.get("k", issuer)
    # A concurrent call that sent the refused token reports it late: the newer one stays,
    # and the refused one is gone all the same (True), with no rate-limit slot spent.
    assert cache.invalidate("k", rejected=refused.access_token, at_most_every=30) is True
    assert cache.get("k", issuer)[0] is newer and issuer.calls == 2
    assert cache.invalidate("k", rejected=newer.access_token, at_most_every=30) is False  # within 30 s


def test_a_refused_token_already_forgotten_by_a_concurrent_call_is_reported_gone() -> None:
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    refused, _ = cache.get("k", issuer)
    assert cache.invalidate("k", rejected=refused.access_token, at_most_every=30) is True
    # A second call that sent the same token: nothing is cached, so the refused token is
    # gone; it may retry (and then waits on the one fetch), rather than answer 502.
    assert cache.invalidate("k", rejected=refused.access_token, at_most_every=30) is True
    assert issuer.calls == 1


def test_holds_usable_until_the_mandatory_point_exactly():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    assert cache.holds_usable("k") is False  # nothing cached
    token, _ = cache.get("k", issuer)
    _, _, mandatory_at = cache.refresh_points(token)
    assert cache.holds_usable("k") is True
    clock.now = mandatory_at - 0.001
    assert cache.holds_usable("k") is True
    clock.now = mandatory_at
    assert cache.holds_usable("k") is False  # the mandatory window has begun
    clock.now = mandatory_at + 1
    assert cache.holds_usable("k") is False
    assert cache.holds_usable("other") is False


def test_a_token_good_exactly_until_the_callers_expiry_is_not_refreshed():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    first, _ = cache.get("k", issuer)
    clock.now += 3100  # the advisory window
    again, until = cache.get("k", issuer, cap_expires_at=first.expires_at)  # the cap: exactly the token's expiry
    assert again is first and until == first.expires_at and issuer.calls == 1


def test_the_failure_back_off_is_measured_from_the_failure_whatever_the_clocks_value():
    clock = FakeClock(now=1.0)  # a monotonic clock shortly after boot: elapsed time is now minus the failure
    cache, issuer = TokenCache(clock), Issuer(clock)
    issuer.fail = True
    with pytest.raises(RuntimeError):
        cache.get("k", issuer)
    clock.now = 1.0 + 5.0 + 1.0  # past the 5 s back-off
    issuer.fail = False
    token, _ = cache.get("k", issuer)
    assert token.access_token == "token-2" and issuer.calls == 2


def test_a_token_that_expires_before_it_was_issued_has_no_windows():
    cache = TokenCache(FakeClock())
    token = IssuedToken("t", "Bearer", 9_000.0, 10_000.0)  # a clock step backwards between issue and expiry
    assert cache.refresh_points(token) == (9_000.0, 9_000.0, 9_000.0)


def test_invalidate_takes_its_options_by_name_and_forgets_every_time_by_default():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    with pytest.raises(TypeError):
        cache.invalidate("k", "token-1")  # type: ignore[call-arg]
    assert cache.invalidate("k") is True
    cache.get("k", issuer)
    assert cache.invalidate("k") is True  # no interval by default: forgotten again at once
    assert issuer.calls == 2


def test_invalidate_compares_the_refused_token_by_value_and_keeps_any_other():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)  # token-1
    assert cache.invalidate("k", rejected="token-9") is True  # another token (sorting after it): kept
    assert cache.get("k", issuer)[0].access_token == "token-1" and issuer.calls == 1
    assert cache.invalidate("k", rejected="token-0") is True  # another one, sorting before it: kept too
    assert cache.get("k", issuer)[0].access_token == "token-1" and issuer.calls == 1
    refused = "".join(["token-", "1"])  # the same text, another string object
    assert cache.invalidate("k", rejected=refused) is True
    assert cache.get("k", issuer)[0].access_token == "token-2" and issuer.calls == 2  # forgotten: fetched anew


def test_no_interval_means_no_limit_even_when_the_clock_steps_back():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    assert cache.invalidate("k") is True
    cache.get("k", issuer)
    clock.now -= 0.5  # an injected clock may step back; time.monotonic never does
    assert cache.invalidate("k") is True and cache.invalidate("k", at_most_every=0.0) is True
    clock.now -= 2  # a negative interval is no limit either
    assert cache.invalidate("k", at_most_every=-1.0) is True


def test_an_interval_under_a_second_still_limits():
    clock = FakeClock()
    cache, issuer = TokenCache(clock), Issuer(clock)
    cache.get("k", issuer)
    assert cache.invalidate("k", at_most_every=0.5) is True
    cache.get("k", issuer)
    clock.now += 0.4
    assert cache.invalidate("k", at_most_every=0.5) is False  # kept: forgotten 0.4 s ago
    clock.now += 0.1
    assert cache.invalidate("k", at_most_every=0.5) is True
