from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.fnrun import ROOT, FnProcess
from local.seed import Seeded, seeded_stack
from tests.servers import JwksServer
from tests.tokens import SENSITIVE, Signer, authorizer_env, leaked

# Everything every function process wrote during the session.
FUNCTION_OUTPUT: list[str] = []


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both code-only archives (ops/archive.py), built once per session (about 20 s with dist/.wheels)."""
    from ops import archive

    return archive.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate("SIGNING_KEY")


@pytest.fixture(scope="session")
def attacker() -> Signer:
    """A key pair nobody trusts."""
    return Signer.generate("SIGNING_KEY")


@pytest.fixture(scope="session")
def jwks(signer: Signer) -> Iterator[JwksServer]:
    server = JwksServer([signer.jwk()]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def authorizer_fn(jwks: JwksServer) -> Iterator[FnProcess]:
    """The root function under the real fdk runtime, as the Fn agent runs it."""
    fn = FnProcess(ROOT, authorizer_env(jwks.url), FUNCTION_OUTPUT).start()
    yield fn
    fn.stop()


def start_fn(env: dict[str, str], func_dir: Path = ROOT) -> FnProcess:
    return FnProcess(func_dir, env, FUNCTION_OUTPUT).start()


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_function_output() -> Iterator[None]:
    """Secret hygiene over the whole session: no token, signature or secret
    used anywhere in the tests may appear in what any function wrote."""
    yield
    found = [hit for text in FUNCTION_OUTPUT for hit in leaked(text)]
    assert not found, f"function output leaked {len(found)} sensitive values: {found[:5]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Seeded]:
    """The seeded local identity provider (Authlib) and OIC stub."""
    seeded = seeded_stack()
    yield seeded
    seeded.stop()
    SENSITIVE.update(seeded.idp.issued)
    SENSITIVE.update({seeded.vendor_secret, seeded.oic_client_secret, seeded.authorizer_secret})
    SENSITIVE.update(line for line in seeded.oic_assertion_key_pem.splitlines() if "-----" not in line)


@pytest.fixture
def healthy(stack: Seeded) -> Iterator[None]:
    """The local identity provider and OIC stub without faults, before and after a test."""
    stack.idp.faults.clear()
    stack.oic.fault = None
    yield
    stack.idp.faults.clear()
    stack.oic.fault = None
