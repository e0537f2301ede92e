import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oic_gateway.errors import FetchError, KeysUnavailable, UnknownKey
from oic_gateway.verification.jwk import KeySet, parse_signing_key
from oic_gateway.verification.keystore import KeyStore
from tests.fakeclock import FakeClock
from tests.tokens import Signer

K1 = parse_signing_key(Signer.generate("k1").jwk())
K2 = parse_signing_key(Signer.generate("k2").jwk())


class ScriptedFetch:
    """Returns the current key set, or raises while ``failing``."""

    def __init__(self, *keys) -> None:
        self.keys = {k.kid: k for k in keys}
        self.failing = False
        self.calls = 0

    def __call__(self, deadline: float | None = None) -> KeySet:
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

    def __call__(self, deadline: float | None = None) -> KeySet:
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


# -- every window at its exact boundary (jitter 0 unless said) ------------------


def test_fresh_window_boundary_is_exact():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 899.999
    assert ks.get("k1") is K1 and spawned == []
    clock.now += 0.001  # exactly fresh_seconds: stale, served while one refresh runs
    assert ks.get("k1") is K1 and len(spawned) == 1 and fetch.calls == 1


def test_stale_window_boundary_is_exact():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    fetch.failing = True
    clock.now += 900 + 3600 - 0.001
    assert ks.get("k1") is K1 and fetch.calls == 1  # still usable, refreshed in the background
    clock.now += 0.001  # exactly fresh + max stale: nothing usable, a synchronous fetch
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    assert fetch.calls == 2


def test_jitter_shortens_freshness_by_up_to_ten_percent():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    spawned: list[object] = []
    ks = KeyStore(fetch, clock, fresh_seconds=900, max_stale_seconds=3600, spawn=spawned.append, jitter=lambda: 1.0)
    ks.get("k1")
    status = ks.status()
    assert status.fresh_until == clock.now + 810 and status.usable_until == clock.now + 810 + 3600
    clock.now += 809.999
    ks.get("k1")
    assert spawned == []
    clock.now += 0.001
    ks.get("k1")
    assert len(spawned) == 1
    half = KeyStore(fetch, clock, fresh_seconds=900, max_stale_seconds=3600, spawn=spawned.append, jitter=lambda: 0.5)
    half.hydrate()
    assert half.status().fresh_until == clock.now + 855


def test_failure_backoff_boundary_is_exact():
    """With no usable keys, a failed fetch is remembered for unusable_backoff (1 s by default)."""
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    fetch.failing = True
    ks, _ = store(fetch, clock)
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks.get("k1")
    clock.now += 0.999
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks.get("k1")
    assert fetch.calls == 1
    clock.now += 0.001
    fetch.failing = False
    assert ks.get("k1") is K1 and fetch.calls == 2


def test_unknown_kid_cooldown_boundary_is_exact():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)  # the default cooldown: 30 s
    ks.get("k1")
    with pytest.raises(UnknownKey):
        ks.get("k2")
    assert fetch.calls == 2
    fetch.keys["k2"] = K2
    clock.now += 29.999
    with pytest.raises(UnknownKey):
        ks.get("k2")  # negative cache: no fetch
    assert fetch.calls == 2
    clock.now += 0.001
    assert ks.get("k2") is K2 and fetch.calls == 3


def test_unknown_kid_while_stale_is_refused_without_a_synchronous_fetch():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 1000
    with pytest.raises(UnknownKey):
        ks.get("k2")
    assert fetch.calls == 1 and len(spawned) == 1


def test_unknown_kid_after_a_synchronous_fetch_is_refused():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    with pytest.raises(UnknownKey):
        ks.get("k2")
    assert fetch.calls == 1
    assert ks.get("k1") is K1


