"""The code-only archives (``make archive``, ops/archive.py), run as the managed runtime would.

Each archive is built once per session (about 20 s with the wheels in
``dist/.wheels``; the first build fetches them, hash-checked, from PyPI), then
unpacked into a folder of its own, and the function answers real calls under
fdk from that tree alone: the bare interpreter with ``-S`` (no site-packages),
``PYTHONPATH=function:python``, ``PYTHONDONTWRITEBYTECODE=1``, and a tree the
run may not change (the tests run as root here, so file modes cannot stop a
write: the tree's listing and bytes are compared before and after instead).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.fnrun import FnProcess
from local.seed import Seeded
from local.vault import VaultStub
from ops import archive
from tests.conftest import FUNCTION_OUTPUT
from tests.function.test_backend_fn import bearer, gateway_call
from tests.function.test_vault import SECRET_OCID, resource_principal, rp_env, vault  # noqa: F401 - fixtures
from tests.servers import JwksServer
from tests.tokens import SENSITIVE, Signer, authorizer_env, single

# The runtime's Python: the archives' bytecode and wheels are for it alone.
PYTHON: str = getattr(sys, "_base_executable", None) or sys.executable
GOALS = {"zipped": 25_000_000, "files": 5_000}  # direct upload limit (Oracle); issue 19's file goal


def unpack(zipped: Path, into: Path) -> Path:
    with zipfile.ZipFile(zipped) as opened:
        opened.extractall(into)
    for path in sorted(into.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    into.chmod(0o555)
    return into


def snapshot(tree: Path) -> dict[str, str]:
    return {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in tree.rglob("*")}


@pytest.fixture(scope="session")
def trees(archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    unpacked = {name: unpack(path, tmp_path_factory.mktemp(name)) for name, path in archives.items()}
    before = {name: snapshot(tree) for name, tree in unpacked.items()}
    yield unpacked
    for name, tree in unpacked.items():
        assert snapshot(tree) == before[name], f"running {name} changed its tree"
        for path in [tree, *tree.rglob("*")]:
            path.chmod(stat.S_IRWXU)  # so pytest can clean up


def archive_fn(tree: Path, env: dict[str, str]) -> FnProcess:
    """fdk's console script, minus the script: the managed runtime starts the handler itself."""
    return FnProcess(tree / "function", env, FUNCTION_OUTPUT, command=archive.runtime_command(),
                     pythonpath=f"{tree / 'function'}:{tree / 'python'}").start()


# -- the archives themselves ----------------------------------------------------------


def test_same_inputs_give_the_same_bytes(archives: dict[str, Path], tmp_path: Path) -> None:
    again = archive.build(tmp_path)
    for name, path in archives.items():
        assert hashlib.sha256(again[name].read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest(), name


@pytest.mark.parametrize("name", [f.name for f in archive.FUNCTIONS])
def test_the_documented_layout_within_the_goals(name: str, archives: dict[str, Path]) -> None:
    with zipfile.ZipFile(archives[name]) as opened:
        infos = opened.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {n.split("/")[0] for n in names} == {"function", "python"}  # no native/: single architecture
    assert "function/func.py" in names and archive.HANDLER == "func.handler"
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)} or "SOURCE_DATE_EPOCH" in os.environ
    assert {info.external_attr >> 16 for info in infos} == {0o100644, 0o40755}
    assert not [n for n in names if n.startswith(("python/bin/", "function/tests/"))]
    zipped, files, _ = archive.footprint(archives[name])
    assert zipped <= GOALS["zipped"] and files <= GOALS["files"], (zipped, files)
    shipped = {n.split("/")[1].split("-")[0].lower() for n in names if n.endswith(".dist-info/METADATA")}
    assert not shipped & {"pytest", "pytest_asyncio", "cython", "pbr", "wheel", "setuptools", "aiohttp"}
    services = {n.split("/")[2] for n in names if n.startswith("python/oci/") and n.count("/") > 3}
    assert services <= {"auth", "_vendor", "circuit_breaker", "pagination", "retry", "__pycache__",
                        *archive.OCI_SERVICES_KEPT}, services


@pytest.mark.parametrize("name", [f.name for f in archive.FUNCTIONS])
def test_every_module_has_bytecode_valid_without_mtimes(name: str, trees: dict[str, Path]) -> None:
    tree = trees[name]
    tag = sys.implementation.cache_tag
    for source in tree.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), pyc
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, (pyc, flags)  # hash-based, unchecked (PEP 552)


# A private key is the armour with a body; a JWT, three base64url parts starting with a JSON object.
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*[A-Za-z0-9+/=]{40,}")
_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# Public on purpose: PyJWT's README (its METADATA) shows an example token.
_PUBLIC_EXAMPLES = re.compile(r"python/pyjwt-[^/]+\.dist-info/METADATA")


