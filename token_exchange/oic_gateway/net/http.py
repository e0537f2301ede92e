"""A small, strict HTTP client for the identity provider's endpoints.

The standard library's ``http.client`` rather than ``requests``: it never
follows redirects, imports in a few milliseconds (cold starts matter here) and
lets us bound the whole exchange by one deadline, not per socket read, so a
trickling server cannot hold a call for longer than ``timeout``.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from oic_gateway.errors import FetchError

_SSL_CONTEXT: ssl.SSLContext | None = None
_CHUNK = 16 * 1024


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
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
) -> HttpResponse:
    """One request, bounded by ``timeout`` seconds in all and ``max_bytes`` of
    body. Raises ``FetchError`` naming the URL and the failure."""
    deadline = time.monotonic() + timeout
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
    try:
        conn.request(method, path, body=body, headers=headers or {})
        # Keep the socket: http.client hands it to the response (and clears
        # conn.sock) when the server will close the connection.
        sock = conn.sock
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
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
            sock.settimeout(remaining)
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
    except TimeoutError:
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
