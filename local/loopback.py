"""Serving on 127.0.0.1, the way every local peer does (the tests' JWKS and
echo servers, the Vault and Entra-like stubs, the identity provider and the
OIC stub): an ephemeral port, a daemon thread, a clean stop."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class _Server(Protocol):
    server_port: int

    def serve_forever(self, poll_interval: float = ...) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no access log, and one way to send a whole answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def send_body(self, status: int, body: bytes, content_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(value).encode(), "application/json", headers)


class Loopback:
    def __init__(self, server: _Server) -> None:
        self._server = server
        self._started = False
        self.base_url = f"http://127.0.0.1:{server.server_port}"

    def start(self, name: str) -> Loopback:
        # A short poll: stop() waits for serve_forever's next look (0.5 s by default, per server).
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                         daemon=True).start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:  # shutdown() waits for serve_forever, which must have run
            self._server.shutdown()
        self._server.server_close()


def http_server(handler: type[BaseHTTPRequestHandler]) -> Loopback:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    return Loopback(httpd)


def wsgi_server(app: Any) -> Loopback:
    from werkzeug.serving import make_server

    return Loopback(make_server("127.0.0.1", 0, app, threaded=True))
