"""The registry of settings agrees with the keys the shipped code reads, with
the function that reads each, with the Terraform configuration, and with the
configuration reference."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import hcl2
import pytest

from oic_gateway.net import secret_sources
from oic_gateway.setting_keys import BY_NAME, KEY_NAMES, SETTINGS, SettingKey

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "token_exchange" / "oic_gateway", ROOT / "authorizer", ROOT / "func.py",
           ROOT / "token_exchange" / "func.py"]
READERS = {"get", "number", "integer", "text", "text_or_default", "optional_url", "_prefix", "_header_names"}
PAIRED = {"secret_from_env": "_OCID", "json_setting": "_FILE"}
KEY = re.compile(r"[A-Z][A-Z0-9_]{3,}")
TERRAFORM = ROOT / "deploy" / "terraform"
Function = Literal["authorizer", "token-exchange"]


def _files() -> list[Path]:
    return [f for s in SOURCES for f in ([s] if s.is_file() else sorted(s.rglob("*.py")))]


def _key_calls() -> Iterator[tuple[Path, str, ast.Call, str]]:
    """Every reader call naming a key: (file, reader, call, key)."""
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in READERS and name not in PAIRED:
                continue
            for arg in node.args[:2]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and KEY.fullmatch(arg.value):
                    yield path, name, node, arg.value


def read_keys() -> set[str]:
    keys: set[str] = set()
    for _, name, _, key in _key_calls():
        keys.add(key)
        if name in PAIRED:
            keys.add(key + PAIRED[name])
    return keys


def test_every_key_read_is_registered_and_every_registered_key_is_read() -> None:
    read = read_keys()
    assert read - KEY_NAMES == set()
    assert KEY_NAMES - read == set()


def test_no_reader_repeats_a_registered_default() -> None:
    """Defaults and ranges live in the registry alone: ``env.get(KEY, ...)``
    falls back to nothing but blank, and integer()/number() take only the key."""
    repeated = [f"{path.relative_to(ROOT)}:{call.lineno} {key}" for path, name, call, key in _key_calls()
                if name == "get" and len(call.args) > 1
                and not (isinstance(call.args[1], ast.Constant) and call.args[1].value == "")]
    assert not repeated, repeated


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_entry_is_well_formed(setting: SettingKey) -> None:
    assert setting.type in {"str", "url", "ocid", "json", "int", "float"}
    assert setting.description and "\n" not in setting.description and "\n" not in setting.notes
    assert setting.secret is setting.name.endswith(("_SECRET", "_KEY", "_PASSWORD"))
    if setting.type in ("int", "float"):
        assert setting.default is not None and setting.bounds is not None, "a number needs a default and a range"
        parse = int if setting.type == "int" else float
        low, high = setting.bounds
        assert low <= parse(setting.default) <= high
        if setting.type == "int":
            assert float(low).is_integer() and float(high).is_integer()
    else:
        assert setting.bounds is None


class Recording(Mapping[str, str]):
    """An environment that remembers every key a reader asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self._data = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


# Every optional part switched on, so that every key is asked for.
EVERYTHING_ON = {
    "IDCS_DOMAIN_URL": "https://idcs-1.identity.oraclecloud.com", "TOKEN_AUDIENCES": "https://apigw.example.com/",
    "JWKS_CLIENT_ID": "jwks", "JWKS_CLIENT_SECRET": "s", "INTROSPECTION_CLIENT_ID": "introspect",
    "INTROSPECTION_CLIENT_SECRET": "s", "OIC_CLIENT_ID": "oic", "OIC_SCOPE": "https://oic.example.com:443urn:x",
    "OIC_CLIENT_SECRET_OCID": "ocid1.vaultsecret.oc1.iad.abc", "SHARED_CACHE_URL": "rediss://cache.example.com:6379",
    "SHARED_CACHE_KEY_OCID": "ocid1.vaultsecret.oc1.iad.def", "OIC_BASE_URL": "https://oic.example.com",
}