def test_background_refresh_backs_off_after_any_attempt_and_runs_one_at_a_time():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 901
    ks.get("k1")
    ks.get("k1")  # a refresh is already pending: not a second one
    assert len(spawned) == 1
    fetch.failing = True
    spawned.pop()()
    assert fetch.calls == 2
    clock.now += 4.999
    ks.get("k1")
    assert spawned == []
    clock.now += 0.001
    ks.get("k1")
    assert len(spawned) == 1
    fetch.failing = False
    spawned.pop()()
    assert ks.status().fresh_until == clock.now + 900  # the refresh succeeded: fresh again
    ks.get("k1")
    assert spawned == []


def test_a_background_refresh_never_waits_behind_a_fetch_in_progress():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 901
    ks.get("k1")
    background = spawned.pop()
    calls_inside: list[int] = []

    def fetch_that_meets_the_background_refresh(deadline: float | None = None) -> KeySet:
        background()  # the refresh finds the fetch lock held: it gives up at once
        calls_inside.append(fetch.calls)
        return fetch()

    ks._fetch = fetch_that_meets_the_background_refresh
    clock.now += 3600  # past the stale limit: a synchronous fetch
    assert ks.get("k1") is K1
    assert calls_inside == [1] and fetch.calls == 2
    clock.now += 1000
    ks.get("k1")
    assert len(spawned) == 1  # the flag was cleared: a later refresh can start


def test_waiting_caller_uses_the_fetch_that_finished_meanwhile():
    import threading
    import time

    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    second_caller_started = threading.Event()
    answers: list[object] = []

    def second_caller() -> None:
        second_caller_started.set()
        answers.append(ks.get("k1"))

    def slow_fetch(deadline: float | None = None) -> KeySet:
        thread = threading.Thread(target=second_caller)
        thread.start()
        second_caller_started.wait(5)
        time.sleep(0.2)  # let it reach the fetch lock (sequencing, not a timed assertion)
        slow_fetch.thread = thread  # type: ignore[attr-defined]
        return fetch()

    ks._fetch = slow_fetch
    assert ks.get("k1") is K1
    slow_fetch.thread.join(5)  # type: ignore[attr-defined]
    assert answers == [K1] and fetch.calls == 1


def test_a_failed_fetch_is_one_attempt():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    fetch.failing = True
    clock.now += 5000
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    assert fetch.calls == 2


@pytest.mark.parametrize(
    "problem, message",
    [
        (ValueError("JWKS has no usable key"), "signing keys unavailable: JWKS has no usable key"),
        (RuntimeError("secret-bearing text"), "signing keys unavailable: JWKS fetch failed (RuntimeError)"),
        (KeyError("x"), "signing keys unavailable: JWKS fetch failed (KeyError)"),
    ],
)
def test_fetch_failures_become_cannot_decide_with_a_safe_message(problem, message):
    clock = FakeClock()

    def failing(deadline: float | None = None) -> KeySet:
        raise problem

    ks, _ = store(failing, clock)
    with pytest.raises(KeysUnavailable) as caught:
        ks.get("k1")
    assert str(caught.value) == message
    assert ks.status().last_error == message.removeprefix("signing keys unavailable: ")
    clock.now += 4.999
    with pytest.raises(KeysUnavailable) as again:
        ks.get("k1")
    assert str(again.value) == message


def test_status_and_hydrate():
    clock, fetch = FakeClock(), ScriptedFetch(K2, K1)
    ks, _ = store(fetch, clock)
    before = ks.status()
    assert (before.kids, before.fetched_at, before.last_error) == ((), None, None)
    assert ks.fetcher is fetch
    clock.now = 20_000.0
    ks.hydrate()
    status = ks.status()
    assert status.kids == ("k1", "k2") and status.fetched_at == 20_000.0
    assert (status.fresh_until, status.usable_until, status.last_error) == (20_900.0, 24_500.0, None)
    fetch.failing = True
    clock.now += 5000
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks.hydrate()
    assert ks.status().last_error == "http://idp/jwk: HTTP 503" and ks.status().kids == ("k1", "k2")
    fetch.failing = False
    clock.now += 5
    ks.hydrate()
    assert ks.status().last_error is None


