"""The fleet-wide token cache against a real redis-server over TLS with a test
CA (restarted, frozen, tampered with, read with the wrong key, raced), then
through the fdk runtime. Its pure core is in tests/unit/test_fleet_cache_unit.py."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.fnrun import ROOT, FnProcess
from oic_gateway.oic_tokens.fleet_cache import CircuitBreaker, FleetCache, Sealer, StoreUnavailable
from oic_gateway.oic_tokens.fleet_store import FleetCacheConfig, RedisStore
from oic_gateway.oic_tokens.issued import IssuedToken
from tests.conftest import FUNCTION_OUTPUT
from tests.function.test_backend_fn import BACKEND_DIR, TOKEN_PATH, gateway_call, user_env
from tests.tokens import single
from tests.unit.test_fleet_cache_unit import KEY, MATERIAL, OTHER_KEY, Endpoint, advisory

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
    settings = FleetCacheConfig.from_env(env)
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


def test_a_stale_container_cannot_evict_the_entry_another_just_published(redis_server: Any) -> None:
    """Two containers, one real Redis: B refreshes after OIC refused the token, then
    A, which still held the refused token, forgets it. B's fresh entry survives
    (compare-and-delete under WATCH), so a third container needs no token request."""
    endpoint = Endpoint(wall)
    (a, store_a), (b, store_b), (c, store_c) = redis_fleet(redis_server), redis_fleet(redis_server), \
        redis_fleet(redis_server)
    material = MATERIAL + "forget-race"
    refused = real_ask(a, endpoint, material)
    b.forget(material, refused.access_token)
    renewed = real_ask(b, endpoint, material)
    assert renewed.access_token != refused.access_token
    a.forget(material, refused.access_token)  # late, and about a token the entry no longer holds
    assert real_ask(c, endpoint, material).access_token == renewed.access_token
    assert endpoint.calls == 2
    # The entry that does hold the refused token is deleted.
    c.forget(material, renewed.access_token)
    assert real_ask(a, endpoint, material).access_token not in (refused.access_token, renewed.access_token)
    assert endpoint.calls == 3
    for store in (store_a, store_b, store_c):
        store.close()


def test_compare_and_delete_is_refused_when_the_value_changed_under_watch(redis_server: Any) -> None:
    _, store = redis_fleet(redis_server)
    store.put("cad-probe", b"one", 60_000)
    assert store.delete_if_equal("cad-probe", b"two") is False and store.get("cad-probe") == b"one"
    assert store.delete_if_equal("cad-probe", b"one") is True and store.get("cad-probe") is None
    assert store.delete_if_equal("cad-probe", b"one") is False  # nothing left to delete
    store.close()


def test_a_compare_and_delete_cut_after_watch_never_leaks_a_connection(redis_server: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The store stalls right after WATCH, six times (more than the pool's 4
    connections): each attempt is a store failure, and the store still works after."""
    import redis.client

    _, store = redis_fleet(redis_server)
    store.put("cad-stall", b"v", 60_000)
    watch = redis.client.Pipeline.watch

    def watch_then_stall(self: Any, *names: Any) -> Any:
        answer = watch(self, *names)
        redis_server.freeze()
        return answer

    monkeypatch.setattr(redis.client.Pipeline, "watch", watch_then_stall)
    try:
        for _ in range(6):
            with pytest.raises(StoreUnavailable):
                store.delete_if_equal("cad-stall", b"v")
            redis_server.thaw()
    finally:
        redis_server.thaw()
        monkeypatch.setattr(redis.client.Pipeline, "watch", watch)
    assert store.get("cad-stall") == b"v"
    assert store.delete_if_equal("cad-stall", b"v") is True
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
    settings = FleetCacheConfig.from_env({"SHARED_CACHE_URL": f"redis://127.0.0.1:{hostile.port}",
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

    from oic_gateway.oic_tokens.fleet_store import MAX_VALUE_BYTES

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
