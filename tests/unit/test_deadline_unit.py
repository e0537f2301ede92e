"""net/deadline.py without waiting: the watchdog's loop on a fake clock.

The watchdog takes its clock, its condition and how its thread starts as
arguments; here the condition is scripted, so a test runs the loop itself on
the test's thread and sees every wait it asks for (how long, or idle) and
every wake-up. A ``Watch`` and ``guard`` run against such a watchdog
(``_WATCHDOG`` replaced). Name resolution is stubbed at ``resolve.resolve``
or its ``getaddrinfo`` seam. The few real sockets are loopback peers started
here, answering at once; the real watchdog thread is checked once, cutting a
stretch that is already due. The slow proofs against stalled peers and
resolvers are in test_deadlines.py.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ProtocolError

from oic_gateway.net import deadline, resolve
from oic_gateway.net.deadline import (
    MARGIN_SECONDS,
    Watch,
    _new_conn_by,
    _shut,
    _start_daemon,
    _Watchdog,
    _WatchedHTTPConnection,
    _WatchedHTTPSConnection,
    _WatchedPool,
    _WatchedTlsPool,
    current,
    guard,
    register,
    stateless_session,
)
from tests.fakeclock import FakeClock

# -- fakes ---------------------------------------------------------------------


class Stop(Exception):
    """Raised by the scripted condition when its script is done: ends the loop."""


class ScriptedCondition:
    """Stands in for the watchdog's ``threading.Condition``: records each wait
    (its timeout; ``None`` is idle) and each wake-up, and at each wait runs the
    next step of its script (what other threads do meanwhile), or stops."""

    def __init__(self) -> None:
        self.waits: list[float | None] = []
        self.notified = 0
        self.steps: list[Callable[[], None]] = []
        self.held = 0

    def __enter__(self) -> bool:
        self.held += 1
        return True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.held -= 1

    def notify(self) -> None:
        self.notified += 1

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if not self.steps:
            raise Stop
        self.steps.pop(0)()
        return True


class Dog:
    """A watchdog on a fake clock, whose loop the test runs (``look``)."""

    def __init__(self, now: float = 100.0) -> None:
        self.clock = FakeClock(now)
        self.changed = ScriptedCondition()
        self.started: list[Callable[[], None]] = []
        self.watchdog = _Watchdog(self.clock, self.changed, start=self.started.append)

    def look(self, *steps: Callable[[], None]) -> list[float | None]:
        """Run the loop until the script is done; the waits it asked for."""
        self.changed.waits = []
        self.changed.steps = list(steps)
        with pytest.raises(Stop):
            self.watchdog._watch()
        return self.changed.waits


class Sock:
    """A socket that records how it was shut down (and whether the watchdog's lock was held)."""

    def __init__(self, fails: bool = False, held: Callable[[], int] = lambda: 0) -> None:
        self.shutdowns: list[int] = []
        self.locked: list[int] = []
        self.fails = fails
        self.held = held

    def shutdown(self, how: int) -> None:
        self.shutdowns.append(how)
        self.locked.append(self.held())
        if self.fails:
            raise OSError("not connected")


class Conn:
    """A connection holding its socket as ``sock`` (urllib3's way)."""

    def __init__(self, sock: Sock | None = None) -> None:
        self.sock = sock if sock is not None else Sock()


class RedisConn:
    """A connection holding its socket as ``_sock`` (redis-py's way)."""

    def __init__(self, sock: Sock | None = None) -> None:
        self._sock = sock if sock is not None else Sock()


@pytest.fixture
def dog(monkeypatch: pytest.MonkeyPatch) -> Dog:
    """The process's watchdog, replaced by one on a fake clock."""
    fake = Dog()
    monkeypatch.setattr(deadline, "_WATCHDOG", fake.watchdog)
    return fake


def cut(watch: Watch) -> bool:
    """Whether the watch was cut (a call, so that mypy does not narrow it for the rest of a test)."""
    return watch.expired


def near(value: float) -> Any:
    return pytest.approx(value, abs=1e-9)


# -- the margin ---------------------------------------------------------------


def test_the_margin_kept_back_before_a_deadline_is_50_ms() -> None:
    assert MARGIN_SECONDS == 0.05


# -- Watch --------------------------------------------------------------------


def test_a_new_watch_is_unbounded_on_the_monotonic_clock_and_not_cut() -> None:
    watch = Watch()
    assert (watch.at, watch.limit, watch.expired) == (float("inf"), float("inf"), False)
    assert watch.monotonic is time.monotonic
    assert watch.remaining() == float("inf")


def test_a_watch_ends_at_its_time_but_never_past_its_limit() -> None:
    clock = FakeClock(10.0)
    assert Watch(15.0, clock).at == 15.0
    assert Watch(15.0, clock, limit=12.0).at == 12.0
    assert Watch(15.0, clock, limit=20.0).at == 15.0
    assert Watch(15.0, clock, limit=12.0).limit == 12.0


def test_remaining_is_what_is_left_on_the_watchs_own_clock() -> None:
    clock = FakeClock(10.0)
    watch = Watch(15.0, clock)
    assert watch.remaining() == 5.0
    clock.now = 17.0
    assert watch.remaining() == -2.0


def test_cut_shuts_every_connection_down_both_ways_and_marks_the_watch_expired() -> None:
    watch = Watch()
    first, second = Conn(), RedisConn()
    watch.add(first)
    watch.add(second)
    assert first.sock.shutdowns == [] and second._sock.shutdowns == []  # adding alone cuts nothing
    watch.cut()
    assert watch.expired
    assert first.sock.shutdowns == [socket.SHUT_RDWR]
    assert second._sock.shutdowns == [socket.SHUT_RDWR]


def test_a_connection_added_twice_is_shut_once_per_cut() -> None:
    watch = Watch()
    first, second = Conn(), Conn()
    watch.add(first)
    watch.add(second)
    watch.add(first)
    watch.cut()
    assert first.sock.shutdowns == [socket.SHUT_RDWR]
    assert second.sock.shutdowns == [socket.SHUT_RDWR]
    watch.cut()  # the watchdog cuts again until the stretch ends
    assert len(first.sock.shutdowns) == len(second.sock.shutdowns) == 2


def test_a_connection_added_after_the_cut_is_shut_at_once_and_at_every_later_cut() -> None:
    watch = Watch()
    watch.cut()
    late = Conn()
    watch.add(late)
    assert late.sock.shutdowns == [socket.SHUT_RDWR]
    watch.cut()
    assert len(late.sock.shutdowns) == 2


def test_connections_that_compare_equal_are_still_each_watched() -> None:
    class Same(Conn):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    watch = Watch()
    first, second = Same(), Same()
    watch.add(first)
    watch.add(second)
    watch.cut()
    assert first.sock.shutdowns == second.sock.shutdowns == [socket.SHUT_RDWR]


# -- _shut --------------------------------------------------------------------


def test_shut_takes_urllib3s_sock_first_then_redis_pys_sock() -> None:
    both = Conn()
    both._sock = Sock()  # type: ignore[attr-defined]
    _shut(both)
    assert both.sock.shutdowns == [socket.SHUT_RDWR]
    assert both._sock.shutdowns == []  # type: ignore[attr-defined]

    redis_only = Conn(None)
    redis_only.sock = None  # type: ignore[assignment]
    redis_only._sock = Sock()  # type: ignore[attr-defined]
    _shut(redis_only)
    assert redis_only._sock.shutdowns == [socket.SHUT_RDWR]  # type: ignore[attr-defined]


def test_shut_takes_the_answers_socket_when_the_connection_has_let_go_of_its_own() -> None:
    conn = Conn()
    conn.sock = None  # type: ignore[assignment]
    conn._answer_sock = Sock()  # type: ignore[attr-defined]
    _shut(conn)
    assert conn._answer_sock.shutdowns == [socket.SHUT_RDWR]  # type: ignore[attr-defined]

    current_first = Conn()
    current_first._answer_sock = Sock()  # type: ignore[attr-defined]
    _shut(current_first)
    assert current_first.sock.shutdowns == [socket.SHUT_RDWR]
    assert current_first._answer_sock.shutdowns == []  # type: ignore[attr-defined]


def test_shut_cuts_a_tls_socket_below_its_ssl_layer_and_leaves_that_layer_in_place() -> None:
    """SSLSocket.shutdown would drop the SSL object under a read in progress on another thread (ValueError,
    which nothing maps to a timeout): the cut is the plain socket's, so that read sees the connection end."""
    ours, peer = socket.socketpair()
    tls = ssl.create_default_context().wrap_socket(ours, server_side=False, do_handshake_on_connect=False,
                                                   server_hostname="peer.test")
    try:
        conn = Conn()
        conn.sock = tls  # type: ignore[assignment]
        layer = tls._sslobj  # type: ignore[attr-defined]
        assert layer is not None
        _shut(conn)
        assert tls._sslobj is layer  # type: ignore[attr-defined]
        peer.settimeout(5)
        assert peer.recv(1) == b""  # our side is shut both ways: the peer reads the end at once
        with pytest.raises(OSError):
            tls.send(b"x")  # nothing can be written any more either
    finally:
        tls.close()
        peer.close()


def test_shut_leaves_a_connection_without_a_socket_alone() -> None:
    _shut(object())  # neither attribute
    unconnected = Conn()
    unconnected.sock = None  # type: ignore[assignment]
    _shut(unconnected)


def test_shut_ignores_a_socket_that_is_already_closed() -> None:
    conn = Conn(Sock(fails=True))
    _shut(conn)
    assert conn.sock.shutdowns == [socket.SHUT_RDWR]


def test_shut_does_not_hide_anything_but_os_errors() -> None:
    class Broken:
        def shutdown(self, how: int) -> None:
            raise ValueError("not a socket")

    conn = Conn()
    conn.sock = Broken()  # type: ignore[assignment]
    with pytest.raises(ValueError):
        _shut(conn)


def test_shut_really_shuts_a_socket_down() -> None:
    left, right = socket.socketpair()
    with left, right:
        conn = Conn()
        conn.sock = left  # type: ignore[assignment]
        _shut(conn)
        assert left.recv(1) == b""  # the read side is shut: a blocked read would return at once
        with pytest.raises(OSError):
            left.send(b"x")  # and the write side
        assert right.recv(1) == b""  # the peer sees the end


# -- _Watchdog: arming ----------------------------------------------------------


def test_the_first_arm_starts_the_loop_once() -> None:
    d = Dog()
    d.watchdog.arm(Watch(105.0, d.clock))
    assert d.started == [d.watchdog._watch]
    d.watchdog.arm(Watch(106.0, d.clock))
    d.watchdog.arm(Watch(104.0, d.clock))
    assert d.started == [d.watchdog._watch]


def test_arm_counts_what_is_left_on_the_watchs_clock_from_the_watchdogs_clock() -> None:
    d = Dog(now=100.0)
    d.watchdog.arm(Watch(10_005.0, FakeClock(10_000.0)))  # 5 s left on its own clock
    assert d.look() == [5.0]


def test_the_loop_waits_until_the_next_cut() -> None:
    d = Dog(now=100.0)
    d.watchdog.arm(Watch(350.0, d.clock))
    assert d.look() == [250.0]
    d.clock.now = 300.0
    assert d.look() == [50.0]


def test_an_idle_watchdog_waits_without_a_timeout() -> None:
    d = Dog()
    assert d.look() == [None]


def test_arm_wakes_the_loop_only_for_a_cut_earlier_than_its_next_look() -> None:
    d = Dog()
    d.watchdog.arm(Watch(105.0, d.clock))
    assert d.changed.notified == 1  # idle until now: woken
    assert d.look() == [5.0]  # it next looks at 105
    d.watchdog.arm(Watch(105.0, d.clock))
    assert d.changed.notified == 1  # due when it looks anyway
    d.watchdog.arm(Watch(106.0, d.clock))
    assert d.changed.notified == 1
    d.watchdog.arm(Watch(104.5, d.clock))
    assert d.changed.notified == 2  # it would look too late: woken
    assert d.look() == [4.5]


def test_arm_wakes_an_idle_loop_for_any_finite_time() -> None:
    d = Dog()
    watch = Watch(105.0, d.clock)
    d.watchdog.arm(watch)
    d.watchdog.disarm(watch)
    assert d.look() == [None]  # idle again
    d.watchdog.arm(Watch(1e300, d.clock))
    assert d.changed.notified == 2


def test_a_moved_watch_is_armed_again_at_its_new_time() -> None:
    d = Dog()
    watch = Watch(105.0, d.clock)
    d.watchdog.arm(watch)
    watch.at = 103.0
    d.watchdog.arm(watch, moved=True)
    assert d.look() == [3.0]


def test_a_moved_watch_whose_stretch_has_ended_is_not_armed_again() -> None:
    d = Dog()
    watch = Watch(105.0, d.clock)
    conn = Conn()
    watch.add(conn)
    d.watchdog.arm(watch)
    d.watchdog.disarm(watch)
    d.watchdog.arm(watch, moved=True)
    assert d.changed.notified == 1
    d.clock.now = 200.0
    assert d.look() == [None]
    assert conn.sock.shutdowns == []


def test_a_moved_watch_never_armed_does_not_start_the_loop() -> None:
    d = Dog()
    d.watchdog.arm(Watch(105.0, d.clock), moved=True)
    assert d.started == [] and d.changed.notified == 0
    assert d.look() == [None]


def test_disarming_a_watch_that_is_not_armed_is_harmless() -> None:
    d = Dog()
    d.watchdog.disarm(Watch(105.0, d.clock))
    assert d.look() == [None]


# -- _Watchdog: the loop ----------------------------------------------------------


def test_the_loop_cuts_a_watch_when_its_time_comes_not_before() -> None:
    d = Dog()
    watch = Watch(105.0, d.clock)
    conn = Conn(Sock(held=lambda: d.changed.held))
    watch.add(conn)
    d.watchdog.arm(watch)
    d.clock.now = 104.5
    assert d.look() == [0.5]
    assert conn.sock.shutdowns == [] and not cut(watch)
    d.clock.now = 105.0  # exactly on time
    d.look()
    assert cut(watch) and conn.sock.shutdowns == [socket.SHUT_RDWR]
    assert conn.sock.locked == [1]  # under the watchdog's lock: a disarmed stretch is never cut


def test_after_a_cut_the_loop_cuts_again_every_20_ms_until_disarmed() -> None:
    d = Dog()
    watch = Watch(105.0, d.clock)
    conn = Conn()
    watch.add(conn)
    d.watchdog.arm(watch)
    d.clock.now = 105.0
    assert d.look() == [near(0.02)]
    assert len(conn.sock.shutdowns) == 1
    d.clock.now = 105.01
    assert d.look() == [near(0.01)]
    assert len(conn.sock.shutdowns) == 1
    d.clock.now = 105.02
    assert d.look() == [near(0.02)]
    assert len(conn.sock.shutdowns) == 2
    d.watchdog.disarm(watch)
    d.clock.now = 106.0
    assert d.look() == [None]
    assert len(conn.sock.shutdowns) == 2


def test_the_loop_looks_again_at_the_earliest_cut_and_cuts_only_those_due() -> None:
    d = Dog()
    early, late = Watch(103.0, d.clock), Watch(107.0, d.clock)
    d.watchdog.arm(late)
    d.watchdog.arm(early)
    assert d.look() == [3.0]

    def later() -> None:
        d.clock.now = 103.0

    assert d.look(later) == [3.0, near(0.02)]
    assert early.expired and not late.expired
    d.watchdog.disarm(early)
    assert d.look() == [4.0]


def test_the_loop_sees_what_was_armed_while_it_waited() -> None:
    d = Dog()
    watch = Watch(101.0, d.clock)

    def armed_meanwhile() -> None:
        d.watchdog.arm(watch)

    def time_passes() -> None:
        d.clock.now = 101.0

    assert d.look(armed_meanwhile, time_passes) == [None, 1.0, near(0.02)]
    assert watch.expired


def test_a_watch_disarmed_while_the_loop_waited_is_not_cut() -> None:
    d = Dog()
    watch = Watch(101.0, d.clock)
    d.watchdog.arm(watch)

    def ends_and_time_passes() -> None:
        d.watchdog.disarm(watch)
        d.clock.now = 200.0

    assert d.look(ends_and_time_passes) == [1.0, None]
    assert not watch.expired


# -- the real thread ----------------------------------------------------------------


def test_start_daemon_runs_the_loop_on_a_daemon_thread_named_for_it() -> None:
    ran = threading.Event()
    thread = _start_daemon(ran.set)
    assert ran.wait(10)
    thread.join(10)
    assert thread.daemon and thread.name == "deadline-watchdog"


class Signal(Sock):
    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def shutdown(self, how: int) -> None:
        super().shutdown(how)
        self.event.set()


def test_a_watchdog_with_the_defaults_cuts_on_its_own_thread() -> None:
    watchdog = _Watchdog()
    far, due = Watch(time.monotonic() + 3600), Watch(time.monotonic() - 1)
    far_sock, due_sock = Signal(), Signal()
    far.add(Conn(far_sock))
    due.add(Conn(due_sock))
    watchdog.arm(far)  # its thread now waits an hour...
    watchdog.arm(due)  # ...and is woken for this one, already due
    try:
        assert due_sock.event.wait(10)
    finally:
        watchdog.disarm(due)
        watchdog.disarm(far)
    assert due.expired and not far.expired


def test_the_process_watchdog_cuts_a_guarded_connection() -> None:
    sock = Signal()
    with guard(time.monotonic() - 1) as watch:
        register(Conn(sock))
        assert sock.event.wait(10)
    assert watch.expired


# -- guard, current, register -----------------------------------------------------


def test_guard_arms_a_watch_for_the_block_and_disarms_it_after(dog: Dog) -> None:
    conn = Conn()
    assert current() is None
    with guard(105.0, dog.clock) as watch:
        assert current() is watch
        assert (watch.at, watch.monotonic) == (105.0, dog.clock)
        register(conn)
        assert dog.look() == [5.0]
        dog.clock.now = 105.0
        dog.look()
        assert conn.sock.shutdowns == [socket.SHUT_RDWR]
    assert current() is None
    dog.clock.now = 106.0
    assert dog.look() == [None]
    assert conn.sock.shutdowns == [socket.SHUT_RDWR]


def test_guard_is_on_the_monotonic_clock_unless_told(dog: Dog) -> None:
    with guard(time.monotonic() + 60) as watch:
        assert watch.monotonic is time.monotonic
        assert watch.limit == float("inf")


def test_a_guards_limit_caps_its_end_even_when_moved(dog: Dog) -> None:
    with guard(200.0, dog.clock, limit=150.0) as watch:
        assert (watch.at, watch.limit) == (150.0, 150.0)
        watch.move(300.0)
        assert watch.at == 150.0
        assert dog.look() == [50.0]
        watch.move(120.0)
        assert watch.at == 120.0
        assert dog.look() == [20.0]


def test_a_guards_limit_is_named_never_positional(dog: Dog) -> None:
    with pytest.raises(TypeError), guard(200.0, dog.clock, 150.0):  # type: ignore[call-arg]
        pass
    with guard(at=200.0, monotonic=dog.clock) as watch:
        assert watch.at == 200.0


def test_nested_guards_each_restore_the_one_before(dog: Dog) -> None:
    with guard(110.0, dog.clock) as outer:
        with guard(105.0, dog.clock) as inner:
            assert current() is inner
        assert current() is outer
        assert dog.look() == [10.0]  # the inner one is disarmed, the outer still armed
    assert current() is None


def test_guard_disarms_and_restores_when_the_block_raises(dog: Dog) -> None:
    conn = Conn()
    with pytest.raises(RuntimeError), guard(105.0, dog.clock):
        register(conn)
        raise RuntimeError("the call failed")
    assert current() is None
    dog.clock.now = 200.0
    assert dog.look() == [None]
    assert conn.sock.shutdowns == []


def test_guards_are_per_thread(dog: Dog) -> None:
    seen: list[Watch | None] = []
    with guard(105.0, dog.clock):
        other = threading.Thread(target=lambda: seen.append(current()))
        other.start()
        other.join(10)
    assert seen == [None]


def test_register_outside_a_guard_does_nothing() -> None:
    conn = Conn()
    register(conn)
    assert current() is None and conn.sock.shutdowns == []


def test_moving_a_watch_that_was_cut_does_not_stop_the_cutting(dog: Dog) -> None:
    conn = Conn()
    with guard(105.0, dog.clock) as watch:
        register(conn)
        dog.clock.now = 105.0
        dog.look()
        watch.move(200.0)
        assert watch.at == 200.0
        dog.clock.now = 105.02
        dog.look()
        assert len(conn.sock.shutdowns) == 2  # still cut every 20 ms, not armed again for 200


def test_moving_a_watch_after_its_guard_ended_does_not_arm_it(dog: Dog) -> None:
    conn = Conn()
    with guard(105.0, dog.clock) as watch:
        register(conn)
    watch.move(150.0)
    dog.clock.now = 200.0
    assert dog.look() == [None]
    assert conn.sock.shutdowns == [] and not watch.expired


# -- name resolution inside the deadline (_new_conn_by) --------------------------------


class Dialled:
    """A urllib3 connection's parts that ``_new_conn_by`` uses: it dials ``_dns_host``."""

    def __init__(self, host: str = "service.example", port: int = 8443,
                 failures: dict[str, Exception] | None = None) -> None:
        self.host = host
        self._dns_host = host
        self.port = port
        self.dialled: list[str] = []
        self.failures = failures or {}

    def new_conn(self) -> Any:
        self.dialled.append(self._dns_host)
        if self._dns_host in self.failures:
            raise self.failures[self._dns_host]
        return ("socket to", self._dns_host)


NO_CONN: Any = None  # urllib3's errors name their connection; these tests have none


def info(address: str, port: int = 8443) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``resolve.resolve`` call; it answers ``lookups.answer`` (a list or an exception)."""
    calls: list[Any] = []

    def fake(host: str, port: int, at: float, monotonic: Callable[[], float]) -> list[Any]:
        calls.append((host, port, at, monotonic))
        answer = fake.answer  # type: ignore[attr-defined]
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    fake.answer = [info("10.0.0.1")]  # type: ignore[attr-defined]
    monkeypatch.setattr(resolve, "resolve", fake)
    calls.append(fake)  # calls[0]: the stub, to set its answer
    return calls


def test_without_a_guard_urllib3_connects_as_it_would(lookups: list[Any]) -> None:
    conn = Dialled()
    got: Any = _new_conn_by(conn, conn.new_conn)
    assert got == ("socket to", "service.example")
    assert lookups[1:] == [] and conn.dialled == ["service.example"]


def test_under_a_guard_the_name_is_resolved_by_its_deadline_and_each_address_dialled(
        dog: Dog, lookups: list[Any]) -> None:
    lookups[0].answer = [info("10.0.0.1"), info("fd00::1"), info("10.0.0.1"), info("10.0.0.2")]
    conn = Dialled(failures={"10.0.0.1": ConnectTimeoutError("slow"),
                             "fd00::1": NewConnectionError(NO_CONN, "refused")})
    with guard(105.0, dog.clock) as watch:
        sock: Any = _new_conn_by(conn, conn.new_conn)
    assert lookups[1:] == [("service.example", 8443, 105.0, watch.monotonic)]
    assert sock == ("socket to", "10.0.0.2")
    assert conn.dialled == ["10.0.0.1", "fd00::1", "10.0.0.2"]  # each address once, in order
    assert conn._dns_host == "service.example"  # the name again, for TLS and the next connect


def test_the_first_address_that_answers_is_used(dog: Dog, lookups: list[Any]) -> None:
    lookups[0].answer = [info("10.0.0.1"), info("10.0.0.2")]
    conn = Dialled()
    with guard(105.0, dog.clock):
        got: Any = _new_conn_by(conn, conn.new_conn)
        assert got == ("socket to", "10.0.0.1")
    assert conn.dialled == ["10.0.0.1"] and conn._dns_host == "service.example"


def test_when_every_address_fails_the_last_failure_is_raised(dog: Dog, lookups: list[Any]) -> None:
    lookups[0].answer = [info("10.0.0.1"), info("10.0.0.2"), info("10.0.0.3")]
    last = NewConnectionError(NO_CONN, "refused")
    conn = Dialled(failures={"10.0.0.1": ConnectTimeoutError("first"), "10.0.0.2": ConnectTimeoutError("second"),
                             "10.0.0.3": last})
    with guard(105.0, dog.clock), pytest.raises(NewConnectionError) as raised:
        _new_conn_by(conn, conn.new_conn)
    assert raised.value is last
    assert conn.dialled == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert conn._dns_host == "service.example"


def test_a_connect_timeout_on_the_last_address_is_raised_as_it_is(dog: Dog, lookups: list[Any]) -> None:
    last = ConnectTimeoutError("slow")
    conn = Dialled(failures={"10.0.0.1": last})
    with guard(105.0, dog.clock), pytest.raises(ConnectTimeoutError) as raised:
        _new_conn_by(conn, conn.new_conn)
    assert raised.value is last


def test_another_failure_is_not_retried_on_the_next_address(dog: Dog, lookups: list[Any]) -> None:
    lookups[0].answer = [info("10.0.0.1"), info("10.0.0.2")]
    conn = Dialled(failures={"10.0.0.1": ValueError("a defect")})
    with guard(105.0, dog.clock), pytest.raises(ValueError):
        _new_conn_by(conn, conn.new_conn)
    assert conn.dialled == ["10.0.0.1"] and conn._dns_host == "service.example"


@pytest.mark.parametrize(("failure", "urllib3_error"), [
    (resolve.ResolveTimeout("no time left"), ConnectTimeoutError),  # not resolved in time: a connect timeout
    (TimeoutError("connect"), ConnectTimeoutError),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), NameResolutionError),  # no such name
], ids=["resolve-timeout", "timeout-error", "no-such-name"])
def test_a_name_that_is_not_resolved_is_urllib3s_own_error(dog: Dog, lookups: list[Any], failure: Exception,
                                                           urllib3_error: type[Exception]) -> None:
    lookups[0].answer = failure
    conn = Dialled()
    with guard(105.0, dog.clock), pytest.raises(urllib3_error) as raised:
        _new_conn_by(conn, conn.new_conn)
    assert raised.value.__cause__ is failure
    assert "service.example" in str(raised.value)
    assert conn.dialled == []


# -- urllib3's connections, pools and the session (loopback peers) --------------------


@contextlib.contextmanager
def peer(answer: Callable[[socket.socket], None] = lambda conn: None,
         tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback HTTP peer (HTTPS with ``tls``): reads each request's head, records it, runs ``answer``."""
    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
        with conn, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            heads.append(head)
            answer(conn)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], heads
    finally:
        listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def test_a_watched_connection_is_registered_by_its_request(dog: Dog) -> None:
    with peer() as (port, _):
        conn = _WatchedHTTPConnection("127.0.0.1", port, timeout=10)
        try:
            with guard(105.0, dog.clock) as watch:
                conn.request("GET", "/")
                assert conn.sock is not None
                watch.cut()
                with pytest.raises(OSError):
                    conn.sock.send(b"x")  # shut down: the answer's read would end at once too
        finally:
            conn.close()


