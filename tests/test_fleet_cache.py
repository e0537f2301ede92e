"""The fleet-wide token cache: the pure core with a fake store and clock, then
a real redis-server over TLS with a test CA (restarted, frozen, tampered
with, read with the wrong key, raced), then through the fdk runtime."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.fnrun import ROOT, FnProcess
from tests.conftest import FUNCTION_OUTPUT
from tests.fakeclock import FakeClock
from tests.test_backend_fn import BACKEND_DIR, TOKEN_PATH, gateway_call, user_env
from tests.tokens import single
from token_exchange.fleet_cache import CircuitBreaker, FleetBusy, FleetCache, Sealer, StoreUnavailable, parse_key
from token_exchange.fleet_store import FleetCacheSettings, RedisStore
from token_exchange.oauth import IssuedToken
from token_exchange.shared.errors import ConfigError, TokenEndpointThrottled

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

    def get(self, name: str) -> bytes | None:
        self._check()
        value = self.data.get(name)
        return value[0] if value and value[1] > self.clock() else None

    def put(self, name: str, value: bytes, ttl_ms: int) -> None:
        self._check()
        self.data[name] = (value, self.clock() + ttl_ms / 1000)

    def put_if_absent(self, name: str, value: bytes, ttl_ms: int) -> bool:
        if self.get(name) is not None:
            return False
        self.put(name, value, ttl_ms)
        return True

    def delete(self, name: str) -> None:
        self._check()
        self.data.pop(name, None)


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


# -- the pure core --------------------------------------------------------------


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

    def get_then_holder_finishes(name: str) -> bytes | None:
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
    assert FleetCacheSettings.from_env({}) is None
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
            FleetCacheSettings.from_env(env)
        assert raised.value.key == key
    with pytest.raises(ConfigError, match="SHARED_CACHE_KEY"):
        FleetCacheSettings.from_env({"SHARED_CACHE_URL": "rediss://c.example.com"})
    with pytest.raises(ConfigError, match="credentials"):
        FleetCacheSettings.from_env({"SHARED_CACHE_URL": "rediss://u:p@c.example.com", "SHARED_CACHE_KEY": good})
    assert parse_key(base64.urlsafe_b64encode(KEY).decode().rstrip("=")) == KEY


# -- a real redis-server, TLS with a test CA -------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Any]:
    from local.redis_server import RedisServer

    server = RedisServer().start()  # a missing redis-server fails here, with the command to run
    yield server
    server.stop()


def redis_fleet(server: Any, key: bytes = KEY, lock_seconds: float = 2.0,
                **extra: str) -> tuple[FleetCache, RedisStore]:
    env = {**server.env(base64.b64encode(key).decode()), "SHARED_CACHE_BREAKER_SECONDS": "0.2", **extra}
    settings = FleetCacheSettings.from_env(env)
    assert settings is not None
    store = RedisStore(settings)
    breaker = CircuitBreaker(_monotonic, threshold=settings.breaker_failures, cooldown=settings.breaker_seconds)
    return FleetCache(store, lambda: key, breaker=breaker, lock_seconds=lock_seconds), store


def _monotonic() -> float:
    import time

    return time.monotonic()


def real_ask(cache: FleetCache, endpoint: Endpoint, material: str = MATERIAL, budget: float = 1.5) -> IssuedToken:
    return cache.token(material, endpoint, serve_until=advisory, deadline=_monotonic() + budget,
                       throttle_material="idp\0client")


def wall() -> float:
    import time

    return time.time()


def test_tls_with_the_test_ca_shares_one_token(redis_server: Any) -> None:
    endpoint = Endpoint(wall)
    (one, store1), (two, store2) = redis_fleet(redis_server), redis_fleet(redis_server)
    material = MATERIAL + "tls"
    assert real_ask(one, endpoint, material).access_token == real_ask(two, endpoint, material).access_token
    assert endpoint.calls == 1 and two.stats.hits == 1
    # A client that trusts another CA cannot connect: a bypass, never a failure.
    import tempfile
    from pathlib import Path

    from local.redis_server import make_test_ca

    other_ca, _, _ = make_test_ca(Path(tempfile.mkdtemp()))
    stranger, _ = redis_fleet(redis_server, SHARED_CACHE_CA_FILE=str(other_ca))
    assert real_ask(stranger, endpoint, material).token_type == "Bearer"
    assert stranger.stats.bypasses == 1 and endpoint.calls == 2
    # A wrong password: the same.
    intruder, _ = redis_fleet(redis_server, SHARED_CACHE_PASSWORD="wrong")
    real_ask(intruder, endpoint, material)
    assert intruder.stats.bypasses == 1 and endpoint.calls == 3
    for store in (store1, store2):
        store.close()


def test_tampered_and_wrong_key_entries_in_redis_are_misses(redis_server: Any) -> None:
    import redis

    endpoint = Endpoint(wall)
    cache, store = redis_fleet(redis_server)
    material = MATERIAL + "tamper"
    first = real_ask(cache, endpoint, material)
    raw = redis.Redis(host="localhost", port=redis_server.port, ssl=True, ssl_ca_certs=str(redis_server.ca_file),
                      password=redis_server.password)
    name = Sealer(KEY).name("token", material)
    blob = raw.get(name)
    assert isinstance(blob, bytes) and first.access_token.encode() not in blob
    raw.set(name, blob[:-1] + bytes([blob[-1] ^ 1]), px=60_000)
    second = real_ask(cache, endpoint, material)
    assert second.access_token != first.access_token and cache.stats.rejected_entries == 1
    # Sealed with another key, placed under our name: refused too.
    raw.set(name, Sealer(OTHER_KEY).seal(name, b'{"t":"forged","y":"Bearer","e":9e12,"i":0}'), px=60_000)
    third = real_ask(cache, endpoint, material)
    assert third.access_token not in ("forged", second.access_token) and endpoint.calls == 3
    raw.close()
    store.close()


def test_two_subjects_racing_across_containers_fetch_once_each(redis_server: Any) -> None:
    import time

    endpoint = Endpoint(wall)
    endpoint.on_call = lambda: time.sleep(0.2)  # a slow token endpoint: the race is real
    # Generous store timeouts: this test is about the lock, not a busy machine's
    # TLS handshakes (those are the bypass tests' business).
    # A long budget and lock too: a waiter gives up after half its budget, and a
    # busy machine must not turn that into a second fetch.
    containers = [redis_fleet(redis_server, lock_seconds=30.0, SHARED_CACHE_TIMEOUT_MS="2000",
                              SHARED_CACHE_CONNECT_TIMEOUT_MS="5000") for _ in range(4)]
    for _, store in containers:
        store.get("warm-up")  # each container has its connection, as a warm function does
    results: dict[str, set[str]] = {"alice": set(), "bob": set()}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def call(cache: FleetCache, subject: str) -> None:
        try:
            start.wait()
            results[subject].add(real_ask(cache, endpoint, MATERIAL + "race" + subject, budget=30.0).access_token)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(cache, subject))
               for cache, _ in containers for subject in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [c.stats.bypasses for c, _ in containers] == [0] * 4
    assert endpoint.calls == 2 and all(len(tokens) == 1 for tokens in results.values())
    assert results["alice"] != results["bob"]
    for _, store in containers:
        store.close()


def test_restart_mid_run_and_a_hung_server_never_fail_a_call(redis_server: Any) -> None:
    import time

    endpoint = Endpoint(wall)
    cache, store = redis_fleet(redis_server)
    material = MATERIAL + "restart"
    first = real_ask(cache, endpoint, material)
    redis_server.restart()  # the entry is gone with it
    tokens = [real_ask(cache, endpoint, material) for _ in range(5)]
    assert all(t.token_type == "Bearer" for t in tokens)
    time.sleep(0.25)  # the breaker's cooldown (0.2 s): the next call probes and reconnects
    later = [real_ask(cache, endpoint, material) for _ in range(3)]
    assert not cache.breaker.is_open() and len({t.access_token for t in later}) == 1
    assert later[0].access_token != first.access_token
    calls_before = endpoint.calls
    redis_server.freeze()  # SIGSTOP: connected, silent
    try:
        frozen = [real_ask(cache, endpoint, material + "frozen") for _ in range(6)]
    finally:
        redis_server.thaw()
    assert all(t.token_type == "Bearer" for t in frozen)
    assert cache.breaker.is_open() and endpoint.calls - calls_before == 6
    store.close()


class TricklingRedis:
    """A hostile store on 127.0.0.1: answers the handshake, then sends the
    reply to GET / GETRANGE one byte at a time, each well inside the timeout."""

    def __init__(self, byte_every: float, length: int) -> None:
        import socket

        self.byte_every, self.length = byte_every, length
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: Any) -> None:
        import time

        reader = connection.makefile("rb")
        with contextlib.suppress(OSError, ValueError), connection:
            while line := reader.readline():
                args = [reader.read(int(reader.readline()[1:]) + 2)[:-2] for _ in range(int(line[1:]))]
                command = args[0].upper()
                if command == b"HELLO":
                    connection.sendall(b"%1\r\n+proto\r\n:3\r\n")
                elif command in (b"GET", b"GETRANGE"):
                    connection.sendall(b"$%d\r\n" % self.length)
                    for _ in range(self.length):
                        time.sleep(self.byte_every)
                        connection.sendall(b"x")
                    connection.sendall(b"\r\n")
                else:
                    connection.sendall(b"+OK\r\n")

    def close(self) -> None:
        self.listener.close()


def test_a_store_trickling_its_reply_is_cut_at_the_timeout_not_waited_for() -> None:
    # A byte every 0.05 s never trips a 0.5 s read timeout; the whole reply takes 5 s.
    hostile = TricklingRedis(byte_every=0.05, length=100)
    settings = FleetCacheSettings.from_env({"SHARED_CACHE_URL": f"redis://127.0.0.1:{hostile.port}",
                                            "SHARED_CACHE_KEY": base64.b64encode(KEY).decode(),
                                            "SHARED_CACHE_TIMEOUT_MS": "500"})
    assert settings is not None
    store = RedisStore(settings)
    try:
        with pytest.raises(StoreUnavailable):  # before the fix: the 100 bytes, after 5 s
            store.get("name")
    finally:
        store.close()
        hostile.close()


def test_a_huge_value_in_the_store_is_read_only_in_part_and_is_a_miss(redis_server: Any) -> None:
    import redis

    from token_exchange.fleet_store import MAX_VALUE_BYTES

    endpoint = Endpoint(wall)
    cache, store = redis_fleet(redis_server)
    material = MATERIAL + "huge"
    raw = redis.Redis(host="localhost", port=redis_server.port, ssl=True, ssl_ca_certs=str(redis_server.ca_file),
                      password=redis_server.password)
    name = Sealer(KEY).name("token", material)
    raw.set(name, b"\x01" * (8 * 1024 * 1024), px=60_000)  # 8 MB where a 2 KB entry belongs
    blob = store.get(name)
    assert blob is not None and len(blob) <= MAX_VALUE_BYTES + 1
    assert real_ask(cache, endpoint, material).token_type == "Bearer"
    assert cache.stats.rejected_entries == 1 and endpoint.calls == 1
    raw.close()
    store.close()


def test_a_value_of_another_type_under_an_entry_name_is_a_miss_and_is_replaced(redis_server: Any) -> None:
    import redis

    endpoint = Endpoint(wall)
    cache, store = redis_fleet(redis_server, SHARED_CACHE_BREAKER_FAILURES="1")
    material = MATERIAL + "wrongtype"
    raw = redis.Redis(host="localhost", port=redis_server.port, ssl=True, ssl_ca_certs=str(redis_server.ca_file),
                      password=redis_server.password)
    name = Sealer(KEY).name("token", material)
    raw.rpush(name, b"not a string")
    first = real_ask(cache, endpoint, material)
    assert cache.stats.bypasses == 0 and not cache.breaker.is_open()  # the store works: no failure
    assert raw.type(name) == b"string" and real_ask(cache, endpoint, material) == first
    raw.close()
    store.close()


# -- through the fdk runtime: several containers, both topologies -------------------------


@dataclass
class Fleet:
    server: Any  # local.redis_server.RedisServer
    backends: list[FnProcess]
    authorizers: list[FnProcess]
    users: list[str]


@contextlib.contextmanager
def fleet_of(stack: Any, name: str, backends: int, authorizers: int, users: int) -> Iterator[Fleet]:
    """A redis-server, and containers of both functions (jwt_bearer) sharing it,
    started and warmed at once (fdk imports a function on its first call: here
    calls that need no token, a missing one and a malformed one)."""
    from local.redis_server import RedisServer

    server = RedisServer().start()
    names = [f"{name}-{i}@example.com" for i in range(users)]
    stack.idp.users.update(names)
    shared = server.env(base64.b64encode(os.urandom(32)).decode())
    fleet = Fleet(server,
                  [FnProcess(BACKEND_DIR, {**user_env(stack), **shared}, FUNCTION_OUTPUT) for _ in range(backends)],
                  [FnProcess(ROOT, {**stack.authorizer_env(), **stack.jwt_bearer_env(), **shared}, FUNCTION_OUTPUT)
                   for _ in range(authorizers)], names)
    FnProcess.start_all(fleet.backends + fleet.authorizers)
    try:
        warm = [threading.Thread(target=gateway_call, args=(fn, "GET", "/x", {})) for fn in fleet.backends]
        warm += [threading.Thread(target=fn.call, args=(single("x.y.z"),)) for fn in fleet.authorizers]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        yield fleet
    finally:
        for fn in fleet.backends + fleet.authorizers:
            fn.stop()
        server.stop()


def as_caller(stack: Any, fn: FnProcess, user: str, token: str | None = None) -> dict[str, Any]:
    return gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x",
                        {"Authorization": "Bearer " + (token or stack.user_token(user)), "X-Caller-Sub": user})


def test_the_fleet_shares_one_token_per_user_and_a_killed_cache_fails_no_call(stack: Any) -> None:
    with fleet_of(stack, "fleet-user", backends=3, authorizers=2, users=8) as fleet:
        def call_everywhere(user: str) -> list[int]:
            token = stack.user_token(user)
            statuses = [as_caller(stack, fn, user, token)["status"] for fn in fleet.backends]
            for fn in fleet.authorizers:
                answer = fn.call(single(token))
                statuses.append(answer.status if answer.status != 200 or answer.json()["active"] else 401)
            return statuses

        before = stack.idp.requests[TOKEN_PATH]
        for user in fleet.users[:4]:
            assert call_everywhere(user) == [200] * 5
        # Five containers, two topologies, four users: four token requests.
        assert stack.idp.requests[TOKEN_PATH] - before == 4
        fleet.server.kill()  # mid-run: every container loses the cache at once
        for user in fleet.users[4:]:
            assert call_everywhere(user) == [200] * 5  # slower and more token requests, never a failure
        assert stack.idp.requests[TOKEN_PATH] - before > 4 + 4


def test_a_throttled_identity_domain_gets_a_fast_clear_answer_fleet_wide(stack: Any) -> None:
    with fleet_of(stack, "throttled-user", backends=2, authorizers=1, users=4) as fleet:
        users, backends, authorizer = fleet.users, fleet.backends, fleet.authorizers[0]
        stack.idp.limit_token_rate((100, 1))  # one token request a minute
        try:
            assert as_caller(stack, backends[0], users[0])["status"] == 200
            before = stack.idp.requests[TOKEN_PATH]
            throttled = as_caller(stack, backends[0], users[1])  # the IdP answers 429, Retry-After: about 60
            assert throttled["status"] == 503
            assert json.loads(throttled["body"])["error"] == "token_endpoint_throttled"
            assert 50 <= int(throttled["headers"]["retry-after"]) <= 60
            assert stack.idp.requests[TOKEN_PATH] - before == 1
            # Another container, another user: told by the fleet, without asking the IdP.
            other = as_caller(stack, backends[1], users[2])
            assert other["status"] == 503 and 50 <= int(other["headers"]["retry-after"]) <= 60
            answer = authorizer.call(single(stack.user_token(users[3])))
            assert answer.status == 502  # the authorizer cannot decide: the gateway answers 502
            assert '"reason":"token_endpoint_throttled"' in authorizer.output()
            assert stack.idp.requests[TOKEN_PATH] - before == 1
        finally:
            stack.idp.limit_token_rate(None)
