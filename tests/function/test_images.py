"""Each function's image, as the fn CLI builds it, is complete and clean.

The fn CLI's Dockerfile runs ``pip install --target /python/ -r
requirements.txt`` and starts ``/python/bin/fdk /function/func.py handler``
with ``PYTHONPATH=/function:/python`` (the fn CLI's Python build image; docs/architecture.md).
Here: the same pip command into an empty folder, in hash-checking mode (the
lock has a hash on every line, which turns it on), then the function answers
a real call under fdk started by the bare interpreter with ``-S`` (no
site-packages: nothing of this virtualenv, so no dev dependency, can leak in)
and only ``<function folder>:<target>`` on its path, in that order.

The interpreter is the one this virtualenv was made from, or ``IMAGE_PYTHON``
(e.g. ``IMAGE_PYTHON=python3.12`` for the 3.12 images): its own pip installs,
its own fdk runs. Network: the wheels come from ``.venv/wheelhouse-<version>``
(``pip download`` from PyPI fills it the first time, hash-checked, about 2
minutes); later runs install offline from it. Both functions' locks pin the
same closure (the root image carries ``token_exchange/``), so one install
serves both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local.fnrun import ROOT, FnProcess
from local.seed import Seeded
from tests.conftest import FUNCTION_OUTPUT
from tests.servers import JwksServer
from tests.tokens import Signer, authorizer_env, multi
from tests.unit.test_deploy import dockerignore_excludes

FUNCTIONS = {"oic-authorizer": ROOT, "oic-token-exchange": ROOT / "token_exchange"}
IMAGE_PYTHON: str = os.environ.get("IMAGE_PYTHON") or getattr(sys, "_base_executable", None) or sys.executable
IMAGE_VERSION = subprocess.run([IMAGE_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, check=True, timeout=30).stdout.strip()
WHEELHOUSE = ROOT / ".venv" / f"wheelhouse-{IMAGE_VERSION}"
DEV_ONLY = {"authlib", "flask", "hypothesis", "mypy", "ruff", "python-hcl2", "pytest-timeout", "types-requests", "uv"}
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text().splitlines():
        match = _REQUIREMENT.match(line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def entries(lock: Path) -> list[str]:
    """Each requirement with its options, as pip reads it (continuations joined)."""
    text = re.sub(r"\\\n", " ", lock.read_text())
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IMAGE_PYTHON, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=600)


# -- the locks themselves (no install) ------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_pin_carries_a_hash_so_pip_checks_them_all(name: str) -> None:
    lock = FUNCTIONS[name] / "requirements.txt"
    lines = entries(lock)
    assert len(lines) >= 10  # the whole closure, not the five direct dependencies
    for line in lines:
        assert _REQUIREMENT.match(line) and "--hash=sha256:" in line, line
    assert "make lock" in lock.read_text()  # generated, not hand-edited
    direct = pins(FUNCTIONS["oic-token-exchange"] / "requirements.in")
    assert direct.items() <= pins(lock).items()


def test_both_images_pin_the_same_closure_and_dev_runs_those_versions() -> None:
    root, exchange = (pins(path / "requirements.txt") for path in FUNCTIONS.values())
    assert root == exchange
    dev = pins(ROOT / "requirements-dev.txt")
    assert {name: dev.get(name) for name in root} == root  # tests run what ships
    assert not DEV_ONLY & set(root)  # and nothing of the tooling ships


# -- install as the fn CLI does, then answer a call ------------------------------------


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``/python`` of both images: one ``pip install --target`` of the lock."""
    lock = FUNCTIONS["oic-token-exchange"] / "requirements.txt"
    target = tmp_path_factory.mktemp("python")
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)]
    install = ["install", "--quiet", "--no-compile", "--target", str(target), "-r", str(lock)]
    result = pip(*install, *offline)
    if result.returncode != 0:  # first run on this machine: fetch the wheels (hash-checked) once
        fetched = pip("download", "--quiet", "-d", str(WHEELHOUSE), "-r", str(lock))
        assert fetched.returncode == 0, fetched.stderr[-2000:]
        result = pip(*install, *offline)
    assert result.returncode == 0, result.stderr[-2000:]
    return target