def test_the_default_spawn_runs_the_refresh_in_a_thread():
    import threading

    from oic_gateway.verification.keystore import spawn_thread

    ran = threading.Event()
    seen: list[tuple[str, bool]] = []

    def work() -> None:
        seen.append((threading.current_thread().name, threading.current_thread().daemon))
        ran.set()

    spawn_thread(work)
    assert ran.wait(5)
    assert seen == [("jwks-refresh", True)]  # a daemon: a stuck refresh never holds the process open


def test_hydrate_waits_for_a_fetch_in_progress_and_uses_it():
    import threading

    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    entered, release = threading.Event(), threading.Event()

    def slow_fetch(deadline: float | None = None) -> KeySet:
        entered.set()
        release.wait(5)
        return fetch()

    ks._fetch = slow_fetch
    first = threading.Thread(target=lambda: ks.get("k1"))
    first.start()
    assert entered.wait(5)  # the first caller holds the fetch lock
    threading.Timer(0.2, release.set).start()
    ks.hydrate()  # waits for that fetch instead of failing or fetching again
    first.join(5)
    assert ks.status().kids == ("k1",) and fetch.calls == 1


def test_hydrate_fails_exactly_at_the_end_of_usability():
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.hydrate()
    fetch.failing = True
    clock.now += 900 + 3600  # exactly usable_until, and the refetch fails
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks.hydrate()


def test_an_unknown_kid_waits_for_the_refetch_in_progress():
    import threading

    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    entered, release = threading.Event(), threading.Event()

    def slow_fetch(deadline: float | None = None) -> KeySet:
        entered.set()
        release.wait(5)
        fetch.keys["k2"] = K2
        return fetch()

    ks._fetch = slow_fetch
    outcome: list[str] = []

    def first_caller() -> None:
        try:
            ks.get("k3")
        except UnknownKey:
            outcome.append("unknown")

    first = threading.Thread(target=first_caller)
    first.start()
    assert entered.wait(5)  # the first caller's refetch holds the fetch lock
    clock.now += 30  # past the cooldown for the second caller
    threading.Timer(0.2, release.set).start()
    assert ks.get("k2") is K2  # waited for that refetch and found the new key in it
    first.join(5)
    assert fetch.calls == 2 and outcome == ["unknown"]


