"""The settings file both operator tools read: ``make invoke ENV=file`` and
``make doctor ENV=file`` take the same ``KEY=VALUE`` lines."""

from __future__ import annotations

import re
from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines, as ``make invoke`` reads them: blank lines and ``#``
    comments skipped, the value taken as is (no quotes removed), like fn config."""
    settings: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise ValueError(f"{path}:{number}: expected KEY=VALUE")
        settings[key.strip()] = value
    return settings
