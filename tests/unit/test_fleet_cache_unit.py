"""The fleet-wide token cache's pure core: an in-memory store and a fake clock,
the sealer, the circuit breaker and the key parser. No redis-server, no fdk, no
conftest: these are the fast tests `make mutate` runs against fleet_cache.py."""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable
from typing import Any

import pytest

from oic_gateway.errors import ConfigError, TokenEndpointThrottled
from oic_gateway.oic_tokens.fleet_cache import (
    CircuitBreaker,
    FleetBusy,
    FleetCache,
    FleetStats,
    Sealer,
    StoreUnavailable,
    parse_key,
)
from oic_gateway.oic_tokens.fleet_store import FleetCacheConfig
from oic_gateway.oic_tokens.issued import IssuedToken
from tests.fakeclock import FakeClock

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)
MATERIAL = "https://idp/oauth2/v1/token\0oic-client\0jwt-bearer\0scope\0" + "ab" * 32


class DictStore:
    """A store in a dict, with expiry on the fake clock; can be made to fail."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.data: dict[str, tuple[bytes, float]] = {}
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("down")

    def get(self, name: str, *, deadline: float = math.inf) -> bytes | None:
        self._check()
        value = self.data.get(name)
        return value[0] if value and value[1] > self.clock() else None

    def put(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> None:
        self._check()
        self.data[name] = (value, self.clock() + ttl_ms / 1000)

    def put_if_absent(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> bool:
        if self.get(name) is not None:
            return False
        self.put(name, value, ttl_ms)
        return True

    def delete(self, name: str, *, deadline: float = math.inf) -> None:
        self._check()
        self.data.pop(name, None)

    def delete_if_equal(self, name: str, value: bytes, *, deadline: float = math.inf) -> bool:
        if self.get(name) != value:
            return False
        self.data.pop(name, None)
        return True


class Endpoint:
    def __init__(self, clock: Callable[[], float], lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.throttle_for: float | None = None
        self.on_call: Callable[[], None] | None = None

    def __call__(self) -> IssuedToken:
        self.calls += 1
        if self.on_call is not None:
            self.on_call()
        now = self.clock()
        if self.throttle_for is not None:
            raise TokenEndpointThrottled("HTTP 429", now + self.throttle_for)
        return IssuedToken(f"token-{self.calls}-{os.urandom(4).hex()}", "Bearer", now + self.lifetime, now)


def advisory(token: IssuedToken) -> float:
    return token.expires_at - 600


def fleet(store: Any, clock: Callable[[], float], key: bytes = KEY, **kw: Any) -> FleetCache:
    return FleetCache(store, lambda: key, clock=clock, monotonic=clock, sleep=kw.pop("sleep", lambda s: None), **kw)


def ask(cache: FleetCache, endpoint: Callable[[], IssuedToken], clock: FakeClock, **kw: Any) -> IssuedToken:
    return cache.token(MATERIAL, endpoint, serve_until=advisory, deadline=clock() + 1.5,
                       throttle_material="idp\0client", **kw)


def test_one_fetch_for_the_fleet_and_names_reveal_nothing() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    containers = [fleet(store, clock) for _ in range(8)]
    tokens = {ask(c, endpoint, clock).access_token for c in containers}
    assert endpoint.calls == 1 and len(tokens) == 1
    assert all("oic-client" not in name and "ab" * 8 not in name for name in store.data)
    token = next(iter(tokens))
    assert all(token.encode() not in value for value, _ in store.data.values())  # sealed, not stored
    clock.now += 3001  # past the advisory point (600 s before expiry): the entry is gone, one container refreshes
    refreshed = ask(containers[3], endpoint, clock)
    assert ask(containers[0], endpoint, clock).access_token == refreshed.access_token
    assert endpoint.calls == 2 and refreshed.access_token not in tokens


def test_a_tampered_entry_is_a_miss_never_an_error() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    cache = fleet(store, clock)
    first = ask(cache, endpoint, clock)
    name = next(n for n in store.data if n.endswith(":token"))
    blob, until = store.data[name]
    for position in (0, 3, 10, len(blob) - 1):
        altered = bytearray(blob)
        altered[position] ^= 0x01
        store.data[name] = (bytes(altered), until)
        again = ask(cache, endpoint, clock)
        assert again.access_token != first.access_token  # refetched, not the forged one
        blob, until = store.data[name]
    assert cache.stats.rejected_entries == 4


def test_an_entry_moved_to_another_name_or_read_with_another_key_does_not_open() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    mine, theirs = fleet(store, clock), fleet(store, clock, key=OTHER_KEY)
    ask(mine, endpoint, clock)
    ask(theirs, endpoint, clock)
    assert endpoint.calls == 2  # another key: other names, its own token
    sealer, other = Sealer(KEY), Sealer(OTHER_KEY)
    blob = sealer.seal(sealer.name("token", "a"), b"payload")
    assert sealer.open(sealer.name("token", "a"), blob) == b"payload"
    assert sealer.open(sealer.name("token", "b"), blob) is None  # bound to its name
    assert other.open(sealer.name("token", "a"), blob) is None  # and to its key
    # Copied under the other key's name: refused, counted, refetched.
    my_name = next(n for n in store.data if n.endswith(":token") and mine_opens(n, store))
    their_name = next(n for n in store.data if n.endswith(":token") and n != my_name)
    store.data[their_name] = store.data[my_name]
    ask(theirs, endpoint, clock)
    assert endpoint.calls == 3 and theirs.stats.rejected_entries == 1


def mine_opens(name: str, store: DictStore) -> bool:
    return Sealer(KEY).open(name, store.data[name][0]) is not None


def test_a_throttled_fetch_backs_off_the_whole_fleet() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    endpoint.throttle_for = 30
    first, second = fleet(store, clock), fleet(store, clock)
    with pytest.raises(TokenEndpointThrottled):
        ask(first, endpoint, clock)
    with pytest.raises(TokenEndpointThrottled) as raised:
        ask(second, endpoint, clock)  # told at once, without asking the endpoint
    assert endpoint.calls == 1 and raised.value.retry_at == clock.now + 30
    clock.now += 31
    endpoint.throttle_for = None
    ask(second, endpoint, clock)
    assert endpoint.calls == 2


def test_a_short_shared_back_off_is_waited_out_not_failed() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    telling, waiting = fleet(store, clock), fleet(store, clock, sleep=sleep)
    telling.publish_throttle("idp\0client", clock.now + 0.5)  # a 429 with Retry-After its client waits out
    token = ask(waiting, endpoint, clock)  # 0.5 s fits in half of the 1.5 s left: wait, then ask
    assert token.token_type == "Bearer" and slept == [0.5] and endpoint.calls == 1


def test_a_back_off_marker_beyond_any_retry_after_is_ignored_not_obeyed() -> None:
    # A container whose clock runs an hour ahead publishes "retry at its now + 2 s":
    # to everyone else that is an hour away. No Retry-After is obeyed past
    # MAX_RETRY_AFTER, so no marker may stop the fleet for longer either.
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    ahead = FakeClock(clock.now + 3600)
    fleet(store, ahead).publish_throttle("idp\0client", ahead.now + 2)
    assert ask(fleet(store, clock), endpoint, clock).token_type == "Bearer" and endpoint.calls == 1


def test_a_lock_that_never_expires_costs_one_wait_per_token_not_one_per_container() -> None:
    # Someone who can write the store sets the lock with no expiry (or a holder's
    # lock outlives it): a waiter gives up after half its budget and fetches;
    # it publishes what it fetched, so the next container finds it.
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    store.put(Sealer(KEY).name("token", MATERIAL, "lock"), b"1", 10**12)
    first, second = fleet(store, clock, sleep=sleep), fleet(store, clock, sleep=sleep)
    token = ask(first, endpoint, clock)
    assert ask(second, endpoint, clock).access_token == token.access_token
    assert endpoint.calls == 1 and second.stats.hits == 1


def test_waiters_get_the_holders_token_and_holders_of_a_valid_token_do_not_wait() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    holder, waiter = fleet(store, clock), fleet(store, clock, sleep=lambda s: setattr(clock, "now", clock.now + s))
    lock = Sealer(KEY).name("token", MATERIAL, "lock")
    store.put(lock, b"1", 5000)  # the holder is fetching
    polls = 0

    def holder_finishes(_: float) -> None:
        nonlocal polls
        polls += 1
        clock.now += 0.02
        if polls == 3:
            store.delete(lock)
            ask(holder, endpoint, clock)

    waiter = fleet(store, clock, sleep=holder_finishes)
    with pytest.raises(FleetBusy):
        ask(waiter, endpoint, clock, wait_for_others=False)
    token = ask(waiter, endpoint, clock)
    assert endpoint.calls == 1 and token.access_token.startswith("token-1-") and waiter.stats.waits == 1


def test_a_holder_publishing_between_a_waiters_read_and_its_lock_costs_no_second_fetch() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    holder = fleet(store, clock)
    lock = Sealer(KEY).name("token", MATERIAL, "lock")
    store.put(lock, b"1", 5000)  # the holder is fetching
    read = store.get
    armed = [True]

    def get_then_holder_finishes(name: str, *, deadline: float = math.inf) -> bytes | None:
        value = read(name)
        if name.endswith(":token") and value is None and armed[0]:
            armed[0] = False
            store.delete(lock)  # the holder publishes and frees the lock right after this read
            ask(holder, endpoint, clock)
        return value

    store.get = get_then_holder_finishes  # type: ignore[method-assign]
    waiter = fleet(store, clock, sleep=lambda s: setattr(clock, "now", clock.now + s))
    token = ask(waiter, endpoint, clock)
    assert endpoint.calls == 1 and token.access_token.startswith("token-1-")
    assert waiter.stats == FleetStats(hits=1, misses=1)


def test_a_dead_store_is_bypassed_and_the_breaker_stops_asking() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    cache = fleet(store, clock, breaker=CircuitBreaker(clock, threshold=3, cooldown=5))
    store.down = True
    for _ in range(10):
        assert ask(cache, endpoint, clock).token_type == "Bearer"
    assert endpoint.calls == 10 and store.calls == 3 and cache.breaker.is_open()
    store.down = False
    clock.now += 6  # one probe, it works: closed again
    ask(cache, endpoint, clock)
    ask(cache, endpoint, clock)
    assert not cache.breaker.is_open() and endpoint.calls == 11


def test_an_unreadable_key_is_a_bypass() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)

    def vault_down() -> bytes:
        raise RuntimeError("vault down")

    reads = 0
    key = vault_down

    def read_key() -> bytes:
        nonlocal reads
        reads += 1
        return key()

    cache = FleetCache(store, read_key, clock=clock, monotonic=clock)
    for _ in range(5):
        assert ask(cache, endpoint, clock).token_type == "Bearer"
    assert cache.stats.bypasses == 5 and store.calls == 0 and reads == 1  # not re-read on every call
    key = lambda: KEY  # noqa: E731 - Vault is back
    clock.now += 31
    ask(cache, endpoint, clock)
    assert reads == 2 and store.calls > 0


def test_settings_name_the_key() -> None:
    good = base64.b64encode(KEY).decode()
    assert FleetCacheConfig.from_env({}) is None
    cases = {
        "SHARED_CACHE_URL": {"SHARED_CACHE_URL": "redis://cache.example.com:6379", "SHARED_CACHE_KEY": good},
        "SHARED_CACHE_KEY": {"SHARED_CACHE_URL": "rediss://cache.example.com:6379", "SHARED_CACHE_KEY": "c2hvcnQ="},
        "SHARED_CACHE_TIMEOUT_MS": {"SHARED_CACHE_URL": "rediss://c.example.com", "SHARED_CACHE_KEY": good,
                                    "SHARED_CACHE_TIMEOUT_MS": "0"},
        "SHARED_CACHE_CA_FILE": {"SHARED_CACHE_URL": "rediss://c.example.com", "SHARED_CACHE_KEY": good,
                                 "SHARED_CACHE_CA_FILE": "/nonexistent/ca.pem"},
    }
    for key, env in cases.items():
        with pytest.raises(ConfigError) as raised:
            FleetCacheConfig.from_env(env)
        assert raised.value.key == key
    with pytest.raises(ConfigError, match="SHARED_CACHE_KEY"):
        FleetCacheConfig.from_env({"SHARED_CACHE_URL": "rediss://c.example.com"})
    with pytest.raises(ConfigError, match="credentials"):
        FleetCacheConfig.from_env({"SHARED_CACHE_URL": "rediss://u:p@c.example.com", "SHARED_CACHE_KEY": good})
    assert parse_key(base64.urlsafe_b64encode(KEY).decode().rstrip("=")) == KEY


def test_every_wrong_fleet_cache_key_is_named_in_one_error() -> None:
    env = {"SHARED_CACHE_URL": "redis://cache.example.com:6379", "SHARED_CACHE_KEY": "c2hvcnQ=",
           "SHARED_CACHE_CA_FILE": "/nonexistent/ca.pem", "SHARED_CACHE_PASSWORD": "p",
           "SHARED_CACHE_PASSWORD_OCID": "ocid1.vaultsecret.oc1.iad.abc", "SHARED_CACHE_TIMEOUT_MS": "0",
           "SHARED_CACHE_CONNECT_TIMEOUT_MS": "x", "SHARED_CACHE_BREAKER_FAILURES": "101",
           "SHARED_CACHE_BREAKER_SECONDS": "0"}
    with pytest.raises(ConfigError) as raised:
        FleetCacheConfig.from_env(env)
    keys = [error.key for error in raised.value.each()]
    assert keys == ["SHARED_CACHE_URL", "SHARED_CACHE_CA_FILE", "SHARED_CACHE_KEY", "SHARED_CACHE_PASSWORD",
                    "SHARED_CACHE_TIMEOUT_MS", "SHARED_CACHE_CONNECT_TIMEOUT_MS", "SHARED_CACHE_BREAKER_FAILURES",
                    "SHARED_CACHE_BREAKER_SECONDS"]
    assert all(f"configuration {key}:" in str(raised.value) for key in keys)
    with pytest.raises(ConfigError) as two:
        FleetCacheConfig.from_env({"SHARED_CACHE_URL": "rediss://c.example.com/x", "SHARED_CACHE_TIMEOUT_MS": "1"})
    assert [error.key for error in two.value.each()] == ["SHARED_CACHE_URL", "SHARED_CACHE_KEY",
                                                          "SHARED_CACHE_TIMEOUT_MS"]


# -- each rule pinned on its own (the survivors of `make mutate`) ----------------


def test_a_blob_too_short_to_hold_a_header_nonce_and_tag_is_refused_not_decrypted() -> None:
    sealer = Sealer(KEY)
    name = sealer.name("token", "a")
    header = b"\x01" + sealer.key_id  # the right version and key id, then too little to be a sealed entry
    for extra in range(12 + 16):
        assert sealer.open(name, header + b"\0" * extra) is None


def test_a_key_that_is_not_base64_is_named_so() -> None:
    with pytest.raises(ValueError, match="is not base64"):
        parse_key("not base64 at all!")
    with pytest.raises(ValueError, match="decodes to 31 bytes"):
        parse_key(base64.b64encode(KEY[:31]).decode())


def test_one_success_resets_the_breakers_count_to_zero() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=3, cooldown=5)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert not breaker.is_open() and breaker.allow()
    breaker.failure()  # the third in a row since the success
    assert breaker.is_open() and not breaker.allow()


def test_the_fleet_lock_lives_for_the_fetch_budget_five_seconds_by_default() -> None:
    clock = FakeClock()
    store = DictStore(clock)
    lock = Sealer(KEY).name("token", MATERIAL, "lock")
    lock_expiry: list[float] = []

    def endpoint() -> IssuedToken:
        lock_expiry.append(store.data[lock][1])
        return IssuedToken("token", "Bearer", clock.now + 3600, clock.now)

    ask(FleetCache(store, lambda: KEY, clock=clock, monotonic=clock), endpoint, clock)
    assert lock_expiry == [clock.now + 5.0] and lock not in store.data  # held while fetching, then freed
    for lock_seconds, held in ((2.0, 2.0), (0.0001, 0.001)):  # at least 1 ms: PX 0 is an error
        store.data.clear()
        lock_expiry.clear()
        ask(fleet(store, clock, lock_seconds=lock_seconds), endpoint, clock)
        assert lock_expiry == [clock.now + held]


def test_an_entry_past_its_advisory_point_by_our_clock_is_not_served() -> None:
    # The writer's clock ran behind, so the store still holds the entry; ours says it is stale.
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    sealer = Sealer(KEY)
    name = sealer.name("token", MATERIAL)
    stale = IssuedToken("stale-token", "Bearer", clock.now + 500, clock.now - 3100)  # advisory point: 100 s ago
    store.put(name, sealer.seal(name, json.dumps({"t": stale.access_token, "y": "Bearer", "e": stale.expires_at,
                                                  "i": stale.issued_at}).encode()), 3_600_000)
    token = ask(fleet(store, clock), endpoint, clock)
    assert token.access_token != "stale-token" and endpoint.calls == 1


def test_a_shared_back_off_is_waited_for_exactly_its_remaining_time() -> None:
    clock = FakeClock(1.0)  # a wall clock near its origin: the wait is retry_at minus now, nothing else
    store, endpoint = DictStore(clock), Endpoint(clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    fleet(store, clock).publish_throttle("idp\0client", 3.0)
    waiting = fleet(store, clock, sleep=sleep)
    waiting.token(MATERIAL, endpoint, serve_until=advisory, deadline=clock.now + 10, throttle_material="idp\0client")
    assert slept == [2.0] and endpoint.calls == 1


def test_a_back_off_longer_than_half_the_budget_is_refused_at_once() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    slept: list[float] = []
    fleet(store, clock).publish_throttle("idp\0client", clock.now + 1.0)
    waiting = fleet(store, clock, sleep=slept.append)
    with pytest.raises(TokenEndpointThrottled) as raised:
        ask(waiting, endpoint, clock)  # 1 s does not fit in half of the 1.5 s left
    assert raised.value.retry_at == clock.now + 1.0 and slept == [] and endpoint.calls == 0


def test_a_back_off_that_ends_now_is_not_written() -> None:
    clock = FakeClock()
    store = DictStore(clock)
    fleet(store, clock).publish_throttle("idp\0client", clock.now + 0.0005)  # under a millisecond: PX 0 is an error
    assert store.calls == 0 and store.data == {}
    fleet(store, clock).publish_throttle("idp\0client", clock.now + 0.0015)
    assert [until for _, until in store.data.values()] == [clock.now + 0.001]


def shared_until(at: float) -> Callable[[IssuedToken], float]:
    return lambda _: at


def test_an_entry_lives_exactly_until_the_advisory_point_down_to_the_millisecond() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    token = ask(fleet(store, clock), endpoint, clock)
    name = Sealer(KEY).name("token", MATERIAL)
    assert store.data[name][1] == advisory(token)
    for margin, written in ((0.0005, False), (0.0015, True)):
        store.data.clear()
        fleet(store, clock).token(MATERIAL + str(margin), endpoint, serve_until=shared_until(clock.now + margin),
                                  deadline=clock.now + 1.5)
        tokens = [n for n in store.data if n.endswith(":token")]
        assert bool(tokens) is written, margin


def test_a_url_safe_key_with_only_one_of_its_two_characters_parses() -> None:
    for first in (0xFB, 0xFF):  # URL-safe encodings "-w..." (a "-", no "_") and "_w..." (a "_", no "-")
        key = bytes([first]) + bytes(31)
        text = base64.urlsafe_b64encode(key).decode()
        assert ("-" in text) != ("_" in text) and parse_key(text) == key


def test_names_key_id_and_entry_layout_are_the_same_in_every_release() -> None:
    # A rolling deploy runs two releases side by side on one store: both must name and seal alike.
    sealer = Sealer(bytes(range(32)))
    assert sealer.key_id.hex() == "3f9110a7"
    assert sealer.name("token", "a") == "oicgw:{c1d63d8d6794e18a1baac2aa6c655a0a62fffe71}:token"
    assert sealer.name("token", "a", "lock") == "oicgw:{c1d63d8d6794e18a1baac2aa6c655a0a62fffe71}:lock"
    blob = sealer.seal("n", b"payload")
    assert blob[:5] == b"\x01" + sealer.key_id and len(blob) == 1 + 4 + 12 + len(b"payload") + 16


def test_the_default_breaker_opens_after_three_failures_for_five_seconds() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock)
    assert breaker.allow() and breaker.allow()  # closed: every call may try
    breaker.failure()
    breaker.failure()
    assert not breaker.is_open() and breaker.allow()
    breaker.failure()
    assert breaker.is_open() and not breaker.allow()
    clock.now += 4.999
    assert not breaker.allow()
    clock.now += 0.001
    assert breaker.allow() and not breaker.allow()  # one probe at 5 s, and only one
    breaker.failure()  # the probe failed: open for another five seconds
    assert breaker.is_open() and not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open() and breaker.allow() and breaker.allow()


def test_the_key_is_read_again_exactly_thirty_seconds_after_it_failed() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    reads: list[float] = []

    def read_key() -> bytes:
        reads.append(clock.now)
        raise RuntimeError("vault down")

    cache = FleetCache(store, read_key, clock=clock, monotonic=clock)
    ask(cache, endpoint, clock)
    clock.now += 29.999
    ask(cache, endpoint, clock)
    clock.now += 0.001
    ask(cache, endpoint, clock)
    assert reads == [10_000.0, clock.now]


def throttled_fleet(clock: FakeClock, retry_in: float) -> tuple[DictStore, FleetCache, list[float]]:
    store = DictStore(clock)
    slept: list[float] = []
    fleet(store, clock).publish_throttle("idp\0client", clock.now + retry_in)
    return store, fleet(store, clock, sleep=slept.append), slept


def test_a_back_off_of_exactly_half_the_budget_is_refused() -> None:
    clock = FakeClock()
    _, waiting, slept = throttled_fleet(clock, 1.0)
    with pytest.raises(TokenEndpointThrottled):
        waiting.token(MATERIAL, Endpoint(clock), serve_until=advisory, deadline=clock.now + 2.0,
                      throttle_material="idp\0client")
    assert slept == []


def test_a_back_off_is_obeyed_up_to_the_longest_retry_after_plus_a_second() -> None:
    clock = FakeClock()
    _, waiting, _ = throttled_fleet(clock, 301.0)  # MAX_RETRY_AFTER (300 s) + 1: obeyed
    with pytest.raises(TokenEndpointThrottled):
        ask(waiting, Endpoint(clock), clock)
    _, ignoring, _ = throttled_fleet(clock, 301.5)  # beyond: not a marker anyone should have written
    endpoint = Endpoint(clock)
    assert ask(ignoring, endpoint, clock).token_type == "Bearer" and endpoint.calls == 1


def test_a_marker_that_does_not_open_is_no_back_off_even_near_the_clocks_origin() -> None:
    clock = FakeClock(0.5)
    store, waiting, slept = throttled_fleet(clock, 0.5)
    for name, (blob, until) in list(store.data.items()):
        store.data[name] = (blob[:-1] + bytes([blob[-1] ^ 1]), until)
    endpoint = Endpoint(clock)
    ask(waiting, endpoint, clock)
    assert slept == [] and endpoint.calls == 1


def waiting_on_a_stuck_lock(clock: FakeClock, **kw: Any) -> tuple[Endpoint, FleetCache, list[float]]:
    store, endpoint = DictStore(clock), Endpoint(clock)
    store.put(Sealer(KEY).name("token", MATERIAL, "lock"), b"1", 10**12)  # a holder that never publishes
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    return endpoint, fleet(store, clock, sleep=sleep, **kw), slept


def test_a_waiter_polls_for_half_the_budget_then_fetches() -> None:
    clock = FakeClock()
    endpoint, waiter, slept = waiting_on_a_stuck_lock(clock, poll_seconds=0.25)
    token = waiter.token(MATERIAL, endpoint, serve_until=advisory, deadline=clock.now + 2.0, throttle_material="t")
    assert slept == [0.25, 0.25, 0.25] and endpoint.calls == 1  # polls while a poll ends before 1 s, the half
    slept.clear()
    waiter.forget(MATERIAL, token.access_token)  # the entry it published is gone; the stuck lock is not
    waiter.token(MATERIAL, endpoint, serve_until=advisory, deadline=clock.now - 1.0, throttle_material="t")
    assert slept == [] and endpoint.calls == 2  # no time left: no wait at all


def test_an_entry_lives_until_the_advisory_point_whatever_the_clock_reads() -> None:
    clock = FakeClock(1000.0)  # the TTL is serve_until minus now, nothing else
    store, endpoint = DictStore(clock), Endpoint(clock)
    token = ask(fleet(store, clock), endpoint, clock)
    assert store.data[Sealer(KEY).name("token", MATERIAL)][1] == advisory(token)


def rotate(old: bytes, new: bytes) -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    current = [old]
    cache = FleetCache(store, lambda: current[0], clock=clock, monotonic=clock)
    ask(cache, endpoint, clock)
    current[0] = bytes(new)  # another object with the new value, as a re-read of Vault gives
    ask(cache, endpoint, clock)
    assert endpoint.calls == 2 and Sealer(new).name("token", MATERIAL) in store.data


def test_a_rotated_key_is_used_from_the_next_call_whichever_way_it_rotates() -> None:
    rotate(KEY, OTHER_KEY)
    rotate(OTHER_KEY, KEY)


def test_a_back_off_marker_lives_exactly_until_its_retry_time() -> None:
    clock = FakeClock()
    store = DictStore(clock)
    fleet(store, clock).publish_throttle("idp\0client", clock.now + 30)
    assert [until for _, until in store.data.values()] == [clock.now + 30]


def test_a_token_already_past_its_advisory_point_is_returned_but_not_shared() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    token = fleet(store, clock).token(MATERIAL, endpoint, serve_until=shared_until(clock.now - 1),
                                      deadline=clock.now + 1.5)
    assert token.token_type == "Bearer" and not [n for n in store.data if n.endswith(":token")]


def test_stats_count_each_miss_hit_and_bypass_once() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    cache = fleet(store, clock)
    assert cache.stats == FleetStats()
    ask(cache, endpoint, clock)
    assert cache.stats == FleetStats(misses=1)
    ask(cache, endpoint, clock)
    assert cache.stats == FleetStats(hits=1, misses=1)
    store.down = True
    ask(cache, endpoint, clock)
    assert cache.stats == FleetStats(hits=1, misses=1, bypasses=1)


def test_a_marker_that_opens_but_is_not_a_time_is_no_back_off() -> None:
    clock = FakeClock(0.5)  # near the clock's origin, where "retry at 0" and "retry at 1" differ
    store, endpoint = DictStore(clock), Endpoint(clock)
    sealer = Sealer(KEY)
    name = sealer.name("throttle", "idp\0client")
    store.put(name, sealer.seal(name, b"soon"), 60_000)
    slept: list[float] = []
    ask(fleet(store, clock, sleep=slept.append), endpoint, clock)
    assert slept == [] and endpoint.calls == 1


def test_a_key_of_any_other_length_is_refused_and_a_bypass() -> None:
    for size in (16, 31, 33, 64):
        with pytest.raises(ValueError, match="32 bytes"):
            Sealer(bytes(size))
        clock = FakeClock()
        store, endpoint = DictStore(clock), Endpoint(clock)
        cache = FleetCache(store, bytes(size).__bytes__, clock=clock, monotonic=clock)
        assert ask(cache, endpoint, clock).token_type == "Bearer" and cache.stats.bypasses == 1 and store.calls == 0


def test_an_empty_payload_seals_and_opens() -> None:
    sealer = Sealer(KEY)
    assert sealer.open("n", sealer.seal("n", b"")) == b""


def test_an_entry_that_opens_but_is_no_token_is_a_miss() -> None:
    for payload in (b"not json", b"[]", b"{}", b'{"t":"a","y":"Bearer","e":"soon","i":0}',
                    b'{"t":"a","y":"Bearer","e":[1],"i":0}', b'{"t":"","y":"Bearer","e":1e12,"i":0}'):
        clock = FakeClock()
        store, endpoint = DictStore(clock), Endpoint(clock)
        sealer = Sealer(KEY)
        name = sealer.name("token", MATERIAL)
        store.put(name, sealer.seal(name, payload), 3_600_000)
        cache = fleet(store, clock)
        assert ask(cache, endpoint, clock).access_token.startswith("token-1-"), payload
        assert cache.stats.rejected_entries == 1 and endpoint.calls == 1


def test_a_waiter_polls_every_twenty_milliseconds_by_default() -> None:
    clock = FakeClock()
    endpoint, waiter, slept = waiting_on_a_stuck_lock(clock)  # poll_seconds left at its default
    ask(waiter, endpoint, clock)
    assert slept and set(slept) == {0.02}


def test_the_waiters_window_is_half_the_budget_not_rounded() -> None:
    clock = FakeClock()
    endpoint, waiter, slept = waiting_on_a_stuck_lock(clock, poll_seconds=0.25)
    waiter.token(MATERIAL, endpoint, serve_until=advisory, deadline=clock.now + 2.5, throttle_material="t")
    assert slept == [0.25] * 4 and endpoint.calls == 1  # a 1.25 s window


def test_a_waiter_that_gets_the_holders_token_counts_one_hit_and_one_wait() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    lock = Sealer(KEY).name("token", MATERIAL, "lock")
    store.put(lock, b"1", 5000)
    holder = fleet(store, clock)

    def holder_finishes(seconds: float) -> None:
        clock.now += seconds
        store.delete(lock)
        ask(holder, endpoint, clock)

    waiter = fleet(store, clock, sleep=holder_finishes)
    ask(waiter, endpoint, clock)
    assert waiter.stats == FleetStats(hits=1, misses=1, waits=1) and endpoint.calls == 1


def test_a_token_is_shared_only_strictly_before_its_advisory_point() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    sealer = Sealer(KEY)
    name = sealer.name("token", MATERIAL)
    payload = b'{"t":"at-the-point","y":"Bearer","e":%r,"i":0}' % (clock.now + 600)  # advisory point: now
    store.put(name, sealer.seal(name, payload), 3_600_000)
    assert ask(fleet(store, clock), endpoint, clock).access_token != "at-the-point"


def test_a_short_back_off_is_measured_against_the_time_left() -> None:
    clock = FakeClock()
    _, waiting, slept = throttled_fleet(clock, 0.625)
    waiting.token(MATERIAL, Endpoint(clock), serve_until=advisory, deadline=clock.now + 10,
                  throttle_material="idp\0client")
    assert slept == [0.625]  # 0.625 s is under half of 10 s (and not of 10 s / now)


def test_a_failed_fetch_frees_the_lock_for_the_next_container() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)

    def broken() -> IssuedToken:
        raise RuntimeError("token endpoint down")

    with pytest.raises(RuntimeError):
        ask(fleet(store, clock), broken, clock)
    assert not [n for n in store.data if n.endswith(":lock")]
    slept: list[float] = []
    ask(fleet(store, clock, sleep=slept.append), endpoint, clock)
    assert slept == [] and endpoint.calls == 1  # no wait for a lock nobody holds


def test_the_call_options_are_keywords_only() -> None:
    clock = FakeClock()
    cache = fleet(DictStore(clock), clock)
    with pytest.raises(TypeError):
        cache.token(MATERIAL, Endpoint(clock), advisory, clock.now + 1.5)  # type: ignore[call-arg]


# -- forget: compare-and-delete ----------------------------------------------------------


def test_a_stale_container_forgetting_its_refused_token_keeps_the_fresh_entry() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    stale, fresh, third = fleet(store, clock), fleet(store, clock), fleet(store, clock)
    refused = ask(stale, endpoint, clock)
    fresh.forget(MATERIAL, refused.access_token)  # OIC refused it there first...
    renewed = ask(fresh, endpoint, clock)  # ...and that container published a new one
    stale.forget(MATERIAL, refused.access_token)  # late: the entry is no longer the refused token
    assert ask(third, endpoint, clock).access_token == renewed.access_token
    assert endpoint.calls == 2


def test_forget_deletes_the_refused_token_and_an_entry_that_does_not_open() -> None:
    clock = FakeClock()
    store, endpoint = DictStore(clock), Endpoint(clock)
    cache = fleet(store, clock)
    refused = ask(cache, endpoint, clock)
    name = Sealer(KEY).name("token", MATERIAL)
    cache.forget(MATERIAL, refused.access_token)
    assert name not in store.data
    store.data[name] = (b"junk", clock() + 60)
    cache.forget(MATERIAL, refused.access_token)
    assert name not in store.data
