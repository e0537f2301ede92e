"""The fleet cache's edge: settings from the environment and the Redis / OCI
Cache store (redis-py): every operation bounded by the call's deadline (the
one in ``net.deadline``, name resolution included), no client-side retries.

``SHARED_CACHE_URL`` unset: no fleet cache, everything as without this module.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from oic_gateway.errors import ConfigError
from oic_gateway.net import resolve
from oic_gateway.net.deadline import MARGIN_SECONDS, current, guard, register
from oic_gateway.net.secret_sources import InlineSecret, SecretSource, secret_from_env
from oic_gateway.oic_tokens.fleet_cache import CircuitBreaker, FleetCache, StoreUnavailable, parse_key
from oic_gateway.settings import Problems, integer, is_loopback_host, number

MAX_VALUE_BYTES = 64 * 1024  # read of one entry; a sealed token is about 2 KB


@dataclass(frozen=True)
class FleetCacheConfig:
    host: str
    port: int
    db: int
    tls: bool
    ca_file: str | None
    username: str | None
    password: SecretSource | None
    key: SecretSource
    timeout: float  # seconds, one store operation
    connect_timeout: float
    breaker_failures: int
    breaker_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FleetCacheConfig | None:
        """None when SHARED_CACHE_URL is unset; else raises one ``ConfigError`` naming every wrong key."""
        raw = env.get("SHARED_CACHE_URL", "").strip()
        if not raw:
            return None

        def url() -> tuple[SplitResult, int, str]:
            try:
                parts = urlsplit(raw)
                port = parts.port or 6379
            except ValueError:
                raise ConfigError("SHARED_CACHE_URL", "is not a valid URL") from None
            if parts.scheme not in ("rediss", "redis") or not parts.hostname:
                raise ConfigError("SHARED_CACHE_URL",
                                  "must be rediss://<host>:<port> (OCI Cache's private endpoint FQDN)")
            if parts.scheme == "redis" and not is_loopback_host(parts.hostname):
                raise ConfigError("SHARED_CACHE_URL", "must use rediss:// (TLS); redis:// only for loopback hosts")
            if parts.username or parts.password:
                raise ConfigError("SHARED_CACHE_URL", "must not carry credentials; use SHARED_CACHE_USERNAME / "
                                                      "SHARED_CACHE_PASSWORD(_OCID)")
            if parts.query or parts.fragment:
                raise ConfigError("SHARED_CACHE_URL", "must not have a query or fragment")
            path = unquote(parts.path).strip("/")
            if path and not path.isdigit():
                raise ConfigError("SHARED_CACHE_URL", "the path, if any, must be a database number")
            return parts, port, path

        def ca() -> str | None:
            ca_file = env.get("SHARED_CACHE_CA_FILE", "").strip() or None
            if ca_file is not None and not Path(ca_file).is_file():
                raise ConfigError("SHARED_CACHE_CA_FILE", f"{ca_file} is not a readable file")
            return ca_file

        def sealing_key() -> SecretSource:
            key = secret_from_env(env, "SHARED_CACHE_KEY", required=True)
            assert key is not None
            if isinstance(key, InlineSecret):
                try:
                    parse_key(key.get())
                except ValueError as problem:
                    raise ConfigError("SHARED_CACHE_KEY", str(problem)) from None
            return key

        # The fallbacks stand in only until raise_any() raises.
        problems = Problems()
        parsed = problems.read(url, None)
        ca_file = problems.read(ca, None)
        key = problems.read(sealing_key, None)
        password = problems.read(lambda: secret_from_env(env, "SHARED_CACHE_PASSWORD", required=False), None)
        timeout = problems.read(lambda: integer(env, "SHARED_CACHE_TIMEOUT_MS"), 0)
        connect_timeout = problems.read(lambda: integer(env, "SHARED_CACHE_CONNECT_TIMEOUT_MS"), 0)
        breaker_failures = problems.read(lambda: integer(env, "SHARED_CACHE_BREAKER_FAILURES"), 0)
        breaker_seconds = problems.read(lambda: number(env, "SHARED_CACHE_BREAKER_SECONDS"), 0.0)
        problems.raise_any()
        assert parsed is not None and key is not None
        parts, port, path = parsed
        assert parts.hostname is not None
        return cls(
            host=parts.hostname,
            port=port,
            db=int(path or 0),
            tls=parts.scheme == "rediss",
            ca_file=ca_file,
            username=env.get("SHARED_CACHE_USERNAME", "").strip() or None,
            password=password,
            key=key,
            timeout=timeout / 1000,
            connect_timeout=connect_timeout / 1000,
            breaker_failures=breaker_failures,
            breaker_seconds=breaker_seconds,
        )


class RedisStore:
    """``FleetStore`` on redis-py. Every operation ends by the caller's
    ``deadline`` and by the store's own ``timeout`` (``connect_timeout`` more
    when it must connect first), whichever comes first, name resolution
    included; it is never retried by the client: the cache's breaker and the
    caller's fallback decide.

    Why more than redis-py's socket timeouts: they bound each socket read, not
    a reply (a server sending a byte every 40 ms holds a 50 ms operation for as
    long as it likes), and its connect looks the name up with a bare
    ``getaddrinfo``, which no timeout bounds. So each operation runs under a
    ``deadline.guard`` (the one watchdog that also guards the token endpoint
    and OIC shuts the socket down when the time is up), and the connection
    resolves its host through ``resolve`` within the guard's deadline."""

    def __init__(self, settings: FleetCacheConfig, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._client: Any = None
        self._guard = threading.Lock()

    def _redis(self) -> Any:
        with self._guard:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                s = self._settings
                kwargs: dict[str, Any] = {
                    "host": s.host, "port": s.port, "db": s.db,
                    "socket_timeout": s.timeout, "socket_connect_timeout": s.connect_timeout,
                    "retry": Retry(NoBackoff(), 0), "health_check_interval": 0,
                    "username": s.username, "password": s.password.get() if s.password else None,
                    # One call at a time per container: a couple of connections is plenty,
                    # and it keeps a 100-container fleet far from OCI Cache's ~1,024.
                    "max_connections": 4,
                }
                kwargs["connection_class"] = _tls_connection_class(s.ca_file) if s.tls else _bounded_connection_class()
                pool = redis.ConnectionPool(**kwargs)
                self._client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
            return self._client

    def _run(self, command: Callable[[Any], Any], deadline: float) -> Any:
        import redis

        now = self._monotonic()
        if deadline - now <= MARGIN_SECONDS:
            raise StoreUnavailable("no time left before the call's deadline")
        try:
            with guard(now + self._settings.timeout, self._monotonic, limit=deadline):
                return command(self._redis())
        except redis.AuthenticationError:
            if self._settings.password is not None:
                self._settings.password.invalidate()  # rotated in Vault: re-read on the next call
            self._drop()
            raise StoreUnavailable("authentication failed") from None
        except Exception as error:  # refused, cut, a secret that cannot be read, anything else: never an outage
            raise StoreUnavailable(type(error).__name__) from None

    def _drop(self) -> None:
        with self._guard:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def get(self, name: str, *, deadline: float = math.inf) -> bytes | None:
        # GETRANGE, not GET: a huge value written by whoever can write the store
        # costs at most MAX_VALUE_BYTES of memory (an entry is about 2 KB).
        import redis

        def read(r: Any) -> Any:
            try:
                return r.getrange(name, 0, MAX_VALUE_BYTES)
            except redis.ResponseError as error:
                # A list or hash under an entry's name (written by hand or by
                # another program): a miss, which our SET then replaces; not a
                # store failure that would open the breaker for every name.
                if str(error).startswith("WRONGTYPE"):
                    return None
                raise

        value = self._run(read, deadline)
        return value if isinstance(value, bytes) and value else None  # b"": no such name

    def put(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> None:
        self._run(lambda r: r.set(name, value, px=ttl_ms), deadline)

    def put_if_absent(self, name: str, value: bytes, ttl_ms: int, *, deadline: float = math.inf) -> bool:
        return bool(self._run(lambda r: r.set(name, value, px=ttl_ms, nx=True), deadline))

    def delete(self, name: str, *, deadline: float = math.inf) -> None:
        self._run(lambda r: r.delete(name), deadline)

    def delete_if_equal(self, name: str, value: bytes, *, deadline: float = math.inf) -> bool:
        # WATCH, GET, then MULTI/DEL/EXEC: EXEC does nothing if the key changed
        # after WATCH. Optimistic and script-free, so valid on OCI Cache's sharded
        # clusters, which refuse EVAL (docs.oracle.com/iaas/Content/ocicache/restrictedcommands.htm).
        import redis

        def compare_and_delete(r: Any) -> bool:
            # The pipeline is managed by hand, not with ``with``: when a watched
            # connection is cut (the watchdog, a stall), redis-py's reset() sends
            # UNWATCH on a reconnect past the deadline, fails, and never returns the
            # connection to the pool; four such failures would exhaust it for good.
            # So a failed pipeline's connection is disconnected and unwatched first.
            pipe = r.pipeline()
            try:
                pipe.watch(name)
                if pipe.get(name) != value:
                    return False
                pipe.multi()
                pipe.delete(name)
                try:
                    return bool(pipe.execute()[0])
                except redis.WatchError:
                    return False  # the entry changed after WATCH: not ours to delete
            except BaseException:
                # Before EXEC, redis-py reports a connection failure on a watched
                # connection as WatchError too: it is a store failure, raised as one.
                if pipe.connection is not None:
                    pipe.connection.disconnect()
                pipe.watching = False
                raise
            finally:
                pipe.reset()

        return bool(self._run(compare_and_delete, deadline))

    def close(self) -> None:
        self._drop()


def _tls_connection_class(ca_file: str | None) -> type:
    """redis-py builds a new SSL context, loading the system CA store, for
    every connection (over 100 ms on a busy core): build it once instead."""
    import ssl

    from redis.connection import SSLConnection

    if ca_file is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the host name and the chain
        context.load_verify_locations(cafile=ca_file)
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def wrap(self: Any, sock: Any) -> Any:
        return context.wrap_socket(sock, server_hostname=self.host)

    # SSLConnection's connect wraps what the next class in line connects: the bounded TCP connection.
    return type("BoundedSSLConnection", (SSLConnection, _bounded_connection_class()),
                {"_wrap_socket_with_ssl": wrap})


def _bounded_connection_class() -> type:
    """A redis-py connection that works under the caller's ``deadline.guard``
    (``RedisStore._run``): the guard cuts its socket when the operation's time
    is up, connecting moves the guard's end to ``socket_connect_timeout`` from
    then (and the command after it back to ``socket_timeout``), never past the
    caller's deadline, and the host is resolved within that time."""
    import redis

    base: Any = redis.Connection  # redis-py's own types say its timeouts may be None: ours never are

    class BoundedConnection(base):  # type: ignore[misc]
        def connect(self) -> None:
            watch = current()
            if watch is not None:
                register(self)
            if watch is None or self._sock is not None:
                super().connect()
                return
            watch.move(watch.monotonic() + self.socket_connect_timeout)
            try:
                super().connect()
            finally:
                watch.move(watch.monotonic() + self.socket_timeout)
            sock: Any = self._sock  # set by the connect just made
            if sock is not None:
                sock.settimeout(self.socket_timeout)

        def _connect(self) -> socket.socket:
            watch = current()
            at = watch.at if watch is not None else time.monotonic() + self.socket_connect_timeout
            sock = resolve.connect(self.host, self.port, at, watch.monotonic if watch is not None else time.monotonic)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock  # its timeout is what was left: it bounds a TLS handshake too

        def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
            register(self)
            super().send_packed_command(*args, **kwargs)

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            register(self)
            return super().read_response(*args, **kwargs)

    return BoundedConnection


def fleet_cache_from_env(env: Mapping[str, str], *, lock_seconds: float) -> FleetCache | None:
    settings = FleetCacheConfig.from_env(env)
    if settings is None:
        return None
    key_source = settings.key
    monotonic = time.monotonic
    return FleetCache(
        RedisStore(settings, monotonic),
        lambda: parse_key(key_source.get()),
        breaker=CircuitBreaker(monotonic, threshold=settings.breaker_failures, cooldown=settings.breaker_seconds),
        lock_seconds=lock_seconds,
    )
