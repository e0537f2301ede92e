"""Code-only archives of both functions: ``python -m ops.archive`` (``make archive``).

Writes ``dist/oic-authorizer.zip`` and ``dist/oic-token-exchange.zip`` in the
layout of Oracle's "Creating Python Code-only Functions" page: a root-level
``function/`` with the handler module ``func.py`` and the code it imports, and
a root-level ``python/`` with the dependencies; the handler is ``func.handler``
(``<file>.<function>``). Single-architecture (x86) archives, so no ``native/``
(which that page forbids for single-architecture Python archives).

The tree (``build_tree``) is the functions' runtime closure only:

- the dependencies come from the hash-locked ``requirements.txt`` through
  ``pip install --require-hashes --no-deps --only-binary=:all:`` for the
  runtime's platform and Python (``PLATFORM``, ``PYTHON``), minus fdk's
  build-only requirements (``BUILD_ONLY``), so ``--no-deps`` with the explicit
  ``RUNTIME`` closure;
- the ``oci`` SDK keeps its base modules, ``auth`` (the resource-principal
  signer), ``secrets`` and what ``import oci`` itself needs; its other service
  packages (about 180, loaded lazily, never by the functions) are cut;
- bytecode for that Python is compiled at build time with
  ``--invalidation-mode unchecked-hash`` (valid without mtimes, in a tree the
  runtime may not write to), for ``function/`` and ``python/``.

Reproducible: entries sorted, timestamps fixed (``SOURCE_DATE_EPOCH``, else
1980-01-01), permissions fixed (0644 files, 0755 directories): the same inputs
give the same bytes. No image holds this module (ops/ is in neither).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from py_compile import PycInvalidationMode

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
# The wheels pip fetched for the archives' platform (hash-checked); offline after the first build.
WHEELS = Path(os.environ.get("ARCHIVE_WHEELS") or DIST / ".wheels")

HANDLER = "func.handler"
PYTHON = "3.11"  # the runtime's Python: bytecode and wheels are for this version only
PLATFORM = "manylinux2014_x86_64"
RUNTIME_NAME = "python311"  # not confirmed in Oracle's runtime list (docs/setup-oci.md)

# What the functions import at run time, and what those import (the lock's names). crc32c: ``import oci``
# reaches oci/object_storage/transfer/internal/additional_checksum.py, which imports it.
RUNTIME = frozenset({
    "certifi", "cffi", "charset-normalizer", "circuitbreaker", "crc32c", "cryptography", "fdk", "httptools", "idna",
    "iso8601", "oci", "pycparser", "pyjwt", "pyopenssl", "python-dateutil", "pytz", "redis", "requests", "six",
    "typing-extensions", "urllib3",
})
# In the lock, never imported by either function: fdk's build-only requirements (and theirs);
# oci's optional extras (async client, PKCS#11 signer); the redis
# back-port for Python < 3.11.3; colorama (Windows).
BUILD_ONLY = frozenset({
    "pytest", "pytest-asyncio", "cython", "pbr", "wheel", "setuptools", "iniconfig", "packaging", "pluggy",
    "pygments", "colorama",
    "aiohttp", "aiohappyeyeballs", "aiosignal", "attrs", "frozenlist", "multidict", "propcache", "yarl",
    "python-pkcs11", "asn1crypto", "async-timeout",
})
# oci's service packages the functions use (secrets) or ``import oci`` needs: oci/waiter.py imports
# work_requests, oci/pagination/pagination_utils.py imports dns and object_storage.
OCI_SERVICES_KEPT = frozenset({"secrets", "work_requests", "dns", "object_storage"})
# oci's non-service folders no path of ours reaches (the agent kit; client-side encryption).
OCI_EXTRAS_CUT = frozenset({"addons", "encryption"})


@dataclass(frozen=True)
class Function:
    name: str
    folder: Path  # what the fn CLI builds the image from
    code: tuple[str, ...]  # what function/ holds, relative to folder (the image's /function, minus build files)


FUNCTIONS = (
    Function("oic-authorizer", ROOT, ("func.py", "authorizer", "oic_gateway")),
    Function("oic-token-exchange", ROOT / "token_exchange", ("func.py", "sitecustomize.py", "oic_gateway")),
)
LOCK = ROOT / "requirements.txt"  # both functions pin the same closure (tests/function/test_images.py)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def lock_entries(lock: Path) -> dict[str, str]:
    """Each pin of the lock with its hashes, as pip reads it (continuations joined)."""
    text = re.sub(r"\\\n", " ", lock.read_text())
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = line
    return found


def runtime_requirements(lock: Path, out: Path) -> Path:
    entries = lock_entries(lock)
    unknown = set(entries) - RUNTIME - BUILD_ONLY
    if unknown:
        raise SystemExit(f"{lock}: decide whether these ship (ops/archive.py RUNTIME or BUILD_ONLY): {sorted(unknown)}")
    missing = RUNTIME - set(entries)
    if missing:
        raise SystemExit(f"{lock} lacks runtime pins: {sorted(missing)}")
    out.write_text("".join(entries[name] + "\n" for name in sorted(RUNTIME)))
    return out


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],  # noqa: S603
                          capture_output=True, text=True, timeout=900)


def install_dependencies(target: Path, lock: Path = LOCK) -> None:
    """``python/``: the runtime closure for the runtime's platform, hash-checked."""
    with tempfile.TemporaryDirectory() as scratch:
        requirements = runtime_requirements(lock, Path(scratch) / "requirements.txt")
        wanted = ["--require-hashes", "--no-deps", "--only-binary=:all:", "--platform", PLATFORM,
                  "--python-version", PYTHON, "--implementation", "cp", "--abi", "cp" + PYTHON.replace(".", ""),
                  "-r", str(requirements)]
        offline = ["--no-index", "--find-links", str(WHEELS)]
        install = ["install", "--quiet", "--no-compile", "--target", str(target), *wanted]
        result = _pip(*install, *offline)
        if result.returncode != 0:  # first build here: fetch the wheels once (hash-checked)
            WHEELS.mkdir(parents=True, exist_ok=True)
            fetched = _pip("download", "--quiet", "-d", str(WHEELS), *wanted)
            if fetched.returncode != 0:
                raise SystemExit(fetched.stderr[-3000:])
            result = _pip(*install, *offline)
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: the managed runtime starts the handler


