"""A small, strict HTTP client for the identity provider's endpoints.

The standard library's ``http.client`` rather than ``requests``: it never
follows redirects, imports in a few milliseconds (cold starts matter here) and
lets us bound the whole exchange by one deadline, not per socket read, so a
trickling server cannot hold a call for longer than ``timeout``.

How: a socket's timeout bounds one call on it (CPython applies it across the
whole of one ``recv``, ``sendall`` or TLS handshake), and ``http.client``
reads the status line and headers through many such calls. So every socket
here is a ``_DeadlineSocket`` (or its TLS twin): before each call it sets the
timeout to the time left and refuses once none is left. With the name
resolved by ``resolve`` (bounded too) and the connection opened in the time
left, connect, TLS, headers and body all share the one deadline.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oic_gateway.errors import FetchError
from oic_gateway.net import resolve

_SSL_CONTEXT: ssl.SSLContext | None = None
_CHUNK = 16 * 1024


class _Bounded:
    """Each socket call waits at most until ``deadline`` (monotonic); none starts after it."""

    deadline = float("inf")  # set once the socket exists; the TLS handshake runs on the raw socket's timeout

    def _time_left(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline reached")
        if remaining != float("inf"):
            self.settimeout(remaining)  # type: ignore[attr-defined]

    def recv(self, *args: Any) -> Any:
        self._time_left()
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> Any:
        self._time_left()
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> Any:
        self._time_left()
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> Any:
        self._time_left()
        return super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_Bounded, socket.socket):
    pass


class _DeadlineSSLSocket(_Bounded, ssl.SSLSocket):
    pass


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        _SSL_CONTEXT = context
    return _SSL_CONTEXT


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float,
    max_bytes: int,
    until: float | None = None,
) -> HttpResponse:
    """One request, bounded by ``timeout`` seconds in all, by ``until``
    (the call's deadline, monotonic) when given, whichever ends first, and by
    ``max_bytes`` of body. Raises ``FetchError`` naming the URL and the failure."""
    started = time.monotonic()
    if until is not None and until < started + timeout:
        timeout = max(until - started, 0.0)  # the call's deadline comes first
    deadline = started + timeout
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=_ssl_context())
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    else:
        raise FetchError(f"{url}: unsupported scheme")

    def open_socket(address: tuple[str, int], *_: Any, **__: Any) -> socket.socket:
        sock = resolve.connect(address[0], address[1], deadline, socket_class=_DeadlineSocket)
        sock.deadline = deadline  # type: ignore[attr-defined]
        return sock

    # http.client's connect (TLS included) opens its socket through this hook.
    conn._create_connection = open_socket  # type: ignore[attr-defined]
    try:
        conn.connect()
        # Keep the socket: http.client hands it to the response (and clears
        # conn.sock) when the server will close the connection.
        sock = conn.sock
        sock.deadline = deadline  # type: ignore[union-attr]  # the TLS socket, when wrapped: a new object
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"{url}: body larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(f"{url}: timed out after {timeout:g} s")
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: body larger than {max_bytes} bytes")
            chunks.append(chunk)
        return HttpResponse(
            status=response.status,
            content_type=(response.getheader("Content-Type") or "").split(";")[0].strip().lower(),
            body=b"".join(chunks),
        )
    except FetchError:
        raise
    except (resolve.ResolveTimeout, TimeoutError):
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{url}: {in_words(exc)}") from None
    finally:
        conn.close()


def in_words(exc: BaseException) -> str:
    """A network failure as an operator reads it (the exception's name in
    brackets, for searching); never the peer's text. Wrapped failures
    (requests and urllib3 wrap the socket's) are described by their cause."""
    name = type(exc).__name__
    exc = _root_cause(exc)
    if isinstance(exc, socket.gaierror):
        what = "host name not found (DNS lookup failed)"
    elif isinstance(exc, ConnectionRefusedError):
        what = "connection refused (nothing listens at that host and port)"
    elif isinstance(exc, ConnectionResetError):
        what = "connection reset by the server"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        what = "TLS certificate not trusted or not for this host"
    elif isinstance(exc, ssl.SSLError):
        what = "TLS handshake failed"
    elif isinstance(exc, http.client.RemoteDisconnected):
        what = "the server closed the connection without answering"
    elif isinstance(exc, http.client.IncompleteRead):
        what = "the answer was cut short"
    elif isinstance(exc, http.client.HTTPException):
        what = "the answer is not valid HTTP"
    elif isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        what = "no route to the host (network, security list or gateway)"
    elif isinstance(exc, OSError) and exc.strerror:
        what = f"network error: {exc.strerror.lower()}"
    else:
        what = "network error"
    return f"{what} [{name}]"


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or getattr(exc, "reason", None) or (exc.args[0] if exc.args else None)
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc
