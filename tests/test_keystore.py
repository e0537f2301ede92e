import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakeclock import FakeClock
from tests.tokens import Signer
from token_exchange.shared.errors import FetchError, KeysUnavailable, UnknownKey
from token_exchange.shared.jwk import KeySet, parse_signing_key
from token_exchange.shared.keystore import KeyStore

K1 = parse_signing_key(Signer.generate("k1").jwk())
K2 = parse_signing_key(Signer.generate("k2").jwk())


class ScriptedFetch:
    """Returns the current key set, or raises while ``failing``."""

    def __init__(self, *keys) -> None:
        self.keys = {k.kid: k for k in keys}
        self.failing = False
        self.calls = 0

    def __call__(self) -> KeySet:
        self.calls += 1
        if self.failing:
            raise FetchError("http://idp/jwk: HTTP 503")
        return KeySet(dict(self.keys))


def store(fetch, clock, **kw):
    spawned: list[object] = []
    ks = KeyStore(fetch, clock, fresh_seconds=900, max_stale_seconds=3600, spawn=spawned.append,
                  jitter=lambda: 0.0, **kw)
    return ks, spawned


def test_first_use_fetches_then_serves_from_cache():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    assert ks.get("k1") is K1
    assert ks.get("k1") is K1
    assert fetch.calls == 1


def test_stale_keys_served_while_refresh_runs_in_background():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 901
    fetch.failing = True
    assert ks.get("k1") is K1  # served stale, no synchronous fetch
    assert fetch.calls == 1 and len(spawned) == 1
    spawned.pop()()  # the background refresh runs and fails
    assert fetch.calls == 2
    assert ks.get("k1") is K1  # still within the stale limit
    assert spawned == []  # failure backoff: no storm of refreshes
    clock.now += 6
    ks.get("k1")
    assert len(spawned) == 1  # one more attempt after the backoff


def test_fails_closed_after_stale_limit():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    fetch.failing = True
    clock.now += 900 + 3600 + 1
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks.get("k1")
    calls = fetch.calls
    with pytest.raises(KeysUnavailable):
        ks.get("k1")  # within the failure backoff: no new request
    assert fetch.calls == calls


def test_no_keys_ever_is_cannot_decide():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    fetch.failing = True
    ks, _ = store(fetch, clock)
    with pytest.raises(KeysUnavailable):
        ks.get("k1")


def test_unknown_kid_refetches_once_per_cooldown():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    for _ in range(5):
        with pytest.raises(UnknownKey):
            ks.get("nope")
    assert fetch.calls == 2  # one refetch, then the negative cache
    clock.now += 31
    with pytest.raises(UnknownKey):
        ks.get("nope")
    assert fetch.calls == 3


def test_rotation_picked_up_through_unknown_kid():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    fetch.keys = {"k2": K2}
    assert ks.get("k2") is K2
    with pytest.raises(UnknownKey):
        ks.get("k1")  # the old key is gone from the new set


def test_failed_refetch_keeps_last_good_keys():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    fetch.failing = True
    with pytest.raises(UnknownKey):
        ks.get("k2")
    assert ks.get("k1") is K1


class OutageFetch:
    """The identity provider answers 503 while ``start <= now < end``."""

    def __init__(self, clock: FakeClock, start: float, end: float) -> None:
        self.clock, self.start, self.end = clock, start, end
        self.calls = 0

    def answers(self) -> bool:
        return not self.start <= self.clock.now < self.end

    def __call__(self) -> KeySet:
        self.calls += 1
        if not self.answers():
            raise FetchError("http://idp/jwk: HTTP 503")
        return KeySet({"k1": K1})


def outage_store(clock: FakeClock, fetch: OutageFetch, jitter: float) -> KeyStore:
    # Background refreshes run at once (inline), as soon as a call asks for one.
    return KeyStore(fetch, clock, fresh_seconds=2, max_stale_seconds=8, spawn=lambda work: work(),
                    jitter=lambda: jitter)


@pytest.mark.parametrize("jitter", [0.0, 1.0])
@pytest.mark.parametrize("calls", [
    [5.5, 9.9, 10.2, 10.4],  # the run: a refresh fails at 5.5, the provider answers from 6
    [2.1, 5.5, 9.9, 10.2],
    [0.5 * i for i in range(1, 30)],
    [10.5, 10.6],
])
def test_recovery_at_the_stale_limit(calls: list[float], jitter: float) -> None:
    """Fresh 2 s, stale 8 s, the provider answers 503 from 0 to 6 s: no call
    fails for want of keys, since the provider answers again before the stale
    keys run out."""
    clock = FakeClock(0.0)
    fetch = OutageFetch(clock, 0.000001, 6.0)
    ks = outage_store(clock, fetch, jitter)
    assert ks.get("k1") is K1
    for at in calls:
        clock.now = at
        assert ks.get("k1") is K1, f"call at {at} s failed while the provider answers"


def test_a_refresh_right_after_a_success_is_not_held_back() -> None:
    clock = FakeClock(0.0)
    fetch = OutageFetch(clock, 100, 200)
    ks = outage_store(clock, fetch, 0.0)
    ks.get("k1")
    clock.now = 2.5  # stale, 2.5 s after the last (successful) fetch
    ks.get("k1")
    assert fetch.calls == 2


@given(outage=st.tuples(st.floats(0, 30), st.floats(0, 30)).map(sorted),
       calls=st.lists(st.floats(0, 60), max_size=40).map(sorted))
def test_no_call_fails_for_want_of_keys_while_the_provider_answers(outage: list[float], calls: list[float]) -> None:
    """For any outage and any calls: a call fails only when the provider
    failed within the last ``unusable_backoff`` (1 s) with no usable keys, or
    fails at that very moment."""
    clock = FakeClock(0.0)
    fetch = OutageFetch(clock, max(outage[0], 0.000001), outage[1])
    ks = outage_store(clock, fetch, 0.5)
    ks.get("k1")
    for at in calls:
        clock.now = at
        try:
            ks.get("k1")
        except KeysUnavailable:
            assert not fetch.answers() or at < fetch.end + 1.0, f"call at {at} failed, outage {outage}"