def oci_service_packages(oci_dir: Path) -> set[str]:
    """The service names oci/__init__.py lists after its base modules."""
    source = (oci_dir / "__init__.py").read_text()
    listed = re.search(r"__all__ = \[(.*?)\]", source, re.S)
    if listed is None:
        raise SystemExit(f"{oci_dir}/__init__.py: no __all__ (oci changed its layout: review the trim)")
    base = re.search(r"^from \. import (.*)$", source, re.M)  # auth, retry, pagination, ...: never cut
    if base is None:
        raise SystemExit(f"{oci_dir}/__init__.py: no base imports (oci changed its layout: review the trim)")
    names = set(re.findall(r'"(\w+)"', listed.group(1))) - {name.strip() for name in base.group(1).split(",")}
    return {name for name in names if (oci_dir / name).is_dir()}


def trim_oci(python: Path) -> None:
    oci_dir = python / "oci"
    services = oci_service_packages(oci_dir)
    if not services >= OCI_SERVICES_KEPT:
        raise SystemExit(f"oci lacks {sorted(OCI_SERVICES_KEPT - services)}")
    for name in sorted((services - OCI_SERVICES_KEPT) | OCI_EXTRAS_CUT):
        shutil.rmtree(oci_dir / name, ignore_errors=True)


def copy_code(function: Function, dest: Path) -> None:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in function.code:
        source = (function.folder / name).resolve()  # oic_gateway is a symlink at the root: ship the files
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copyfile(source, dest / name)