def _asked(build: Any, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    monkeypatch.setattr(secret_sources, "_READER", None)  # OCI_SECRETS_ENDPOINT is read with the first Vault secret
    env = Recording(dict(EVERYTHING_ON))
    build(env)
    return env.asked & KEY_NAMES


def _build_authorizer(env: Mapping[str, str]) -> None:
    from authorizer.app import build_authorizer
    from authorizer.context_token import backend_factory

    build_authorizer(env, backend_factory)


def _build_token_exchange(env: Mapping[str, str]) -> None:
    from oic_gateway.caller import CallerVerifier
    from oic_gateway.forwarding.forwarder import BackendConfig
    from oic_gateway.oic_tokens.exchanger import TokenExchanger

    BackendConfig.from_env(env)
    TokenExchanger.from_env(env)
    CallerVerifier.from_env(env)


@pytest.mark.parametrize("function, build", [("authorizer", _build_authorizer),
                                             ("token-exchange", _build_token_exchange)])
def test_each_function_reads_exactly_the_keys_registered_for_it(function: Function, build: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    registered = {s.name for s in SETTINGS if s.reads(function)}
    asked = _asked(build, monkeypatch)
    assert registered - asked == set(), "registered for this function, but not read"
    assert asked - registered == set(), "read, but registered for the other function only"


# --------------------------------------------------------------------------
# Terraform: every function's config map names only keys that function reads.

FUNCTIONS: dict[str, Function] = {"oic-authorizer": "authorizer", "oic-token-exchange": "token-exchange"}
# Where a Terraform variable's default differs from the registry's on purpose.
DEPLOYMENT_DEFAULTS = {
    "REQUIRED_SCOPES": "the deployment asks callers for a scope by default; the functions alone check none",
    "GATEWAY_PATH_PREFIX": "the deployment's own path prefix, which the backend removes",
}
_MAP_KEY = re.compile(r"\b([A-Z][A-Z0-9_]*)\s*=(?!=)")
_FROM_VARIABLE = re.compile(r"\b([A-Z][A-Z0-9_]*)\s*=\s*var\.(\w+)\b")
_LOCAL = re.compile(r"\blocal\.(\w+)\b")


def _hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def _unquote(value: Any) -> Any:
    return value.strip('"') if isinstance(value, str) else value


def _hcl_text(value: Any) -> str:
    """A local's value as HCL-like text: a plain object literal, which python-hcl2 returns as a dict, as
    ``{KEY = value, ...}`` (each member's ``${...}`` unwrapped), so that its keys read as a config map's."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_hcl_text(member)}" for key, member in value.items()) + "}"
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _locals(main: dict[str, Any]) -> dict[str, str]:
    return {name: _hcl_text(value) for block in main.get("locals", []) for name, value in block.items()}


def _expanded(expression: str, local_values: dict[str, str], seen: frozenset[str] = frozenset()) -> str:
    """The expression with every local it names written out (each branch of a
    conditional stays in: a key in either branch is a key the function may get)."""
    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen or name not in local_values:
            return match.group(0)
        return "(" + _expanded(local_values[name], local_values, seen | {name}) + ")"
    return _LOCAL.sub(inline, expression)


def terraform_config(main_tf: Path = TERRAFORM / "main.tf") -> dict[Function, str]:
    """Each function (by its registry reader name) and its config expression, locals written out."""
    main = _hcl(main_tf)
    local_values = _locals(main)
    found: dict[Function, str] = {}
    for block in main.get("resource", []):
        for kind, resources in block.items():
            if _unquote(kind) != "oci_functions_function":
                continue
            for body in resources.values():
                function = FUNCTIONS[_unquote(body["display_name"])]
                found[function] = _expanded(str(body.get("config", "")), local_values)
    return found


def config_keys(expression: str) -> set[str]:
    return set(_MAP_KEY.findall(expression))


def unregistered_or_misattributed(config: dict[Function, str]) -> list[str]:
    wrong = []
    for function, expression in sorted(config.items()):
        for key in sorted(config_keys(expression)):
            setting = BY_NAME.get(key)
            if setting is None:
                wrong.append(f"{function}: {key} is not a registered setting")
            elif not setting.reads(function):
                wrong.append(f"{function}: {key} is read by {setting.reader} only")
            elif setting.secret:
                wrong.append(f"{function}: {key} is a secret; give {key}_OCID (Vault)")
    return wrong


def test_terraform_gives_both_functions_a_config() -> None:
    config = terraform_config()
    assert set(config) == set(FUNCTIONS.values())
    assert all(config_keys(expression) for expression in config.values())
    assert {"OIC_CLIENT_SECRET_OCID", "OIC_BASE_URL", "TOKEN_AUDIENCES"} <= config_keys(config["token-exchange"])


def test_terraform_config_names_only_registered_keys_of_the_function_that_reads_them() -> None:
    assert unregistered_or_misattributed(terraform_config()) == []


def _with_extra_key(main: str, resource: str, key: str) -> str:
    """main.tf with ``key`` merged into one function's config."""
    start = main.index(f'resource "oci_functions_function" "{resource}"')
    line = re.compile(r"^(  config = )(.+)$", re.M).search(main, start)
    assert line is not None
    extra = f'merge({{ {key} = "x" }}, '
    if line.group(2).startswith("merge("):  # it may span lines: become its first argument
        wrapped = line.group(2).replace("merge(", extra, 1)
    else:
        wrapped = f"{extra}{line.group(2)})"
    return main[:line.start()] + line.group(1) + wrapped + main[line.end():]


@pytest.mark.parametrize("key, resource, complaint", [
    ("NOT_A_SETTING", "authorizer", "authorizer: NOT_A_SETTING is not a registered setting"),
    ("NOT_A_SETTING", "token_exchange", "token-exchange: NOT_A_SETTING is not a registered setting"),
    ("OIC_BASE_URL", "authorizer", "authorizer: OIC_BASE_URL is read by token-exchange only"),
    ("INTROSPECTION_CLIENT_ID", "token_exchange", "token-exchange: INTROSPECTION_CLIENT_ID is read by authorizer"),
    ("OIC_CLIENT_SECRET", "token_exchange", "token-exchange: OIC_CLIENT_SECRET is a secret"),
])
def test_a_key_added_to_a_function_in_main_tf_is_held_to_the_registry(tmp_path: Path, key: str, resource: str,
                                                                       complaint: str) -> None:
    changed = tmp_path / "main.tf"
    changed.write_text(_with_extra_key((TERRAFORM / "main.tf").read_text(), resource, key))
    wrong = unregistered_or_misattributed(terraform_config(changed))
    assert any(line.startswith(complaint) for line in wrong), wrong


def test_a_key_added_to_a_local_config_map_is_held_to_the_registry(tmp_path: Path) -> None:
    main = (TERRAFORM / "main.tf").read_text()
    scope = re.search(r"^    OIC_SCOPE +=.*$", main, re.M)
    assert scope is not None
    changed = tmp_path / "main.tf"
    changed.write_text(main[:scope.end()] + "\n    OIC_SCOPES = var.oic_scope" + main[scope.end():])
    wrong = unregistered_or_misattributed(terraform_config(changed))
    assert {"authorizer: OIC_SCOPES is not a registered setting",
            "token-exchange: OIC_SCOPES is not a registered setting"} <= set(wrong), wrong


def test_terraform_variables_that_feed_a_setting_default_to_the_registry() -> None:
    variables = {_unquote(name): body for block in _hcl(TERRAFORM / "variables.tf")["variable"]
                 for name, body in block.items()}
    fed = {key: variable for expression in terraform_config().values()
           for key, variable in _FROM_VARIABLE.findall(expression)}
    assert {"TOKEN_AUDIENCES", "SHARED_CACHE_URL"} <= set(fed)
    wrong = []
    for key, variable in sorted(fed.items()):
        assert variable in variables, f"{key} = var.{variable}: no such variable"
        if "default" not in variables[variable] or key in DEPLOYMENT_DEFAULTS:
            continue
        ours, theirs = _unquote(variables[variable]["default"]), BY_NAME[key].default
        # An empty variable leaves the key out (or unset): the registry's "no default".
        if ours != theirs and not (ours == "" and theirs is None):
            wrong.append(f"var.{variable} defaults to {ours!r}, {key} to {theirs!r}")
    assert not wrong, wrong
    assert set(DEPLOYMENT_DEFAULTS) <= set(fed), "an exception for a key Terraform no longer sets"


def test_the_committed_configuration_reference_is_the_generated_one() -> None:
    from ops.settings_reference import TARGET, render

    assert TARGET.read_text() == render()
