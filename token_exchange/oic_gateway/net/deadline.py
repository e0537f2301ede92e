"""The one deadline watchdog (HTTP through urllib3, and the fleet cache's
Redis connections), and HTTP sessions that carry no state from one call to
the next.

Why a watchdog: ``requests``' read timeout bounds each socket read, not the
answer. A peer that sends one byte every 0.5 s satisfies a 10 s read timeout
forever, while ``requests`` is still reading the status line and headers
(before it returns anything we could check) or the body. Nothing on the
calling thread can interrupt that read: fdk runs the handler on its event
loop thread, so ``SIGALRM`` is not ours to take, and Python cannot kill a
thread. So while a request runs, a watchdog thread waits for the deadline
and then shuts the connection's socket down (``shutdown(SHUT_RDWR)``): the
blocked read returns at once with an error, the caller answers 504, and the
broken connection is closed by urllib3, never reused. The connection pool
itself stays good, so the same container serves its next call.

Why no cookie jar: ``requests.Session`` stores every ``Set-Cookie`` and sends
it on later requests to that host. One container serves many callers in
turn, so an OIC session cookie set during one caller's call would ride along
with the next caller's. ``stateless_session()`` refuses to store or send any.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.response import HTTPResponse

from oic_gateway.net import resolve

_active = threading.local()
# Time kept back before a deadline: an attempt, retry or wait that would end
# closer to the deadline than this is not started, as its answer could not be
# used (answering the caller takes a few milliseconds too).
MARGIN_SECONDS = 0.05
_POLL_SECONDS = 0.02  # after the deadline, how often a connection still being opened is looked for


class Watch:
    """One guarded stretch of work: the connections it used, when it ends, and
    whether the deadline cut it.

    ``at`` is when the watchdog cuts it; ``limit`` is the caller's deadline,
    which ``at`` never passes: a phase with its own budget (a store's connect
    timeout, then its reply timeout) moves ``at`` within it (``move``)."""

    def __init__(self, at: float = float("inf"), monotonic: Callable[[], float] = time.monotonic,
                 limit: float = float("inf")) -> None:
        self.limit = limit
        self.at = min(at, limit)
        self.monotonic = monotonic
        self.expired = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def add(self, connection: Any) -> None:
        with self._lock:
            if not any(known is connection for known in self._connections):
                self._connections.append(connection)
            cut = self.expired
        if cut:
            _shut(connection)

    def cut(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)

    def move(self, at: float) -> None:
        """End this stretch at ``at`` instead (never past ``limit``); no effect once cut."""
        self.at = min(at, self.limit)
        if not self.expired:
            _WATCHDOG.arm(self, moved=True)

    def remaining(self) -> float:
        return self.at - self.monotonic()


def _shut(connection: Any) -> None:
    # urllib3's connections hold their socket as ``sock``, redis-py's as ``_sock``; a watched
    # urllib3 connection whose answer ends it still has it as ``_answer_sock`` (``getresponse``).
    sock = (getattr(connection, "sock", None) or getattr(connection, "_sock", None)
            or getattr(connection, "_answer_sock", None))
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
        if isinstance(sock, socket.socket):
            # The plain socket's shutdown, also for a TLS one: ``SSLSocket.shutdown`` first drops its SSL
            # object, and a read in progress on the caller's thread would then raise ValueError (not an
            # OSError, so neither urllib3 nor redis-py would turn it into a timeout) instead of seeing EOF.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            sock.shutdown(socket.SHUT_RDWR)


class _Changed(Protocol):
    """What the watchdog needs of ``threading.Condition`` (a test passes a
    scripted one, to drive the loop on a fake clock without waiting)."""

    def __enter__(self) -> object: ...
    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> object: ...
    def notify(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def _start_daemon(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="deadline-watchdog", daemon=True)
    thread.start()
    return thread


class _Watchdog:
    """The one watchdog thread of the process: it cuts every armed ``Watch``
    when its time comes, then again every ``_POLL_SECONDS`` until the watch is
    disarmed (a connection opened after the cut, while connect was in
    progress, is cut as it registers or at the next look). One thread for
    all, armed per guarded stretch: a thread per stretch tripled the cost of
    a fleet cache hit.

    Its clock, its condition and how its thread starts are arguments, so a
    test can run the loop itself on a fake clock; the process's watchdog
    takes the defaults."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, changed: _Changed | None = None,
                 start: Callable[[Callable[[], None]], object] = _start_daemon) -> None:
        self._monotonic = monotonic
        self._due: dict[Watch, float] = {}  # watch -> when to cut it, on self._monotonic
        self._wakes_at = float("inf")  # when the thread looks next (inf: idle, or not started)
        self._changed: _Changed = threading.Condition() if changed is None else changed
        self._start = start
        self._started = False

    def arm(self, watch: Watch, moved: bool = False) -> None:
        # The watch's clock may be injected: what counts is how long is left on it.
        when = self._monotonic() + (watch.at - watch.monotonic())
        with self._changed:
            if moved and watch not in self._due:
                return  # its stretch has ended: nothing left to guard
            self._due[watch] = when
            if not self._started:
                self._started = True
                self._start(self._watch)
            if when < self._wakes_at:  # else it looks in time anyway: no wake-up per stretch
                self._changed.notify()

    def disarm(self, watch: Watch) -> None:
        with self._changed:
            self._due.pop(watch, None)

    def _watch(self) -> None:
        with self._changed:
            while True:
                now = self._monotonic()
                for watch, when in list(self._due.items()):
                    if when <= now:
                        # Under the lock, so a stretch that has ended (disarmed) is never cut:
                        # its connections may be back in a pool, serving the next call.
                        watch.cut()
                        self._due[watch] = now + _POLL_SECONDS  # keep cutting until the stretch ends
                self._wakes_at = min(self._due.values(), default=float("inf"))
                self._changed.wait(None if self._wakes_at == float("inf") else self._wakes_at - now)


