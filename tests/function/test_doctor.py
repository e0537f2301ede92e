"""`python -m ops doctor`: what it says for each misconfiguration, for
a healthy configuration against the local identity provider, and for tokens
given on stdin, read as an operator would. It never prints a token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest

from local.fnrun import ROOT
from local.seed import APIGW_AUDIENCE, APIGW_SCOPE, Seeded
from tests.tokens import SENSITIVE, leaked


def doctor(env: dict[str, str], stdin: str = "", *args: str) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "ops", "doctor", *args], cwd=ROOT, input=stdin,
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    output = result.stdout + result.stderr
    assert not leaked(output), "doctor printed a token, signature or secret"
    assert "Traceback" not in output, output
    for line in output.splitlines():
        if line.strip().startswith("fix:"):
            # Every fix names what to change: a setting, or an option.
            assert re.search(r"[A-Z][A-Z0-9_]{3,}|--[a-z]+|no setting changes this", line), line
    return result.returncode, output


@pytest.mark.parametrize("env, expected", [
    ({}, ["FAIL  configuration IDCS_DOMAIN_URL: not set", "fix:"]),
    ({"IDCS_DOMAIN_URL": "http://idcs.invalid", "TOKEN_AUDIENCES": "x"},
     ["FAIL  configuration IDCS_DOMAIN_URL: must use https://"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "CLOCK_SKEW_SECONDS": "600",
      "JWKS_CACHE_SECONDS": "soon"},
     ["configuration CLOCK_SKEW_SECONDS: 600 is out of range", "configuration JWKS_CACHE_SECONDS: 'soon' is not"]),
    ({"JWKS_URL": "https://x/jwk"}, ["FAIL  configuration TOKEN_AUDIENCES: not set", "primary audience"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "OIC_CLIENT_ID": "oic"},
     ["FAIL  configuration OIC_SCOPE: not set", "urn:opc:resource:consumer::all"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "ACCESS_POLICY": '{"rules": [{"name": "a b"}]}'},
     ["FAIL  configuration ACCESS_POLICY: rule #1: 'name' must be"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "TOKEN_AUDIENCE": "y"},
     ["WARN  unknown key TOKEN_AUDIENCE is ignored: did you mean TOKEN_AUDIENCES?",
      "fix: rename TOKEN_AUDIENCE to TOKEN_AUDIENCES"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "OIC_CLIENT_ID": "oic", "OIC_CLIENT_SECRET": "s",
      "OIC_SCOPE": "https://oic:443urn:opc:resource:consumer::all", "OIC_TOKEN_URL": "https://idcs.invalid/t",
      "SHARED_CACHE_URL": "redis://cache.invalid:6379", "SHARED_CACHE_TIMOUT_MS": "50"},
     ["FAIL  configuration SHARED_CACHE_URL: must use rediss://", "WARN  unknown key SHARED_CACHE_TIMOUT_MS"]),
])
def test_each_misconfiguration(env: dict[str, str], expected: list[str]) -> None:
    code, output = doctor(env)
    for text in expected:
        assert text in output, output
    if any(line.startswith("FAIL") for line in output.splitlines()):
        assert code == 1


@pytest.mark.parametrize("env, keys", [
    ({"IDCS_DOMAIN_URL": "http://idcs.invalid"},
     ["IDCS_DOMAIN_URL: must use https://", "TOKEN_AUDIENCES: not set"]),
    ({"JWKS_URL": "https://x/jwk", "CLOCK_SKEW_SECONDS": "abc"},
     ["CLOCK_SKEW_SECONDS: 'abc' is not an integer", "TOKEN_AUDIENCES: not set"]),
    ({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "OIC_CLIENT_ID": "oic", "OIC_GRANT_TYPE": "password",
      "MAX_TOKEN_LIFETIME_SECONDS": "5"},
     ["OIC_SCOPE: not set", "OIC_GRANT_TYPE: 'password' is not one of", "MAX_TOKEN_LIFETIME_SECONDS: 5 is out of range",
      "OIC_TOKEN_URL: not set",
      "OIC_CLIENT_SECRET: not set"]),
    ({"TOKEN_AUDIENCES": "x", "ACCESS_POLICY": "[", "OIC_BASE_URL": "http://oic.invalid"},
     ["IDCS_DOMAIN_URL: not set", "ACCESS_POLICY: is not valid JSON", "OIC_BASE_URL: must use https://"]),
])
def test_every_wrong_key_at_once(env: dict[str, str], keys: list[str]) -> None:
    code, output = doctor(env)
    assert code == 1, output
    fails = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == len(keys), output
    for key in keys:
        assert any(key in line for line in fails), (key, output)


def test_warnings_fdk_debug_and_oic_scope_form() -> None:
    env = {"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "FDK_DEBUG": "1", "OIC_CLIENT_ID": "oic",
           "OIC_CLIENT_SECRET": "s", "OIC_SCOPE": "urn:opc:resource:consumer::all"}
    _, output = doctor(env)
    assert "WARN  FDK_DEBUG is set" in output and "bearer tokens included" in output
    assert "WARN  OIC_SCOPE 'urn:opc:resource:consumer::all' is not in IDCS form" in output
    _, output = doctor({**env, "FDK_DEBUG": "",
                           "OIC_SCOPE": "https://oic.invalid:443urn:opc:resource:consumer::all"})
    assert "FDK_DEBUG" not in output and "IDCS form" not in output


def test_a_scope_on_the_runtime_host_is_a_warning_not_an_error() -> None:
    """OIC_SCOPE's host is the instance's primary audience (often a GUID-style host), rarely
    OIC_BASE_URL's runtime host: equal hosts are likely a mistake, so a warning (never a failure)."""
    env = {"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "OIC_CLIENT_ID": "oic", "OIC_CLIENT_SECRET": "s",
           "OIC_TOKEN_URL": "https://idcs.invalid/oauth2/v1/token", "OIC_BASE_URL": "https://OIC.invalid",
           "OIC_SCOPE": "https://oic.invalid:443urn:opc:resource:consumer::all"}
    _, output = doctor(env)
    assert ("WARN  OIC_SCOPE 'https://oic.invalid:443urn:opc:resource:consumer::all' names OIC_BASE_URL's "
            "host 'oic.invalid'") in output, output
    assert "primary audience" in output and "FAIL  configuration" not in output
    assert "OK    configuration: every key is well formed" in output
    _, output = doctor({**env, "OIC_SCOPE": "https://0a1b2c3d.integration.ocp.oraclecloud.com:443urn:opc:resource:"
                                            "consumer::all"})
    assert "names OIC_BASE_URL's host" not in output
    _, output = doctor({key: value for key, value in env.items() if key != "OIC_BASE_URL"})
    assert "names OIC_BASE_URL's host" not in output  # the authorizer alone has no runtime host to compare


