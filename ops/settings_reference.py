"""Writes docs/configuration.md from the settings registry:
``python -m ops.settings_reference``."""

from __future__ import annotations

from pathlib import Path

from oic_gateway.setting_keys import SETTINGS, SettingKey

TARGET = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

INTRO = """\
Function configuration is passed as environment variables (application or function configuration). Every problem is
reported as `configuration <KEY>: <what is wrong>`, every wrong key at once. URLs must be `https://` (`http://` only
for loopback hosts). Every `*_SECRET` / `*_KEY` / `*_PASSWORD` may be given inline or as an OCI Vault secret OCID
(`*_OCID`); every JSON setting inline or as a file in the image (`*_FILE`); never both.

*Read by*: the backend function (`token-exchange`) verifies its caller with the authorizer's own keys, with the same
names and meanings; set them on the application so both functions read the same. The authorizer reads the
token-exchange keys too when `OIC_CLIENT_ID` is set on it (the authorizer-context topology)."""


def _value(value: float) -> str:
    return f"{value:g}"


def _range(s: SettingKey) -> str:
    return "" if s.bounds is None else f"{_value(s.bounds[0])} to {_value(s.bounds[1])}"


def render() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `oic_gateway/setting_keys.py` by `python -m ops.settings_reference`; do not edit.", "",
             INTRO, "",
             "| Key | Type | Default | Range | Read by | Secret | Description |", "|---|---|---|---|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default is None else f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | {s.type} | {default} | {_range(s)} | {s.reader} | {'yes' if s.secret else ''} "
                     f"| {s.description} |")
    lines += ["", "## Details", ""]
    lines += [f"- `{s.name}`: {s.notes}" for s in SETTINGS if s.notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