def test_windows_hold_on_a_clock_that_starts_near_zero():
    """Differences of times, not their remainders: a monotonic clock may start anywhere."""
    clock, fetch = FakeClock(100.0), ScriptedFetch(K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now = 1000.0  # stale: 900 s after the fetch at 100
    ks.get("k1")
    assert len(spawned) == 1
    fetch.failing = True
    clock.now = 200.0 + 900 + 3600 + 100  # long past usability: synchronous fetch fails at 4800
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    clock.now = 4805.0
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    assert fetch.calls == 3  # 4805 - 4800 = 5: the backoff is over, a new attempt


def test_construction_is_explicit_about_its_windows():
    fetch = ScriptedFetch(K1)
    ks = KeyStore(fetch=fetch, clock=FakeClock(), fresh_seconds=900, max_stale_seconds=3600)
    assert ks.fetcher is fetch
    with pytest.raises(TypeError):
        KeyStore(fetch, FakeClock(), 900, 3600)  # type: ignore[call-arg]


def test_a_failed_background_refresh_does_not_hold_back_the_fetch_when_keys_run_out():
    """Only a fetch made with no usable keys starts the short unusable backoff."""
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks = KeyStore(fetch, clock, fresh_seconds=900, max_stale_seconds=3600, spawn=lambda work: work(),
                  jitter=lambda: 0.0)
    ks.get("k1")
    fetch.failing = True
    clock.now += 4499.5  # stale: the inline background refresh fails
    assert ks.get("k1") is K1 and fetch.calls == 2
    fetch.failing = False
    clock.now += 0.5  # usable no more, half a second after that failure
    assert ks.get("k1") is K1 and fetch.calls == 3


def test_a_synchronous_fetch_is_given_the_calls_deadline_a_background_one_none():
    clock = FakeClock()
    seen: list[float | None] = []

    def fetch(deadline: float | None = None) -> KeySet:
        seen.append(deadline)
        return KeySet({"k1": K1})

    ks, spawned = store(fetch, clock)
    ks.get("k1", deadline=clock.now + 0.3)  # no keys yet: fetched for this call, by its deadline
    with pytest.raises(UnknownKey):
        ks.get("k2", deadline=clock.now + 0.4)  # an unknown kid: refetched for this call too
    start = clock.now
    clock.now += 901
    ks.get("k1", deadline=clock.now + 0.5)  # stale: a background refresh, for no call in particular
    spawned.pop()()
    ks.hydrate()
    assert seen == [start + 0.3, start + 0.4, None, None]


def test_a_fetch_cut_by_its_callers_deadline_does_not_refuse_the_next_caller():
    """A call with no time left fails its fetch; the next call, with time, must try
    again rather than be refused for the unusable backoff (1 s)."""
    clock, fetch = FakeClock(), ScriptedFetch(K1)

    def starved(deadline: float | None = None) -> KeySet:
        clock.now = deadline if deadline is not None else clock.now  # the fetch runs until the caller's deadline
        raise FetchError("jwk: timed out")

    ks, _ = store(starved, clock)
    with pytest.raises(KeysUnavailable):
        ks.get("k1", deadline=clock.now + 0.001)
    ks._fetch = fetch  # the key source is fine
    assert ks.get("k1", deadline=clock.now + 10) is K1 and fetch.calls == 1
    # A fetch that fails with time left still starts the backoff.
    ks2, _ = store(ScriptedFetch(K1), clock)
    ks2._fetch.failing = True
    with pytest.raises(KeysUnavailable):
        ks2.get("k1", deadline=clock.now + 10)
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        ks2.get("k1", deadline=clock.now + 10)
    assert ks2._fetch.calls == 1


# -- the deadline arithmetic, seen through a recording lock and the fake clock -------------------------------


class RecordingLock:
    """The single-flight lock, recording the wait each caller asks for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.timeouts: list[float] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if blocking:
            self.timeouts.append(timeout)
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


def test_without_a_deadline_a_caller_waits_for_a_fetch_in_progress_for_the_lock_wait() -> None:
    clock, fetch, lock = FakeClock(), ScriptedFetch(K1), RecordingLock()
    ks, _ = store(fetch, clock, fetch_lock=lock)
    ks.get("k1")
    assert lock.timeouts == [5.0]  # the default: five seconds from now, whatever the clock reads
    other, _ = store(fetch, FakeClock(3.0), fetch_lock=lock, lock_wait_seconds=1.5)
    other.hydrate()
    assert lock.timeouts == [5.0, 1.5]


def test_with_a_deadline_the_wait_is_what_is_left_of_it_and_never_negative() -> None:
    clock, fetch, lock = FakeClock(1000.0), ScriptedFetch(K1), RecordingLock()
    ks, _ = store(fetch, clock, fetch_lock=lock)
    ks.get("k1", deadline=1002.5)
    assert lock.timeouts == [2.5]
    late, _ = store(fetch, clock, fetch_lock=lock)
    lock.timeouts.clear()
    assert late.get("k1", deadline=999.0) is K1  # the lock is free: taken at once
    assert lock.timeouts == [0.0]  # not -1 (wait forever), not a second more


def test_hydrate_waits_the_lock_wait_from_now() -> None:
    lock = RecordingLock()
    ks, _ = store(ScriptedFetch(K1), FakeClock(7.0), fetch_lock=lock)
    ks.hydrate()
    assert lock.timeouts == [5.0]


def test_a_store_without_a_lock_of_its_own_makes_one() -> None:
    ks, _ = store(ScriptedFetch(K1), FakeClock())
    assert ks.get("k1") is K1 and ks.get("k1") is K1


def test_keys_are_unusable_from_the_exact_end_of_their_stale_window() -> None:
    clock, fetch = FakeClock(), ScriptedFetch(K1)
    ks, _ = store(fetch, clock)
    ks.get("k1")
    clock.now = ks.status().usable_until
    fetch.failing = True
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    with pytest.raises(KeysUnavailable):
        ks.get("k1")  # that failure was with nothing usable: backed off, no second fetch
    assert fetch.calls == 2


class DefectFetch(ScriptedFetch):
    """Raises a defect (or, with ``defect=False``, a FetchError), at a chosen time on the clock."""

    def __init__(self, clock: FakeClock, *keys, defect: bool = True) -> None:
        super().__init__(*keys)
        self.clock = clock
        self.defect = defect
        self.fail_at: float | None = None

    def __call__(self, deadline: float | None = None) -> KeySet:
        self.calls += 1
        if self.failing:
            if self.fail_at is not None:
                self.clock.now = self.fail_at
            if not self.defect:
                raise FetchError("http://idp/jwk: timed out")
            raise RuntimeError("a bug with a secret in its text")
        return KeySet(dict(self.keys))


def test_a_defect_with_nothing_usable_backs_off_like_a_failed_fetch() -> None:
    clock = FakeClock()
    fetch = DefectFetch(clock, K1)
    fetch.failing = True
    ks, _ = store(fetch, clock)
    with pytest.raises(KeysUnavailable, match="RuntimeError"):
        ks.get("k1")
    with pytest.raises(KeysUnavailable):
        ks.get("k1")
    assert fetch.calls == 1 and "secret" not in str(ks.status().last_error)


def test_a_defect_while_keys_are_still_usable_does_not_back_off_the_next_fetch() -> None:
    clock = FakeClock()
    fetch = DefectFetch(clock, K1)
    ks, spawned = store(fetch, clock)
    ks.get("k1")
    clock.now += 901  # stale, still usable: a background refresh
    fetch.failing = True
    ks.get("k1")
    spawned.pop()()
    clock.now = ks.status().usable_until  # now nothing is usable, within a second of that failure
    fetch.failing = False
    assert ks.get("k1") is K1 and fetch.calls == 3


@pytest.mark.parametrize("defect", [False, True])
def test_a_fetch_that_fails_exactly_at_the_slack_before_its_deadline_ran_out_of_time(defect: bool) -> None:
    """Out of time from OUT_OF_TIME_SLACK_SECONDS before the deadline, inclusive: the next caller still fetches."""
    from oic_gateway.verification.keystore import OUT_OF_TIME_SLACK_SECONDS

    clock = FakeClock(1000.0)
    fetch = DefectFetch(clock, K1, defect=defect)
    fetch.failing = True
    ks, _ = store(fetch, clock)
    deadline = 1003.0
    fetch.fail_at = deadline - OUT_OF_TIME_SLACK_SECONDS
    with pytest.raises(KeysUnavailable):
        ks.get("k1", deadline=deadline)
    fetch.failing = False
    assert ks.get("k1") is K1 and fetch.calls == 2


@pytest.mark.parametrize("defect", [False, True])
def test_a_fetch_that_fails_before_the_slack_is_a_failure_of_the_key_source(defect: bool) -> None:
    clock = FakeClock(1000.0)
    fetch = DefectFetch(clock, K1, defect=defect)
    fetch.failing = True
    ks, _ = store(fetch, clock)
    fetch.fail_at = 1003.0 - 0.02  # two slacks before the deadline
    with pytest.raises(KeysUnavailable):
        ks.get("k1", deadline=1003.0)
    fetch.failing = False
    with pytest.raises(KeysUnavailable):
        ks.get("k1")  # backed off: the source failed with time to spare
    assert fetch.calls == 1