def test_usage() -> None:
    code, output = doctor({}, "", "--help")
    assert code == 0 and "--path" in output and "exit status" in output and "OK    " not in output
    code, output = doctor({}, "", "--path")
    assert code == 2 and "expected one argument" in output


def test_healthy_configuration_and_tokens(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    code, output = doctor(env)
    assert code == 0, output
    assert "OK    configuration: every key is well formed" in output
    assert "OK    signing keys for https://identity.oraclecloud.com/: 1 usable" in output
    assert "key SIGNING_KEY: RS256" in output
    assert "OK    OIC token obtained" in output and "scope: urn:opc:resource:consumer::all" in output
    assert "sub: oic-client" in output

    good = stack.vendor_token()
    code, output = doctor(env, good)
    assert code == 0 and "token: ACCEPTED for vendor-app" in output and "expires in" in output

    now = int(time.time())
    expired = stack.idp.mint(stack.idp.apps["vendor-app"], None, APIGW_AUDIENCE + APIGW_SCOPE,
                             iat=now - 8000, exp=now - 7300)
    code, output = doctor(env, "Bearer " + expired)
    assert code == 1 and "REFUSED (expired)" in output and "expired 2h 1" in output

    claims = jwt.decode(good, options={"verify_signature": False})
    other_audience = jwt.encode({**claims, "aud": ["https://elsewhere/"]}, stack.idp.signing_key, algorithm="RS256",
                                headers={"kid": "SIGNING_KEY"})
    SENSITIVE.add(other_audience)
    code, output = doctor(env, other_audience)
    assert "REFUSED (invalid_audience)" in output and "expected one of https://apigw.local/" in output

    unknown_kid = jwt.encode(claims, stack.idp.signing_key, algorithm="RS256", headers={"kid": "OLD_KEY"})
    SENSITIVE.add(unknown_kid)
    code, output = doctor(env, unknown_kid)
    assert "REFUSED (unknown_key)" in output and "'OLD_KEY' is not among the issuer's keys (SIGNING_KEY)" in output

    code, output = doctor(env, "not-a-token")
    assert code == 1 and "REFUSED (malformed_token)" in output


def test_unreachable_keys_in_words() -> None:
    env = {"JWKS_URL": "http://127.0.0.1:9/jwk", "TOKEN_AUDIENCES": APIGW_AUDIENCE}
    code, output = doctor(env)
    assert code == 1 and "FAIL  signing keys for https://identity.oraclecloud.com/" in output
    assert "connection refused (nothing listens at that host and port)" in output
    assert "reachable from the function's subnet" in output
    code, output = doctor({**env, "JWKS_URL": "https://no-such-host.invalid/jwk"})
    assert code == 1 and "host name not found (DNS lookup failed)" in output
    exchange = {"OIC_TOKEN_URL": "http://127.0.0.1:9/oauth2/v1/token", "OIC_CLIENT_ID": "oic", "OIC_CLIENT_SECRET": "s",
                "OIC_SCOPE": "https://oic.invalid:443urn:opc:resource:consumer::all"}
    code, output = doctor({**env, **exchange})
    assert code == 1 and "FAIL  OIC token:" in output and "connection refused" in output, output
    assert "fix: check OIC_TOKEN_URL" in output


def test_times_and_paths_in_words(stack: Seeded) -> None:
    policy = {"rules": [{"name": "hello", "path": "/HELLO_WORLD/*", "scopes": [APIGW_SCOPE]}]}
    env = {**stack.authorizer_env(), "ACCESS_POLICY": json.dumps(policy)}
    now = int(time.time())
    recently_expired = stack.idp.mint(stack.idp.apps["vendor-app"], None, APIGW_AUDIENCE + APIGW_SCOPE,
                                      iat=now - 600, exp=now - 30)
    code, output = doctor(env, recently_expired, "--path", "/HELLO_WORLD/1.0/hello")
    assert code == 0, output
    assert re.search(r"expired (29|30|31)s ago, within the 60 s leeway \(CLOCK_SKEW_SECONDS\)", output), output
    code, output = doctor(env, stack.vendor_token(), "--path", "/PAYROLL/1.0/run")
    assert code == 1 and "no ACCESS_POLICY rule matches the path '/PAYROLL/1.0/run'" in output
    assert "any of: \n" not in output and not output.rstrip().endswith("any of:")
    code, output = doctor(env, stack.vendor_token())
    assert code == 1 and "--path /<INTEGRATION>/<VERSION>/" in output
    # Every check of the path rule (bad_path_traversal, _chars, ...) is explained as a path problem.
    for path in ("/HELLO_WORLD/1.0/../x", "/HELLO_WORLD/1.0/a;b", "/HELLO WORLD/1.0/x"):
        code, output = doctor(env, stack.vendor_token(), "--path", path)
        assert code == 1 and "REFUSED (bad_path" in output, output
        assert f"fix: the --path value {path!r} breaks the path rule" in output, output
        assert "a claim is missing" not in output


def test_project_paths_and_rules(stack: Seeded) -> None:
    policy = {"rules": [{"name": "gen2-orders", "path": "/ORDERS/*", "scopes": [APIGW_SCOPE]},
                        {"name": "sales-orders", "path": "/project/SALES/ORDERS/*", "scopes": [APIGW_SCOPE]}]}
    env = {**stack.authorizer_env(), "ACCESS_POLICY": json.dumps(policy)}
    code, output = doctor(env, stack.vendor_token(), "--path", "/project/SALES/ORDERS/1.0/new")
    assert code == 0 and "rule sales-orders" in output, output
    code, output = doctor(env, stack.vendor_token(), "--path", "/project/HR/ORDERS/1.0/new")
    assert code == 1 and "a Gen2 rule for the same integration name does not match it" in output, output
    for path in ("/project/SALES/../ORDERS/1.0/x", "/PROJECT/1.0/x", "/project/SALES%2FX/ORDERS/1.0"):
        code, output = doctor(env, stack.vendor_token(), "--path", path)
        assert code == 1 and "REFUSED (bad_path" in output and "/project/<PROJECT>/<INTEGRATION>" in output, output
    bad = {**env, "ACCESS_POLICY": json.dumps({"rules": [{"name": "p", "path": "/PROJECT/SALES/*"}]})}
    code, output = doctor(bad, "")
    assert code == 1 and "FAIL  configuration ACCESS_POLICY: rule p: 'path' starts with /PROJECT/" in output, output


def test_a_rule_for_part_of_a_listed_route_is_a_warning() -> None:
    """With GATEWAY_INTEGRATIONS set, a route is granted whole: a rule deciding a sub-path or some
    methods of a listed integration refuses it to everyone (authorizer.app.partial_rules)."""
    listed = json.dumps({"integrations": [
        {"integration": "HELLO_WORLD", "version": "1.0", "methods": ["GET", "POST"]},
        {"integration": "ORDERS", "version": "1.0", "methods": ["GET", "POST"]},
    ]})
    env = {"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "GATEWAY_INTEGRATIONS": listed}
    for rules, partial in [
        ([{"name": "orders-new", "path": "/ORDERS/1.0/new", "client_ids": ["partner"]}, {"name": "all", "path": "/*"}],
         "orders-new"),
        ([{"name": "orders-get", "path": "/ORDERS/*", "methods": ["GET"]}, {"name": "all", "path": "/*"}],
         "orders-get"),
    ]:
        _, output = doctor({**env, "ACCESS_POLICY": json.dumps({"rules": rules})})
        assert (f"WARN  ACCESS_POLICY rule {partial} covers only part of the route /ORDERS/1.0/{{rest*}}"
                in output), output
        assert "refuse that integration to every caller" in output and "FAIL  configuration" not in output
        assert "HELLO_WORLD" not in output.split("WARN  ACCESS_POLICY", 1)[1].split("\n", 1)[0]
    whole = [{"name": "orders", "path": "/ORDERS/1.0/*", "client_ids": ["partner"]}, {"name": "all", "path": "/*"}]
    _, output = doctor({**env, "ACCESS_POLICY": json.dumps({"rules": whole})})
    assert "covers only part" not in output, output
    _, output = doctor({"JWKS_URL": "https://x/jwk", "TOKEN_AUDIENCES": "x", "ACCESS_POLICY": json.dumps(
        {"rules": [{"name": "orders-new", "path": "/ORDERS/1.0/new"}]})})
    assert "covers only part" not in output  # the function backend sees the path: a sub-path rule is fine


# -- an operator's second day (issue 21) -----------------------------------------------------


@pytest.mark.parametrize("key, value, placeholder", [
    ("IDCS_DOMAIN_URL", "https://idcs-<id>.identity.oraclecloud.com", "<id>"),
    ("TOKEN_AUDIENCES", "https://<apigw-host>/", "<apigw-host>"),
    ("OIC_SCOPE", "https://<oic-primary-audience>urn:opc:resource:consumer::all", "<oic-primary-audience>"),
    ("IDCS_DOMAIN_URL", "https://idcs.example.com", "an example host"),
    ("OIC_BASE_URL", "https://oic.EXAMPLE.org", "an example host"),
])
def test_a_placeholder_left_in_a_value_is_an_error_naming_the_key(key: str, value: str, placeholder: str) -> None:
    env = {"IDCS_DOMAIN_URL": "https://idcs-1.identity.oraclecloud.invalid", "TOKEN_AUDIENCES": "x", key: value}
    code, output = doctor(env)
    assert code == 1 and f"FAIL  configuration {key}: still holds the placeholder {placeholder}" in output, output
    assert "every key is well formed" not in output


def test_a_real_looking_value_is_no_placeholder() -> None:
    from ops.doctor import placeholder_in

    assert placeholder_in("https://idcs-abc123.identity.oraclecloud.com") is None
    assert placeholder_in("https://counterexample.com/x") is None  # a label that merely contains the word
    assert placeholder_in("https://partner.example/x") == "an example host"


def test_an_inline_secret_is_a_warning_that_says_how_to_use_vault() -> None:
    env = {"IDCS_DOMAIN_URL": "https://idcs-1.identity.oraclecloud.invalid", "TOKEN_AUDIENCES": "x",
           "SHARED_CACHE_URL": "rediss://cache.invalid:6379", "SHARED_CACHE_KEY": "A" * 43 + "="}
    _, output = doctor(env)
    assert ("WARN  SHARED_CACHE_KEY is set inline: fine for a trial, but in production a secret belongs in OCI Vault"
            in output), output
    assert "set SHARED_CACHE_KEY_OCID to the secret's OCID and unset SHARED_CACHE_KEY" in output
    assert "A" * 43 not in output  # the secret itself is never printed


def test_the_settings_file_of_make_invoke_and_a_functions_configuration(tmp_path: Any) -> None:
    settings = {"IDCS_DOMAIN_URL": "http://idcs.invalid", "TOKEN_AUDIENCES": "x"}
    env_file = tmp_path / "authorizer.env"
    env_file.write_text("# the authorizer\n" + "".join(f"{k}={v}\n" for k, v in settings.items()))
    expected = "FAIL  configuration IDCS_DOMAIN_URL: must use https://"
    for args in (("--env-file", str(env_file)),):
        code, output = doctor({}, "", *args)
        assert code == 1 and expected in output, output
    # fn inspect / oci fn function get / the code-only path's --config file (a plain object)
    shapes: list[Any] = [{"config": settings}, {"data": {"config": settings}}, settings]
    for shape in shapes:
        config = tmp_path / "function.json"
        config.write_text(json.dumps(shape))
        code, output = doctor({}, "", "--function-config", str(config))
        assert code == 1 and expected in output, output
    for shape in ({"IDCS_DOMAIN_URL": 1}, {"config": "x"}, ["IDCS_DOMAIN_URL"]):  # not an object of strings
        config = tmp_path / "function.json"
        config.write_text(json.dumps(shape))
        code, output = doctor({}, "", "--function-config", str(config))
        assert code == 2 and "no 'config' object of strings" in output, (shape, output)
    # The file, not the environment: the environment's settings are not read.
    code, output = doctor({"IDCS_DOMAIN_URL": "https://idcs.invalid"}, "", "--env-file", str(env_file))
    assert expected in output
    bad = tmp_path / "bad.env"
    bad.write_text("not a setting\n")
    code, output = doctor({}, "", "--env-file", str(bad))
    assert code == 2 and "expected KEY=VALUE" in output
    # make doctor ENV=file reads the same file.
    made = subprocess.run(["make", "-s", "doctor", f"ENV={env_file}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert expected in made.stdout, made.stdout + made.stderr


@pytest.mark.parametrize("env, function, line, warned", [
    ({}, None, "OK    topology: the authorizer validates only", False),
    ({"OIC_CLIENT_ID": "oic-client"}, None, "OK    topology: authorizer-context", False),
    ({"OIC_CLIENT_ID": "oic-client"}, "authorizer", "OK    topology: authorizer-context", True),
    ({"OIC_CLIENT_ID": "oic-client", "OIC_BASE_URL": "https://oic.invalid"}, None,
     "OK    topology: function backend", False),
    ({"OIC_CLIENT_ID": "oic-client"}, "token-exchange", "OK    topology: function backend", False),
])
def test_the_topology_the_settings_amount_to(env: dict[str, str], function: str | None, line: str,
                                             warned: bool) -> None:
    base = {"IDCS_DOMAIN_URL": "https://idcs-1.identity.oraclecloud.invalid", "TOKEN_AUDIENCES": "x", **env}
    _, output = doctor(base, "", *(("--function", function) if function else ()))
    assert line in output, output
    assert ("WARN  OIC_CLIENT_ID is set on the authorizer: that switches on the authorizer-context topology"
            in output) is warned


@pytest.mark.parametrize("env, warned", [
    ({"OIC_CLIENT_ID": "oic-client"}, True),
    ({"ACCESS_POLICY": json.dumps({"rules": [{"name": "all", "path": "/*"}]})}, True),
    ({"OIC_CLIENT_ID": "oic-client", "GATEWAY_INTEGRATIONS": json.dumps(
        {"integrations": [{"integration": "HELLO_WORLD", "version": "1.0", "methods": ["GET"]}]})}, False),
    ({}, False),
    ({"OIC_CLIENT_ID": "oic-client", "OIC_BASE_URL": "https://oic.invalid"}, False),  # the backend's settings
])
def test_the_route_specifications_need_the_integrations_on_the_authorizer(env: dict[str, str],
                                                                          warned: bool) -> None:
    base = {"IDCS_DOMAIN_URL": "https://idcs-1.identity.oraclecloud.invalid", "TOKEN_AUDIENCES": "x", **env}
    _, output = doctor(base)
    assert ("WARN  GATEWAY_INTEGRATIONS is not set" in output) is warned, output
    if warned:
        assert 'GATEWAY_INTEGRATIONS "$(cat deploy/integrations.json)"' in output
