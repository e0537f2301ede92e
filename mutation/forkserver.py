"""A fork server for the mutants' test runs: pytest and the libraries are
imported once, and each run is a fork of that warm process.

Starting Python and importing pytest costs more than running a module's fast
tests; over a few thousand mutants that is most of the time. The server never
imports the project's own code (``token_exchange``, ``tests``, ...), so each
forked run imports the mutated source fresh from the worker's tree, exactly as
a new process would.

    python mutation/forkserver.py serve SOCKET     (started by ``python -m mutation``)
    python -S mutation/forkserver.py run SOCKET TIMEOUT PYTEST-ARGS...   (cosmic-ray's test command)

``run`` exits with pytest's exit code; a run that outlives TIMEOUT is killed by
SIGALRM in the child (cosmic-ray also times out the client and counts it).

Generating RSA keys is the other large cost of a fast test run (the tests make
a few per run, 50 to 150 ms each). The server loads a pool of keys made once
(``.mutation/rsa-pool.pem``) and, in each forked run,
``rsa.generate_private_key`` hands them out in turn: every run still gets
distinct keys of the size it asked for, made by the same library.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path


def _send(conn: socket.socket, value: object) -> None:
    data = json.dumps(value).encode()
    conn.sendall(struct.pack("!I", len(data)) + data)


def _receive(conn: socket.socket) -> object:
    header = _exactly(conn, 4)
    return json.loads(_exactly(conn, struct.unpack("!I", header)[0]))


def _exactly(conn: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("peer closed")
        chunks += chunk
    return chunks


def _use_key_pool(pool: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = Path(pool).read_text()
    blocks = [b + "-----END PRIVATE KEY-----\n" for b in text.split("-----END PRIVATE KEY-----\n") if b.strip()]
    keys: dict[int, list[rsa.RSAPrivateKey]] = {}
    for block in blocks:
        key = load_pem_private_key(block.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        keys.setdefault(key.key_size, []).append(key)
    generate = rsa.generate_private_key

    def from_pool(public_exponent: int, key_size: int, backend: object = None) -> rsa.RSAPrivateKey:
        spare = keys.get(key_size) if public_exponent == 65537 else None
        return spare.pop(0) if spare else generate(public_exponent, key_size)

    rsa.generate_private_key = from_pool


def make_key_pool(pool: str, sizes: dict[int, int]) -> None:
    """Write ``sizes`` (key size: how many) RSA keys to ``pool``, PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    with open(pool + ".tmp", "w") as out:
        for size, count in sizes.items():
            for _ in range(count):
                key = rsa.generate_private_key(public_exponent=65537, key_size=size)
                out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode())
    os.replace(pool + ".tmp", pool)


def serve(path: str, pool: str | None = None) -> None:
    # Warm: what the fast tests and the code under test import from outside the project.
    import http.server  # noqa: F401

    import cryptography.hazmat.primitives.asymmetric.ec
    import cryptography.hazmat.primitives.asymmetric.padding
    import cryptography.hazmat.primitives.asymmetric.rsa
    import cryptography.hazmat.primitives.serialization  # noqa: F401
    import jwt  # noqa: F401
    import pytest
    import requests  # noqa: F401

    if pool and os.path.exists(pool):
        _use_key_pool(pool)
    # Everything imported so far is permanent: without this, each child's
    # garbage collections (pytest runs several) would walk it all again.
    gc.freeze()
    cwd = os.getcwd()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    server.bind(path)
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                request = _receive(conn)
            except (ConnectionError, ValueError):
                continue
            assert isinstance(request, dict)
            if request.get("stop"):
                return
            with tempfile.TemporaryFile() as output:
                pid = os.fork()
                if pid == 0:  # the child: one pytest run against the worker's tree as it is now
                    code = 3
                    try:
                        signal.alarm(max(1, int(request["timeout"])))
                        os.dup2(output.fileno(), 1)
                        os.dup2(output.fileno(), 2)
                        os.chdir(cwd)
                        sys.path.insert(0, cwd)
                        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
                        code = int(pytest.main(list(request["args"])))
                        sys.stdout.flush()
                        sys.stderr.flush()
                    finally:
                        os._exit(code)
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                output.seek(0)
                text = output.read()[-4000:].decode(errors="replace")
            with contextlib.suppress(OSError):  # the client may have been timed out and killed meanwhile
                _send(conn, {"code": code, "output": text})


def run(path: str, timeout: float, args: list[str]) -> int:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    with conn:
        _send(conn, {"timeout": timeout, "args": args})
        answer = _receive(conn)
    assert isinstance(answer, dict)
    sys.stdout.write(answer["output"])
    code = int(answer["code"])
    if code == -signal.SIGALRM:
        sys.stdout.write("\n[mutation: the test run timed out]\n")
    return code if code >= 0 else 128 - code  # killed by a signal (e.g. the alarm): a failure


def stop(path: str) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    with conn:
        _send(conn, {"stop": True})


if __name__ == "__main__":
    command, where = sys.argv[1], sys.argv[2]
    if command == "serve":
        serve(where, sys.argv[3] if len(sys.argv) > 3 else None)
    elif command == "run":
        sys.exit(run(where, float(sys.argv[3]), sys.argv[4:]))
    elif command == "stop":
        stop(where)