# `-S` keeps this machine's site-packages out; it also skips what `site` does
# in the image: import `sitecustomize` from the path (token_exchange/ has one).
_AS_IN_THE_IMAGE = ("import importlib.util, runpy, sys\n"
                    "if importlib.util.find_spec('sitecustomize'): import sitecustomize\n"
                    "sys.argv = sys.argv[1:]\n"
                    "runpy.run_path(sys.argv[0], run_name='__main__')")


def image_fn(func_dir: Path, target: Path, env: dict[str, str]) -> FnProcess:
    command = [IMAGE_PYTHON, "-S", "-c", _AS_IN_THE_IMAGE, str(target / "bin" / "fdk")]
    return FnProcess(func_dir, env, FUNCTION_OUTPUT, command=command, pythonpath=f"{func_dir}:{target}").start()


def test_a_tampered_hash_is_refused(image_python: Path, tmp_path: Path) -> None:
    lock = (FUNCTIONS["oic-token-exchange"] / "requirements.txt").read_text()
    block = re.search(r"^fdk==.*?(?=^\S)", lock, re.M | re.S)
    assert block is not None
    forged = re.sub(r"[0-9a-f]{64}", hashlib.sha256(b"not the wheel").hexdigest(), block.group(0))
    tampered = tmp_path / "requirements.txt"
    tampered.write_text(lock.replace(block.group(0), forged))
    result = pip("install", "--quiet", "--no-compile", "--target", str(tmp_path / "python"), "--no-index",
                 "--find-links", str(WHEELHOUSE), "-r", str(tampered))
    assert result.returncode != 0 and "HASH" in result.stderr.upper()


def test_the_authorizer_image_answers_from_its_own_folder_alone(image_python: Path, jwks: JwksServer,
                                                                signer: Signer) -> None:
    assert not {p.name.split("-")[0].lower() for p in image_python.glob("*.dist-info")} & DEV_ONLY
    fn = image_fn(ROOT, image_python, authorizer_env(jwks.url))
    try:
        answer = fn.call(multi("Bearer " + signer.mint(), path="/HELLO_WORLD/1.0/hello")).json()
        assert answer["active"] is True and answer["context"]["sub"]
    finally:
        fn.stop()


def test_the_token_exchange_image_answers_from_its_own_folder_alone(image_python: Path, stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url, "FDK_DEBUG": "1"}
    fn = image_fn(ROOT / "token_exchange", image_python, env)
    try:
        result = fn.call(b"", headers={"Fn-Intent": "httprequest", "Fn-Http-Method": "GET",
                                       "Fn-Http-Request-Url": "/HELLO_WORLD/1.0/hello",
                                       "Fn-Http-H-Authorization": f"Bearer {stack.vendor_token()}"})
        assert result.status == 200 and result.headers.get("fn-http-status", "200") == "200", result.body
        assert json.loads(result.body)["message"] == "Hello from HELLO_WORLD"
        assert "FDK_DEBUG ignored" in fn.output()  # the image's sitecustomize ran first
    finally:
        fn.stop()


def shipped_top_level(func_dir: Path) -> set[str]:
    """Importable names at the top of what the image's /function holds."""
    names = set()
    for entry in func_dir.iterdir():
        if func_dir == ROOT and dockerignore_excludes(entry.name):
            continue
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir() or entry.suffix == ".py":
            names.add(entry.stem if entry.suffix == ".py" else entry.name)
    return names


def installed_top_level(target: Path) -> set[str]:
    names = set()
    for entry in target.iterdir():
        if entry.name.endswith((".dist-info", ".pth")) or entry.name in ("bin", "__pycache__"):
            continue
        names.add(entry.name.split(".")[0])
    return names


@pytest.mark.parametrize("name", FUNCTIONS)
def test_nothing_in_a_function_folder_shadows_the_stdlib_or_a_dependency(name: str, image_python: Path) -> None:
    """/function comes first on the image's PYTHONPATH: a `secrets.py` there
    would replace the standard library's for every module in the image."""
    ours = shipped_top_level(FUNCTIONS[name])
    assert {"func", "oic_gateway"} <= ours, ours
    assert not ours & set(sys.stdlib_module_names), ours & set(sys.stdlib_module_names)
    assert not ours & installed_top_level(image_python), ours & installed_top_level(image_python)
