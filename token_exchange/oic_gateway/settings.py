"""Reading configuration values from the environment, strictly.

Shared by both functions (the authorizer imports it too). Every problem is a
``ConfigError(key, problem)`` naming the key and what is wrong with it.
Defaults and ranges come from the registry (``oic_gateway.setting_keys``),
never from the reader.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from oic_gateway.errors import ConfigError
from oic_gateway.setting_keys import bounds, default_float, default_int, default_text


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def optional_url(env: Mapping[str, str], key: str) -> str | None:
    raw = env.get(key, "").strip()
    if not raw:
        return None
    return checked_url(key, raw)


def checked_url(key: str, raw: str) -> str:
    """https everywhere; http only for loopback hosts (local tests and demos)."""
    try:
        parts = urlsplit(raw)
        _ = parts.port
    except ValueError:
        raise ConfigError(key, "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(key, "must be an https:// URL with a host")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(key, "must use https:// (http:// is allowed only for loopback hosts)")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(key, "must not carry credentials in the URL")
    if parts.fragment:
        raise ConfigError(key, "must not have a #fragment")
    return raw


def json_setting(env: Mapping[str, str], key: str) -> tuple[str, Any] | None:
    """A JSON value given inline (``KEY``) or as a file in the image
    (``KEY_FILE``): the key it came from, and the parsed value; None if unset."""
    raw = env.get(key, "").strip()
    path = env.get(key + "_FILE", "").strip()
    if raw and path:
        raise ConfigError(key, f"set both {key} and {key}_FILE; keep one")
    source = key
    if path:
        source = key + "_FILE"
        try:
            raw = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(source, f"cannot read {path} ({exc.strerror})") from None
    if not raw:
        return None
    try:
        return source, json.loads(raw)
    except ValueError:
        raise ConfigError(source, "is not valid JSON") from None


def text(env: Mapping[str, str], key: str) -> str:
    """The value, stripped; the registered default when unset (set but blank stays blank)."""
    return env.get(key, default_text(key)).strip()


def text_or_default(env: Mapping[str, str], key: str) -> str:
    """The value, stripped; the registered default when unset or blank."""
    return text(env, key) or default_text(key)


def integer(env: Mapping[str, str], key: str) -> int:
    """An integer in the registered range; the registered default when unset."""
    low, high = bounds(key)
    return _bounded(env, key, default_int(key), int(low), int(high), int, "an integer")


def number(env: Mapping[str, str], key: str) -> float:
    """A number in the registered range; the registered default when unset."""
    low, high = bounds(key)
    return _bounded(env, key, default_float(key), float(low), float(high), float, "a number")


N = TypeVar("N", int, float)


def _bounded(env: Mapping[str, str], key: str, default: N, low: N, high: N, parse: Callable[[str], N],
             what: str) -> N:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(key, f"{raw!r} is not {what}") from None
    if not low <= value <= high:
        raise ConfigError(key, f"{_show(value)} is out of range ({_show(low)} to {_show(high)})")
    return value


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class Problems:
    """Collects the configuration errors of independent readers, so that one
    error names every wrong key, not just the first one read.

    ``read`` runs a reader and returns its value, or ``fallback`` after
    noting its error; ``add`` notes a problem unless its key already has one
    (a malformed URL is not also "not set"); ``raise_any`` raises them all as
    one ``ConfigError``."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def read(self, reader: Callable[[], T], fallback: T) -> T:
        try:
            return reader()
        except ConfigError as error:
            for single in error.each():
                self.add(single.key, single.problem)
            return fallback

    def add(self, key: str, problem: str) -> None:
        if not self.failed(key):
            self.errors.append(ConfigError(key, problem))

    def failed(self, *keys: str) -> bool:
        return any(error.key in keys for error in self.errors)

    def raise_any(self) -> None:
        if self.errors:
            raise ConfigError.combine(self.errors)


@overload
def each(a: Callable[[], A], b: Callable[[], B], /) -> tuple[A, B]: ...
@overload
def each(a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], /) -> tuple[A, B, C]: ...
def each(*readers: Callable[[], Any]) -> tuple[Any, ...]:
    """Run independent readers, all of them, and raise one ``ConfigError``
    naming every problem they found."""
    problems = Problems()
    values = tuple(problems.read(reader, None) for reader in readers)
    problems.raise_any()
    return values
