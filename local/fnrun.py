"""Run a function under the real fdk runtime, as the Fn agent does.

``fdk <func.py> handler`` with ``FN_FORMAT=http-stream`` and
``FN_LISTENER=unix:<dir>/lsnr.sock``; ready when the ``lsnr.sock`` symlink
appears; then ``POST http://localhost/call`` over the socket.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository
FDK = Path(sys.executable).parent / "fdk"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass
class FnResult:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class FnProcess:
    """One function container: a process, its socket and its captured output."""

    def __init__(self, func_dir: Path, env: dict[str, str], log_sink: list[str] | None = None,
                 command: list[str] | None = None, pythonpath: str | None = None) -> None:
        """``command``/``pythonpath``: how to start fdk and what it may import;
        by default this virtualenv's fdk with the function folder first (the
        image's ``/python/bin/fdk`` with ``PYTHONPATH=/function:/python`` is
        reproduced in tests/function/test_images.py)."""
        self.func_dir = func_dir
        self.env = env
        self.command = command or [str(FDK)]
        self.pythonpath = pythonpath or str(func_dir)
        self.log_sink = log_sink
        # Short folder: unix socket paths are limited to about 100 bytes.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="fn", dir="/tmp"))
        self.socket_path = self.sock_dir / "lsnr.sock"
        self.stderr_path = self.sock_dir / "stderr.log"
        self.stdout_path = self.sock_dir / "stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._captured: str | None = None
        self._conn: UnixHTTPConnection | None = None

    def start(self, timeout: float = 20.0) -> FnProcess:
        return self.launch().wait_ready(timeout)

    def launch(self) -> FnProcess:
        """Start the process without waiting for it (see ``start_all``)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FN_FORMAT": "http-stream",
            "FN_LISTENER": f"unix:{self.socket_path}",
            "PYTHONPATH": self.pythonpath,
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.env,
        }
        self.proc = subprocess.Popen(
            [*self.command, str(self.func_dir / "func.py"), "handler"],
            cwd=str(self.func_dir),
            env=env,
            stdout=open(self.stdout_path, "wb"),
            stderr=open(self.stderr_path, "wb"),
        )
        return self

    def wait_ready(self, timeout: float = 20.0) -> FnProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.socket_path.is_symlink():
            if self.proc.poll() is not None:
                raise RuntimeError(f"fdk exited with {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError("fdk did not become ready")
            time.sleep(0.01)
        return self

    @staticmethod
    def start_all(processes: list[FnProcess], timeout: float = 60.0) -> list[FnProcess]:
        """Start several containers at once (their imports overlap)."""
        try:
            for process in processes:
                process.launch()
            for process in processes:
                process.wait_ready(timeout)
        except BaseException:
            for process in processes:
                process.stop()
            raise
        return processes

    def call(
        self,
        body: bytes | str | dict[str, Any],
        headers: dict[str, str] | None = None,
        timeout: float = 15.0,
        fresh_connection: bool = False,
    ) -> FnResult:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        all_headers = {
            "Fn-Call-Id": uuid.uuid4().hex,
            "Fn-Deadline": "2099-01-01T00:00:00Z",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        if fresh_connection or self._conn is None:
            if self._conn is not None:
                self._conn.close()
            self._conn = UnixHTTPConnection(str(self.socket_path), timeout=timeout)
        self._conn.timeout = timeout
        started = time.perf_counter()
        try:
            self._conn.request("POST", "/call", body=body, headers=all_headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise
        seconds = time.perf_counter() - started
        return FnResult(response.status, {k.lower(): v for k, v in response.getheaders()}, data, seconds)

    def output(self) -> str:
        if self._captured is not None:
            return self._captured
        # The functions write their log line just after the answer is sent:
        # give that write a moment to land before reading.
        time.sleep(0.02)
        text = ""
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._captured = self.output()
        if self.log_sink is not None:
            self.log_sink.append(self._captured)
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def __enter__(self) -> FnProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