_WATCHDOG = _Watchdog()


@contextmanager
def guard(at: float, monotonic: Callable[[], float] = time.monotonic, *,
          limit: float = float("inf")) -> Iterator[Watch]:
    """Guard the requests made inside the block (with a ``stateless_session``,
    or a connection that calls ``register``) so that none outlives ``at`` (on
    ``monotonic``), nor ``limit`` if ``at`` is moved."""
    watch = Watch(at, monotonic, limit)
    previous = getattr(_active, "watch", None)
    _active.watch = watch
    _WATCHDOG.arm(watch)
    try:
        yield watch
    finally:
        _WATCHDOG.disarm(watch)
        _active.watch = previous


def current() -> Watch | None:
    """The innermost guard of this thread, if any."""
    return getattr(_active, "watch", None)


def register(connection: Any) -> None:
    """Put ``connection`` under this thread's guard (none: nothing to do)."""
    _register(connection)


def _register(connection: Any) -> None:
    watch: Watch | None = getattr(_active, "watch", None)
    if watch is not None:
        watch.add(connection)


def _new_conn_by(connection: Any, new_conn: Callable[[], socket.socket]) -> socket.socket:
    """Open ``connection``'s socket with its name resolved within the guard's
    deadline: the watchdog can only cut a socket, and there is none while
    ``getaddrinfo`` waits on a slow resolver. urllib3 then connects to each
    address (a literal: no second lookup); TLS still checks the host name."""
    watch: Watch | None = getattr(_active, "watch", None)
    if watch is None:
        return new_conn()
    name = connection._dns_host
    try:
        addresses = resolve.resolve(name, connection.port, watch.at, watch.monotonic)
    except (resolve.ResolveTimeout, TimeoutError) as exc:
        raise ConnectTimeoutError(connection, f"resolving {connection.host} took longer than the deadline") from exc
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    failure: Exception | None = None
    try:
        for address in dict.fromkeys(info[4][0] for info in addresses):
            connection._dns_host = address
            try:
                return new_conn()
            except (ConnectTimeoutError, NewConnectionError) as exc:
                failure = exc
    finally:
        connection._dns_host = name
    assert failure is not None  # getaddrinfo returns at least one address or raises
    raise failure


class _WatchedHTTPConnection(HTTPConnection):
    _answer_sock: socket.socket | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._answer_sock = None
        _register(self)  # before connecting: connect, send and the whole answer are guarded
        super().request(*args, **kwargs)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        # ``http.client`` lets go of ``sock`` once the headers say the answer ends
        # the connection (``Connection: close``, HTTP/1.0, a body that runs until the close),
        # and the body is then read from it through the response. Kept here, the
        # watchdog can still cut it: a peer trickling such a body is cut at the deadline.
        self._answer_sock = self.sock
        return super().getresponse()

    def _new_conn(self) -> socket.socket:
        return _new_conn_by(self, super()._new_conn)


class _WatchedHTTPSConnection(HTTPSConnection):
    _answer_sock: socket.socket | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._answer_sock = None
        _register(self)
        super().request(*args, **kwargs)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        self._answer_sock = self.sock  # see _WatchedHTTPConnection.getresponse
        return super().getresponse()

    def _new_conn(self) -> socket.socket:
        return _new_conn_by(self, super()._new_conn)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTlsPool}


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


class _NoRedirectSession(requests.Session):
    """Every call here passes ``allow_redirects=False``, yet ``requests`` still
    prepares the next request of a 3xx (``Response.next``) and parses its
    ``Location`` to do so: a port it cannot read (``host:1x``, ``host:443.``)
    raises ``ValueError``, which is not a ``RequestException``, and the
    peer's redirect would become our crash. No redirect is ever followed."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def stateless_session() -> requests.Session:
    """A session that keeps connections alive and nothing else: no cookies, no
    redirects, no proxies or ``.netrc`` from the environment, every request
    guardable by ``guard``."""
    session = _NoRedirectSession()
    session.trust_env = False
    session.cookies.set_policy(_NoCookies())
    adapter = _WatchedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