def compile_tree(tree: Path, logical: str) -> None:
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != PYTHON:
        raise SystemExit(f"bytecode is for the runtime's Python {PYTHON}: run with python{PYTHON}, not {sys.version}")
    ok = compileall.compile_dir(str(tree), quiet=2, ddir=logical, workers=0,
                                invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        raise SystemExit(f"compileall failed in {tree}")


def build_tree(function: Function, root: Path, python: Path | None = None) -> Path:
    """``root/function`` and ``root/python``; ``python``: a ready ``python/`` to copy (both functions share one)."""
    copy_code(function, root / "function")
    if python is None:
        install_dependencies(root / "python")
        trim_oci(root / "python")
        compile_tree(root / "python", "/python")
    else:
        shutil.copytree(python, root / "python", symlinks=False)
    compile_tree(root / "function", "/function")
    return root


# How the managed runtime starts the handler, as the tests and the bench run an unpacked tree: fdk's console script
# minus the script (there is no python/bin/), with the interpreter's own site-packages off (-S).
RUNTIME_START = ("import importlib.util, sys\n"
                 "if importlib.util.find_spec('sitecustomize'): import sitecustomize\n"
                 "sys.argv = ['fdk', *sys.argv[1:]]\n"
                 "from fdk.scripts.fdk import main\n"
                 "main()")


def runtime_command() -> list[str]:
    """The bare interpreter (outside any virtualenv), ``-S``, RUNTIME_START; then ``func.py handler`` follow."""
    python: str = getattr(sys, "_base_executable", None) or sys.executable
    return [python, "-S", "-c", RUNTIME_START]


def inputs() -> list[Path]:
    """Every file an archive is built from."""
    found = [LOCK, Path(__file__)]
    for function in FUNCTIONS:
        for name in function.code:
            source = (function.folder / name).resolve()
            if source.is_dir():
                found.extend(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            else:
                found.append(source)
    return found


def fresh(out_dir: Path = DIST) -> bool:
    """Both archives exist and are newer than every input."""
    zips = [out_dir / f"{function.name}.zip" for function in FUNCTIONS]
    if not all(z.is_file() for z in zips):
        return False
    return min(z.stat().st_mtime for z in zips) >= max(p.stat().st_mtime for p in inputs())


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 315532800)  # 1980-01-01, zip's earliest
    stamp = time.gmtime(max(epoch, 315532800))
    return (stamp.tm_year, stamp.tm_mon, stamp.tm_mday, stamp.tm_hour, stamp.tm_min, stamp.tm_sec - stamp.tm_sec % 2)


def write_zip(tree: Path, out: Path) -> Path:
    """Sorted entries, fixed times and modes: the same tree gives the same bytes."""
    date_time = _date_time()
    entries = sorted((path.relative_to(tree).as_posix() + ("/" if path.is_dir() else ""), path)
                     for path in tree.rglob("*"))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, path in entries:
            if path.is_symlink():
                raise SystemExit(f"{name}: a symlink in the tree")
            info = zipfile.ZipInfo(name, date_time)
            info.create_system = 3  # unix, so the modes below hold
            if path.is_dir():
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=6)  # 9: 4x the time for 0.8 % less
    partial.replace(out)
    return out


def build(out_dir: Path = DIST) -> dict[str, Path]:
    written = {}
    with tempfile.TemporaryDirectory(prefix="archive") as scratch:
        shared = Path(scratch) / "deps"
        install_dependencies(shared)
        trim_oci(shared)
        compile_tree(shared, "/python")
        for function in FUNCTIONS:
            tree = build_tree(function, Path(scratch) / function.name, python=shared)
            written[function.name] = write_zip(tree, out_dir / f"{function.name}.zip")
    return written


def footprint(archive: Path) -> tuple[int, int, int]:
    """(zipped bytes, files, unpacked bytes)."""
    with zipfile.ZipFile(archive) as opened:
        files = [info for info in opened.infolist() if not info.is_dir()]
    return archive.stat().st_size, len(files), sum(info.file_size for info in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DIST, help="where the archives go (default: dist/)")
    args = parser.parse_args(argv)
    for path in build(args.out).values():
        zipped, files, unpacked = footprint(path)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {zipped / 1e6:.1f} MB zipped, "
              f"{files} files, {unpacked / 1e6:.1f} MB unpacked; handler {HANDLER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