@pytest.mark.parametrize("kind", [_WatchedHTTPConnection, _WatchedHTTPSConnection], ids=["http", "https"])
def test_a_watched_connection_resolves_its_name_through_the_bounded_resolver(
        dog: Dog, monkeypatch: pytest.MonkeyPatch, kind: type[Any]) -> None:
    asked: list[str] = []

    def lookup(host: str, port: int, *args: Any) -> list[Any]:
        asked.append(host)
        return [info("127.0.0.1", port)]

    monkeypatch.setattr(resolve, "getaddrinfo", lookup)
    with peer() as (port, _):
        conn = kind("localhost", port, timeout=10)
        with guard(dog.clock() + 60, dog.clock):
            sock = conn._new_conn()
        with sock:
            assert sock.getpeername() == ("127.0.0.1", port)
        assert asked == ["localhost"]
        with kind("localhost", port, timeout=10)._new_conn():  # no guard: urllib3's own lookup
            assert asked == ["localhost"]


def tls_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    pem = directory / "peer.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


@pytest.mark.parametrize("ending", [b"", b"Connection: close\r\n"], ids=["keep-alive", "connection-close"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_cut_ends_the_answer_of_a_watched_connection(dog: Dog, tmp_path: Path, ending: bytes, tls: bool) -> None:
    """``Connection: close`` makes http.client drop the connection's ``sock`` once the
    headers are in; the body is still read from it, and the cut must still reach it."""
    release = threading.Event()
    context = tls_context(tmp_path) if tls else None

    def half_then_wait(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" + ending + b"\r\n12345")
        release.wait(10)
        conn.sendall(b"67890")

    with peer(half_then_wait, context) as (port, _):
        conn: Any = (_WatchedHTTPSConnection("127.0.0.1", port, timeout=10, cert_reqs="CERT_NONE")
                     if tls else _WatchedHTTPConnection("127.0.0.1", port, timeout=10))
        try:
            with guard(105.0, dog.clock) as watch:
                conn.request("GET", "/", preload_content=False)
                response = conn.getresponse()
                assert response.status == 200
                watch.cut()
                got = b""
                with contextlib.suppress(ProtocolError, OSError):
                    while chunk := response.read(1):
                        got += chunk
        finally:
            release.set()
            conn.close()
    assert got != b"1234567890"


def test_a_new_request_forgets_the_socket_of_the_answer_before(dog: Dog) -> None:
    with peer() as (port, _):
        conn = _WatchedHTTPConnection("127.0.0.1", port, timeout=10)
        stale = Sock()
        conn._answer_sock = stale  # type: ignore[assignment]  # a previous answer's, long closed
        with guard(105.0, dog.clock) as watch:
            conn.request("GET", "/")
            conn.close()
            watch.cut()
    assert stale.shutdowns == []


def test_the_sessions_pools_make_watched_connections() -> None:
    adapter = stateless_session().get_adapter("https://oic.example.com/")
    assert isinstance(adapter, HTTPAdapter)
    assert adapter.poolmanager.pool_classes_by_scheme == {"http": _WatchedPool, "https": _WatchedTlsPool}
    assert _WatchedPool.ConnectionCls is _WatchedHTTPConnection
    assert _WatchedTlsPool.ConnectionCls is _WatchedHTTPSConnection
    assert stateless_session().get_adapter("http://127.0.0.1/") is not stateless_session().get_adapter(
        "http://127.0.0.1/")  # a new adapter per session


@pytest.mark.parametrize("ending", [b"", b"Connection: close\r\n"], ids=["keep-alive", "connection-close"])
def test_a_cut_ends_a_guarded_session_requests_answer(dog: Dog, ending: bytes) -> None:
    release = threading.Event()

    def half_then_wait(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" + ending + b"\r\n12345")
        release.wait(10)
        conn.sendall(b"67890")

    with peer(half_then_wait) as (port, _):
        session = stateless_session()
        try:
            with guard(105.0, dog.clock) as watch:
                response = session.get(f"http://127.0.0.1:{port}/", stream=True, timeout=10)
                watch.cut()
                got = b""
                with contextlib.suppress(requests.RequestException):
                    for chunk in response.iter_content(1):
                        got += chunk
                response.close()
        finally:
            release.set()
            session.close()
    assert got != b"1234567890"


def test_the_session_neither_stores_nor_sends_cookies() -> None:
    def set_cookie(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nok")

    with peer(set_cookie) as (port, heads):
        session = stateless_session()
        for _ in range(2):
            assert session.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    assert len(session.cookies) == 0
    assert len(heads) == 2 and b"cookie" not in heads[1].lower()

    session.cookies.set("session", "abc", domain="127.0.0.1", path="/")  # put in by hand
    prepared = requests.Request("GET", f"http://127.0.0.1:{port}/").prepare()
    assert requests.cookies.get_cookie_header(session.cookies, prepared) is None


def test_the_session_follows_no_redirect_not_even_to_read_its_location() -> None:
    def redirect(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1x/\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")

    with peer(redirect) as (port, heads):
        response = stateless_session().get(f"http://127.0.0.1:{port}/", timeout=10, allow_redirects=False)
    assert response.status_code == 302 and response.next is None and len(heads) == 1


def test_the_session_takes_no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    with peer(lambda conn: conn.sendall(OK)) as (port, heads):
        response = stateless_session().get(f"http://127.0.0.1:{port}/", timeout=10)
    assert (response.status_code, response.content, len(heads)) == (200, b"ok", 1)