@pytest.mark.parametrize("name", [f.name for f in archive.FUNCTIONS])
def test_no_file_in_an_archive_is_a_secret_a_token_or_a_private_key(name: str, archives: dict[str, Path]) -> None:
    found = []
    with zipfile.ZipFile(archives[name]) as opened:
        for info in opened.infolist():
            base = info.filename.rsplit("/", 1)[-1].lower()
            data = opened.read(info)
            key_file = base.endswith((".key", ".p12", ".pfx", ".env", ".tfvars", ".tfstate", ".jks"))
            secret = _PRIVATE_KEY.search(data) or any(s.encode() in data for s in SENSITIVE if len(s) > 12)
            token = _JWT.search(data) and not _PUBLIC_EXAMPLES.fullmatch(info.filename)
            if key_file or secret or token:
                found.append(info.filename)
    assert not found, found
    # The scan sees what it looks for.
    assert _PRIVATE_KEY.search(Signer.generate("probe").private_pem().encode())
    assert _JWT.search(Signer.generate("probe").mint().encode())


# -- every import the functions make at run time resolves in the tree --------------------


def runtime_imports(function_dir: Path) -> list[str]:
    """Every absolute import in the shipped code, the lazy ones (oci, redis, jwt) included."""
    names: set[str] = set()
    for source in function_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
                names.add(node.module or "")
    return sorted(names)


# What secret_sources.py reaches through ``oci``'s attributes (the SDK imports them lazily).
_OCI_USE = ("import oci\n"
            "oci.auth.signers.get_resource_principals_signer, oci.retry.NoneRetryStrategy\n"
            "oci.secrets.SecretsClient\n")


def missing_imports(tree: Path) -> list[str]:
    probe = ("import importlib, json, sys\nmissing = []\n"
             "for name in json.loads(sys.argv[1]):\n"
             "    try: importlib.import_module(name)\n"
             "    except ImportError as error: missing.append(f'{name}: {error}')\n"
             f"try:\n    exec({_OCI_USE!r})\nexcept (ImportError, AttributeError) as error:\n"
             "    missing.append(f'oci: {error}')\n"
             "print(json.dumps(missing))")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": f"{tree / 'function'}:{tree / 'python'}"}
    out = subprocess.run([PYTHON, "-S", "-c", probe, json.dumps(runtime_imports(tree / "function"))],
                         cwd=tree / "function", env=env, capture_output=True, text=True, timeout=120, check=True)
    missing: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return missing


@pytest.mark.parametrize("name", [f.name for f in archive.FUNCTIONS])
def test_every_runtime_import_is_in_the_tree(name: str, trees: dict[str, Path]) -> None:
    assert {"oci", "redis", "jwt", "fdk"} <= set(runtime_imports(trees[name] / "function"))
    assert missing_imports(trees[name]) == []


def test_a_runtime_import_missing_from_the_tree_fails(archives: dict[str, Path], tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    with zipfile.ZipFile(archives["oic-token-exchange"]) as opened:
        opened.extractall(tree)
    for cut in ("python/oci/secrets", "python/redis"):
        for path in sorted((tree / cut).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (tree / cut).rmdir()
    missing = missing_imports(tree)
    assert any(line.startswith("redis") for line in missing), missing
    assert any(line.startswith("oci:") and "secrets" in line for line in missing), missing


# -- every kind of call answers as from the repository -----------------------------------


def test_the_authorizer_allows_denies_and_cannot_decide(trees: dict[str, Path], jwks: JwksServer,
                                                        signer: Signer, attacker: Signer) -> None:
    fn = archive_fn(trees["oic-authorizer"], authorizer_env(jwks.url))
    try:
        allowed = fn.call(single(signer.mint())).json()
        assert allowed["active"] is True and allowed["principal"]
        denied = fn.call(single(attacker.mint())).json()
        assert denied["active"] is False and 'error="invalid_token"' in denied["wwwAuthenticate"]
    finally:
        fn.stop()
    down = JwksServer([signer.jwk()]).start()
    down.mode = "status:500"
    fn = archive_fn(trees["oic-authorizer"], authorizer_env(down.url))
    try:
        assert fn.call(single(signer.mint())).status == 502  # no usable key: cannot decide
    finally:
        fn.stop()
        down.stop()


def test_the_backend_calls_through_to_oic(trees: dict[str, Path], stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url, "FDK_DEBUG": "1"}
    fn = archive_fn(trees["oic-token-exchange"], env)
    try:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/hello", bearer(stack.vendor_token()))
        assert reply["status"] == 200, reply
        assert json.loads(reply["body"])["message"] == "Hello from HELLO_WORLD"
        assert "FDK_DEBUG ignored" in fn.output()  # the archive's sitecustomize ran first
    finally:
        fn.stop()


def test_a_vault_secret_is_read_through_the_trimmed_oci_sdk(
    trees: dict[str, Path], stack: Seeded, vault: VaultStub,  # noqa: F811 - fixture
    resource_principal: tuple[Signer, str],  # noqa: F811 - fixture
) -> None:
    vault.secrets[SECRET_OCID] = stack.oic_client_secret
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_CLIENT_SECRET="", OIC_CLIENT_SECRET_OCID=SECRET_OCID),
           **rp_env(resource_principal, vault), "OIC_BASE_URL": stack.oic.url}
    fn = archive_fn(trees["oic-token-exchange"], env)
    try:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
        assert reply["status"] == 200, reply
        assert vault.reads[SECRET_OCID] == 1 and vault.rejected == 0
    finally:
        fn.stop()
