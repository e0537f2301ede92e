"""Every outbound call ends by its deadline, whatever the peer or the resolver does.

Each peer is a raw TCP server on 127.0.0.1 that stalls for ``STALL`` seconds
(far past any budget): silent, trickling its headers, or trickling its body.
A call must fail with its typed error within the budget plus ``SLACK`` (room
for a loaded machine); the unbounded behaviour would take the whole stall.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from oic_gateway.errors import FetchError
from oic_gateway.net import http, resolve
from oic_gateway.net.deadline import guard, stateless_session

BUDGET = 1.0
SLACK = 1.0
STALL = 6.0
DRIP = 0.2  # one byte per DRIP: each socket read succeeds, so a per-read timeout never fires


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(STALL)


def _slow_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for byte in b"X-Slow: " + b"a" * 100:
        if stop.wait(DRIP):
            return
        conn.sendall(bytes([byte]))


def _slow_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        if stop.wait(DRIP):
            return
        conn.sendall(b" ")


def _slow_body_closing(conn: socket.socket, stop: threading.Event) -> None:
    """A body trickled on an answer that ends the connection: ``http.client``
    lets go of the connection's socket once these headers are in."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                 b"Connection: close\r\n\r\n")
    for _ in range(1000):
        if stop.wait(DRIP):
            return
        conn.sendall(b" ")


Behaviour = Callable[[socket.socket, threading.Event], None]
PEERS: dict[str, Behaviour] = {"silent": _silent, "slow-headers": _slow_headers, "slow-body": _slow_body}


