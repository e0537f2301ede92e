"""A real redis-server on 127.0.0.1 with TLS and a test CA, for the tests and
``make fleet``: started, restarted on the same port, frozen (SIGSTOP) and
thawed on cue.

The CA and the server certificate (for ``localhost`` and 127.0.0.1) are made
here with ``cryptography``; nothing is persisted.
"""

from __future__ import annotations

import datetime
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

INSTALL_HINT = "apt-get install -y redis-server"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(f"redis-server is not installed: run  {INSTALL_HINT}  (as root), then retry")
    return found


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_test_ca(folder: Path, hostnames: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oic-gateway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                                                   hostnames[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """``redis-server`` listening with TLS only, a password, no persistence."""

    def __init__(self, maxclients: int = 1000) -> None:
        self.binary = redis_server_binary()
        self.folder = Path(tempfile.mkdtemp(prefix="redis-"))
        self.ca_file, self._cert, self._key = make_test_ca(self.folder)
        self.password = secrets.token_urlsafe(18)
        self.port = _free_port()
        self.maxclients = maxclients
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rediss://localhost:{self.port}"

    def env(self, key_b64: str) -> dict[str, str]:
        """The settings a function needs to use this server as its fleet cache."""
        return {"SHARED_CACHE_URL": self.url, "SHARED_CACHE_CA_FILE": str(self.ca_file),
                "SHARED_CACHE_PASSWORD": self.password, "SHARED_CACHE_KEY": key_b64}

    def start(self, timeout: float = 10.0) -> RedisServer:
        config = "\n".join([
            "port 0", f"tls-port {self.port}", "bind 127.0.0.1",
            f"tls-cert-file {self._cert}", f"tls-key-file {self._key}", f"tls-ca-cert-file {self.ca_file}",
            "tls-auth-clients no", f"requirepass {self.password}", 'save ""', "appendonly no",
            f"dir {self.folder}", "daemonize no", "loglevel warning", f"maxclients {self.maxclients}",
        ])
        conf = self.folder / "redis.conf"
        conf.write_text(config + "\n")
        conf.chmod(0o600)
        self.proc = subprocess.Popen([self.binary, str(conf)], stdout=subprocess.DEVNULL,  # noqa: S603 - our binary, our file
                                     stderr=open(self.folder / "redis.log", "ab"))
        deadline = time.monotonic() + timeout
        while not self._accepts_tls():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.folder / 'redis.log').read_text()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        return self

    def _accepts_tls(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost"):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """Stop it hard (SIGKILL), as a crashed server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
