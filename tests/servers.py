"""Real HTTP servers on 127.0.0.1 for the tests, with faults on cue."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from local.loopback import QuietHandler, http_server


def send_half(handler: QuietHandler, status: int, body: bytes) -> None:
    """Promise the whole ``body`` (Content-Length) and send only its first half."""
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def record_request(handler: QuietHandler) -> dict[str, Any]:
    """What a scripted peer received: method, path, body and lower-cased headers."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    return {"method": handler.command, "path": handler.path, "body": body,
            "headers": {k.lower(): v for k, v in handler.headers.items()}}


class JwksServer:
    """Serves a JWKS document at /jwk, or misbehaves as ``mode`` says.

    Modes: ok, status:<code>, html, truncated, oversized, redirect, hang,
    close, trickle.
    """

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.document: dict[str, Any] = {"keys": keys}
        self.mode = "ok"
        self.requests = 0
        self.hang_seconds = 5.0
        self._stop = threading.Event()
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                outer.last_headers = dict(self.headers)
                mode = outer.mode
                if mode == "ok":
                    self.send_json(200, outer.document)
                elif mode.startswith("status:"):
                    self.send_json(int(mode.split(":")[1]), {"error": "x"})
                elif mode == "html":
                    self.send_body(200, b"<html><body>Maintenance</body></html>", "text/html")
                elif mode == "truncated":
                    body = json.dumps(outer.document).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()
                elif mode == "oversized":
                    self.send_body(200, b'{"keys":[' + b" " * (2 * 1024 * 1024) + b"]}")
                elif mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/jwk")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif mode == "hang":
                    outer._stop.wait(outer.hang_seconds)
                    self.connection.close()
                elif mode == "close":
                    self.connection.close()
                elif mode == "trickle":
                    body = json.dumps(outer.document).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(len(body)):
                        if outer._stop.is_set():
                            break
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(0.05)

        self.last_headers: dict[str, str] = {}
        self._server = http_server(Handler)
        self.url = f"{self._server.base_url}/jwk"

    def start(self) -> JwksServer:
        self._server.start("jwks-server")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.stop()


class EchoServer:
    """An HTTP backend that answers with what it received, or hangs on cue."""

    def __init__(self) -> None:
        self.hang_seconds = 0.0
        self.received: list[dict[str, Any]] = []
        self.reply_headers: dict[str, str] = {}  # added to every answer
        outer = self

        class Handler(QuietHandler):
            def _echo(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                        "body": body.decode(errors="replace")}
                outer.received.append(seen)
                if outer.hang_seconds:
                    time.sleep(outer.hang_seconds)
                self.send_json(200, seen, {"X-Echo": "yes", **outer.reply_headers})

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _echo  # noqa: N815

        self._server = http_server(Handler).start("echo-server")
        self.url = self._server.base_url

    def stop(self) -> None:
        self._server.stop()


class Peer:
    """A misbehaving HTTP peer (an OIC host or a token endpoint) for the
    backend's tests. Each request takes the next entry of ``script`` (then
    ``default``) and records what arrived:

    ok (200 JSON), token (a token-endpoint success), trickle_headers,
    trickle_body (one byte every ``trickle_seconds``), redirect (302 with
    Location at this very host, Server and X-Oracle-Dms-Ecid), location:<value> (302 with that
    Location, ``{url}``, ``{host}`` (with the port) and ``{port}`` filled in),
    invalid_token (401 with ``WWW-Authenticate: Bearer error="invalid_token"``),
    integration_401 (401 from the integration itself), set_cookie, status:<code>.
    """

    def __init__(self) -> None:
        self.script: list[str] = []
        self.default = "ok"
        self.trickle_seconds = 0.2
        self.received: list[dict[str, Any]] = []
        self._stop = threading.Event()
        outer = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                outer.received.append(record_request(self))
                mode = outer.script.pop(0) if outer.script else outer.default
                with contextlib.suppress(OSError):  # the client gave up (as it should with a trickling peer)
                    outer._answer(self, mode)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

            def do_TRACE(self) -> None:
                """As a web tier with TRACE enabled does: the request echoed back, headers included."""
                outer.received.append({"method": "TRACE", "path": self.path, "body": b"",
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_body(200, str(self.headers).encode(), "message/http")

            do_PROPFIND = do_CONNECT = _serve  # noqa: N815

        self._server = http_server(Handler).start("peer")
        self.url = self._server.base_url

    def _trickle(self, handler: QuietHandler, data: bytes) -> None:
        for i in range(len(data)):
            if self._stop.wait(self.trickle_seconds):
                return
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()

    def _answer(self, handler: QuietHandler, mode: str) -> None:
        ok = json.dumps({"message": "hello", "n": len(self.received)}).encode()
        if mode == "ok":
            handler.send_body(200, ok, headers={"X-Oic-Trace": "peer", "Server": "Oracle-HTTP-Server",
                                                "X-Oracle-Dms-Ecid": "ecid-1", "Connection": "keep-alive"})
        elif mode == "token":
            handler.send_json(200, {"access_token": "peer." + "a" * 20 + ".sig", "token_type": "Bearer",
                                    "expires_in": 3600})
        elif mode == "trickle_headers":
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(ok)}\r\n\r\n"
            self._trickle(handler, head.encode() + ok)
            handler.close_connection = True
        elif mode == "trickle_body":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(ok) + 200))
            handler.end_headers()
            handler.wfile.flush()
            self._trickle(handler, ok + b" " * 200)
            handler.close_connection = True
        elif mode == "redirect":
            handler.send_body(302, b"", headers={"Location": f"{self.url}/ic/home", "Server": "Oracle-HTTP-Server",
                                                 "X-Oracle-Dms-Ecid": "ecid-2"})
        elif mode.startswith("location:"):  # 302 to the given Location; {url}, {host} and {port} are this peer's
            host = self.url.split("//", 1)[1]
            location = mode[len("location:"):].format(url=self.url, host=host, port=host.rsplit(":", 1)[1])
            handler.send_body(302, b"", headers={"Location": location})
        elif mode == "invalid_token":
            handler.send_body(401, b"", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        elif mode == "integration_401":
            handler.send_json(401, {"title": "the integration refused"})
        elif mode == "set_cookie":
            handler.send_body(200, ok, headers={"Set-Cookie": "OICSESSION=s3cr3t-session; Path=/; HttpOnly"})
        elif mode.startswith("status:"):
            handler.send_json(int(mode.split(":")[1]), {"error": "temporarily_unavailable",
                                                        "error_description": "idp internal detail"})
        else:
            raise ValueError(mode)

    def stop(self) -> None:
        self._stop.set()
        self._server.stop()


class SlowTlsPeer:
    """A TCP peer that never finishes a TLS handshake: after the client's hello it
    sends the start of a handshake record, then one byte every ``trickle_seconds``
    (each read is quick, the handshake never ends)."""

    def __init__(self, trickle_seconds: float = 0.2) -> None:
        import socket

        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._trickle = trickle_seconds
        threading.Thread(target=self._accept, name="slow-tls", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(4096)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")  # a 16 KB handshake record follows... slowly
            while not self._stop.wait(self._trickle):
                conn.sendall(b"\x02")

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