@contextlib.contextmanager
def peer(behaviour: Behaviour) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client cutting us off is the point
            conn.recv(65536)
            behaviour(conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    real = resolve.getaddrinfo

    def lookup(host: str, *args: Any) -> Any:
        time.sleep(STALL)
        return real("127.0.0.1", *args)

    monkeypatch.setattr(resolve, "getaddrinfo", lookup)


def _within_budget(call: Callable[[], object], error: type[BaseException] | tuple[type[BaseException], ...]) -> float:
    started = time.monotonic()
    with pytest.raises(error):
        call()
    took = time.monotonic() - started
    assert took < BUDGET + SLACK, f"took {took:.2f} s for a {BUDGET} s budget"
    return took


# -- net/http.py: JWKS, discovery and introspection --------------------------


@pytest.mark.parametrize("kind", PEERS)
@pytest.mark.parametrize("method", ["GET", "POST"])  # GET: key sets, discovery; POST: introspection
def test_http_request_ends_by_its_budget(kind: str, method: str) -> None:
    with peer(PEERS[kind]) as port:
        body = b"token=redacted" if method == "POST" else None
        took = _within_budget(lambda: http.request(method, f"http://127.0.0.1:{port}/jwk", body=body,
                                                   timeout=BUDGET, max_bytes=64 * 1024), FetchError)
    assert took >= BUDGET * 0.9  # it waited for the peer, not failed early for another reason


def test_http_request_name_resolution_ends_by_its_budget(slow_resolver: None) -> None:
    _within_budget(lambda: http.request("GET", "http://idp.example.invalid:9/jwk", timeout=BUDGET,
                                        max_bytes=1024), FetchError)


def test_http_request_still_answers() -> None:
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\n{}")

    with peer(answer) as port:
        response = http.request("GET", f"http://127.0.0.1:{port}/", timeout=BUDGET, max_bytes=1024)
    assert (response.status, response.content_type, response.body) == (200, "application/json", b"{}")


# -- net/deadline.py: the token endpoint and OIC ------------------------------


def _guarded_post(url: str) -> None:
    session = stateless_session()
    with guard(time.monotonic() + BUDGET) as watch:
        response = session.post(url, data={"a": "b"}, timeout=(BUDGET, BUDGET), allow_redirects=False,
                                stream=True)
        try:
            for _ in response.iter_content(1024):
                pass
        finally:
            response.close()
    # A cut mid-headers can read as an early end of the answer rather than an
    # error; callers judge by ``watch.expired``, so this does too.
    if watch.expired:
        raise requests.Timeout("cut at the deadline")


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body", "slow-body-closing"])
def test_guarded_session_ends_by_its_budget(kind: str) -> None:
    with peer({**PEERS, "slow-body-closing": _slow_body_closing}[kind]) as port:
        _within_budget(lambda: _guarded_post(f"http://127.0.0.1:{port}/token"), requests.RequestException)


def test_guarded_session_silent_peer_ends_by_its_budget() -> None:
    with peer(_silent) as port:
        _within_budget(lambda: _guarded_post(f"http://127.0.0.1:{port}/token"), requests.RequestException)


def test_guarded_session_name_resolution_ends_by_its_budget(slow_resolver: None) -> None:
    _within_budget(lambda: _guarded_post("http://oic.example.invalid:9/ic/api"), requests.RequestException)


# -- verification/keystore.py: waiting behind a stuck fetch -------------------


def test_keystore_caller_behind_a_stuck_fetch_gives_up_at_its_deadline() -> None:
    from oic_gateway.errors import KeysUnavailable
    from oic_gateway.verification.keystore import KeyStore

    release = threading.Event()
    fetching = threading.Event()

    def stuck_fetch(deadline: float | None = None) -> Any:
        fetching.set()
        release.wait(STALL)
        raise FetchError("gave up")

    store = KeyStore(stuck_fetch, time.monotonic, fresh_seconds=60, max_stale_seconds=60)
    def first_caller() -> None:
        with contextlib.suppress(KeysUnavailable):
            store.get("kid")

    first = threading.Thread(target=first_caller, daemon=True)
    first.start()
    assert fetching.wait(2.0)
    try:
        _within_budget(lambda: store.get("kid", deadline=time.monotonic() + BUDGET), KeysUnavailable)
    finally:
        release.set()


# -- oic_tokens/fleet_store.py: the fleet cache (Redis / OCI Cache) -----------
#
# The store's own timeouts are set far above the caller's budget, so only the
# caller's deadline can end these operations in time. A failure is
# ``StoreUnavailable``: the fleet cache's caller then fetches its token directly.

REDIS_BUDGET = 0.3


def _slow_redis_reply(conn: socket.socket, stop: threading.Event) -> None:
    """Answers the handshake at once, then trickles the reply to GETRANGE."""
    reader = conn.makefile("rb")
    conn.sendall(b"%1\r\n+proto\r\n:3\r\n")  # HELLO, the first command (peer() has read it)
    while line := reader.readline():
        args = [reader.read(int(reader.readline()[1:]) + 2)[:-2] for _ in range(int(line[1:]))]
        if args[0].upper() in (b"GET", b"GETRANGE"):
            conn.sendall(b"$100\r\n")
            for _ in range(100):
                if stop.wait(DRIP):
                    return
                conn.sendall(b"x")
            conn.sendall(b"\r\n")
        else:
            conn.sendall(b"+OK\r\n")


def _redis_store(host: str, port: int) -> Any:
    from oic_gateway.oic_tokens.fleet_store import FleetCacheConfig, RedisStore

    settings = FleetCacheConfig.from_env({
        "SHARED_CACHE_URL": f"redis://{host}:{port}", "SHARED_CACHE_KEY": "A" * 43 + "=",
        "SHARED_CACHE_TIMEOUT_MS": "2000", "SHARED_CACHE_CONNECT_TIMEOUT_MS": "5000",
    })
    assert settings is not None
    return RedisStore(settings)


def _redis_within_budget(store: Any) -> float:
    from oic_gateway.oic_tokens.fleet_cache import StoreUnavailable

    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable):
            store.get("name", deadline=started + REDIS_BUDGET)
    finally:
        store.close()
    took = time.monotonic() - started
    assert took < REDIS_BUDGET + SLACK, f"took {took:.2f} s for a {REDIS_BUDGET} s budget"
    return took


