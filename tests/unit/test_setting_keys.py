"""The registry of settings agrees with the keys the shipped code reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from oic_gateway.setting_keys import KEY_NAMES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "token_exchange" / "oic_gateway", ROOT / "authorizer", ROOT / "func.py",
           ROOT / "token_exchange" / "func.py"]
READERS = {"get", "number", "integer", "optional_url", "_prefix", "_header_names"}
PAIRED = {"secret_from_env": "_OCID", "json_setting": "_FILE"}
KEY = re.compile(r"[A-Z][A-Z0-9_]{3,}")


def _files() -> list[Path]:
    return [f for s in SOURCES for f in ([s] if s.is_file() else sorted(s.rglob("*.py")))]


def read_keys() -> set[str]:
    keys: set[str] = set()
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in READERS and name not in PAIRED:
                continue
            for arg in node.args[:2]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and KEY.fullmatch(arg.value):
                    keys.add(arg.value)
                    if name in PAIRED:
                        keys.add(arg.value + PAIRED[name])
    return keys


def test_every_key_read_is_registered_and_every_registered_key_is_read() -> None:
    read = read_keys()
    assert read - KEY_NAMES == set()
    assert KEY_NAMES - read == set()


def test_the_committed_configuration_reference_is_the_generated_one() -> None:
    from ops.settings_reference import TARGET, render

    assert TARGET.read_text() == render()
