"""Writes docs/configuration.md from the settings registry:
``python -m ops.settings_reference``."""

from __future__ import annotations

from pathlib import Path

from oic_gateway.setting_keys import SETTINGS

TARGET = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def render() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `oic_gateway/setting_keys.py` by `python -m ops.settings_reference`; do not edit.", "",
             "| Key | Type | Default | Read by | Secret | Description |", "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default is None else f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | {s.type} | {default} | {s.reader} | {'yes' if s.secret else ''} "
                     f"| {s.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