@pytest.mark.parametrize("kind", ["silent", "slow-reply"])
def test_redis_operation_ends_by_the_callers_deadline(kind: str) -> None:
    behaviour = _silent if kind == "silent" else _slow_redis_reply
    with peer(behaviour) as port:
        took = _redis_within_budget(_redis_store("127.0.0.1", port))
    assert took >= REDIS_BUDGET * 0.9  # it waited for the peer, not failed early for another reason


def test_redis_name_resolution_ends_by_the_callers_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = resolve.getaddrinfo

    def lookup(host: str, *args: Any) -> Any:
        asked.append(host)
        time.sleep(STALL)
        return real("127.0.0.1", *args)

    monkeypatch.setattr(resolve, "getaddrinfo", lookup)
    monkeypatch.setattr("oic_gateway.oic_tokens.fleet_store.is_loopback_host", lambda host: True)
    _redis_within_budget(_redis_store("cache.example.invalid", 6379))
    assert asked == ["cache.example.invalid"]  # resolved through the bounded resolver, not a bare getaddrinfo


def test_a_fleet_read_past_the_callers_deadline_falls_back_to_the_token_endpoint() -> None:
    from oic_gateway.oic_tokens.fleet_cache import CircuitBreaker, FleetCache
    from oic_gateway.oic_tokens.issued import IssuedToken

    fetched: list[float] = []

    def fetch() -> IssuedToken:
        fetched.append(time.monotonic())
        return IssuedToken("t", "Bearer", time.time() + 600, time.time())

    with peer(_silent) as port:
        store = _redis_store("127.0.0.1", port)
        cache = FleetCache(store, lambda: b"k" * 32, breaker=CircuitBreaker(time.monotonic), lock_seconds=2.0)
        started = time.monotonic()
        try:
            token = cache.token("material", fetch, serve_until=lambda t: t.expires_at,
                                deadline=started + REDIS_BUDGET * 2)
        finally:
            store.close()
    assert token.access_token == "t" and cache.stats.bypasses == 1
    assert fetched[0] - started < REDIS_BUDGET * 2 + SLACK


def test_verify_with_a_deadline_does_not_wait_on_the_key_fetch_lock_past_it() -> None:
    from oic_gateway.errors import KeysUnavailable
    from oic_gateway.verification.keystore import KeyStore
    from oic_gateway.verification.verifier import JwtVerifier, TrustedIssuer
    from tests.tokens import ISSUER
    from tests.unit.test_verifier import SIGNER, rules

    release = threading.Event()
    fetching = threading.Event()

    def stuck_fetch(deadline: float | None = None) -> Any:
        fetching.set()
        release.wait(STALL)
        raise FetchError("gave up")

    # Without the call's deadline, a caller behind the fetch waits the store's cap (STALL here).
    store = KeyStore(stuck_fetch, time.monotonic, fresh_seconds=60, max_stale_seconds=60, lock_wait_seconds=STALL)
    verifier = JwtVerifier({ISSUER: TrustedIssuer(store, rules(), frozenset({"RS256"}))}, time.time)
    token = SIGNER.mint()

    def first_caller() -> None:
        with contextlib.suppress(KeysUnavailable):
            verifier.verify(token)

    first = threading.Thread(target=first_caller, daemon=True)
    first.start()
    assert fetching.wait(2.0)
    try:
        _within_budget(lambda: verifier.verify(token, deadline=time.monotonic() + BUDGET), KeysUnavailable)
    finally:
        release.set()


# -- the call's deadline reaches the key fetch, introspection and the token endpoint --
#
# Each exchange's own timeout is set far above the call's budget (STALL), so
# only the call's deadline, passed down, can end it in time.

CALL_BUDGET = 0.3


