"""Name resolution inside the call's deadline.

``socket.getaddrinfo`` takes no timeout: a slow resolver holds the calling
thread for as long as the system resolver retries (seconds), before any
socket exists for a timeout or a watchdog to act on. So the lookup runs in a
daemon thread and the caller waits at most until its deadline; a lookup
still running then is abandoned (it ends on its own; Python cannot kill a
thread). Literal addresses skip the thread: nothing to look up.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from oic_gateway.errors import InternalError

# The seam tests replace with a slow resolver; every lookup in ``net`` goes through it.
getaddrinfo: Callable[..., list[Any]] = socket.getaddrinfo


class ResolveTimeout(InternalError):
    """The name was not resolved before the deadline. The callers of ``resolve``
    and ``connect`` turn it into their own timeout (urllib3's, ``FetchError``)."""

    reason = "resolve_timeout"


def resolve(host: str, port: int, at: float, monotonic: Callable[[], float] = time.monotonic) -> list[Any]:
    """``getaddrinfo(host, port, 0, SOCK_STREAM)`` that returns or raises by ``at``
    (on ``monotonic``): ``ResolveTimeout`` if the lookup is still running then,
    ``socket.gaierror`` if it failed."""
    lookup = getaddrinfo
    if _is_literal(host):
        return lookup(host, port, 0, socket.SOCK_STREAM)
    remaining = at - monotonic()
    if remaining <= 0:
        raise ResolveTimeout(f"no time left to resolve {host}")
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(lookup(host, port, 0, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller, who may still be waiting
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="resolve", daemon=True).start()
    if not done.wait(remaining):
        raise ResolveTimeout(f"resolving {host} took longer than the deadline")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return list(result)


def connect(host: str, port: int, at: float, monotonic: Callable[[], float] = time.monotonic,
            socket_class: type[socket.socket] = socket.socket) -> socket.socket:
    """A TCP connection to ``host``, resolved and connected by ``at``: each
    address in turn, each attempt given only the time that is left."""
    last: OSError | None = None
    for family, kind, proto, _, address in resolve(host, port, at, monotonic):
        remaining = at - monotonic()
        if remaining <= 0:
            raise TimeoutError(f"connecting to {host} took longer than the deadline")
        sock = socket_class(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last if last is not None else OSError(f"{host}: no address to connect to")


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