def _within_call_budget(call: Callable[[float], object], error: type[BaseException]) -> float:
    started = time.monotonic()
    with pytest.raises(error):
        call(started + CALL_BUDGET)
    took = time.monotonic() - started
    assert took < CALL_BUDGET + SLACK, f"took {took:.2f} s for a {CALL_BUDGET} s call deadline"
    return took


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body"])
@pytest.mark.parametrize("source", ["jwks", "discovery"])
def test_a_key_fetch_ends_by_the_calls_deadline_not_its_own_timeout(kind: str, source: str) -> None:
    from oic_gateway.errors import KeysUnavailable
    from oic_gateway.verification.idp import DiscoveryJwksFetcher, JwksFetcher
    from oic_gateway.verification.keystore import KeyStore
    from oic_gateway.verification.verifier import JwtVerifier, TrustedIssuer
    from tests.tokens import ISSUER
    from tests.unit.test_verifier import SIGNER, rules

    with peer(PEERS[kind]) as port:
        fetcher = (JwksFetcher(f"http://127.0.0.1:{port}/jwk", timeout=STALL) if source == "jwks" else
                   DiscoveryJwksFetcher(f"http://127.0.0.1:{port}/.well-known/openid-configuration", ISSUER,
                                        timeout=STALL))
        store = KeyStore(fetcher, time.monotonic, fresh_seconds=60, max_stale_seconds=60)
        verifier = JwtVerifier({ISSUER: TrustedIssuer(store, rules(), frozenset({"RS256"}))}, time.time)
        token = SIGNER.mint()
        took = _within_call_budget(lambda deadline: verifier.verify(token, deadline), KeysUnavailable)
    assert took >= CALL_BUDGET * 0.9  # it waited for the peer, not failed early for another reason
    assert "timed out" in (store.status().last_error or "")


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body"])
def test_introspection_ends_by_the_calls_deadline_not_its_own_timeout(kind: str) -> None:
    from oic_gateway.errors import CannotDecide
    from oic_gateway.net.secret_sources import InlineSecret
    from oic_gateway.verification.introspection import Introspector

    with peer(PEERS[kind]) as port:
        introspector = Introspector(f"http://127.0.0.1:{port}/oauth2/v1/introspect", "client",
                                    InlineSecret("secret"), cache_seconds=60, timeout=STALL)
        now = time.time()
        _within_call_budget(lambda deadline: introspector.check("t", b"k", now + 600, now, deadline), CannotDecide)


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body"])
def test_the_authorizers_token_request_ends_by_its_call_deadline(kind: str) -> None:
    """The authorizer-context topology: Authorizer.handle's deadline bounds the
    OIC token request, though OIC_TOKEN_TIMEOUT_SECONDS is far longer."""
    import json

    from authorizer.app import build_authorizer
    from authorizer.context_token import backend_factory
    from oic_gateway.errors import CannotDecide
    from tests.servers import JwksServer
    from tests.tokens import authorizer_env, single
    from tests.unit.test_verifier import SIGNER

    jwks = JwksServer([SIGNER.jwk()]).start()
    try:
        with peer(PEERS[kind]) as port:
            env = authorizer_env(jwks.url, OIC_CLIENT_ID="oic-client", OIC_CLIENT_SECRET="oic-secret",
                                 OIC_SCOPE="https://oic.example.com:443urn:opc:resource:consumer::all",
                                 OIC_TOKEN_URL=f"http://127.0.0.1:{port}/oauth2/v1/token",
                                 OIC_TOKEN_TIMEOUT_SECONDS="30")
            authz = build_authorizer(env, backend_factory)
            authz.verifier.hydrate()  # the keys are in: only the token request is left
            body = json.dumps(single(SIGNER.mint())).encode()
            took = _within_call_budget(lambda deadline: authz.handle(body, "call", deadline), CannotDecide)
    finally:
        jwks.stop()
    assert took >= CALL_BUDGET * 0.9
