"""The operator's tools beside the stack: `make` (its help and every target
it lists), `make invoke` (one function as the Fn agent calls it), and the
sample inputs in deploy/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from local.fnrun import ROOT
from local.seed import APIGW_AUDIENCE, APIGW_SCOPE, Seeded
from tests.tokens import SENSITIVE


def test_make_lists_its_targets_and_each_has_a_rule() -> None:
    listed = subprocess.run(["make", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and listed.stdout.startswith("usage: make <target>"), listed.stdout
    targets = re.findall(r"^  ([a-z]+)\s", listed.stdout, re.MULTILINE)
    assert {"test", "typecheck", "unit", "lint", "invoke", "mint", "doctor", "up", "demo"} <= set(targets)
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert dry.returncode == 0 and "No rule" not in dry.stderr, (target, dry.stderr)


def write_env(path: Path, settings: dict[str, str]) -> Path:
    path.write_text("# a comment\n\n" + "".join(f"{key}={value}\n" for key, value in settings.items()))
    return path


def invoke(function: str, env_file: Path, stdin: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.invoke", function, "--env-file", str(env_file),
                           "--token", token], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def test_invoke_each_function_with_the_shipped_samples(stack: Seeded, tmp_path: Path) -> None:
    token = stack.vendor_token()
    authorizer_env = write_env(tmp_path / "authorizer.env", stack.authorizer_env())
    sample = (ROOT / "deploy" / "sample-authorizer-input.json").read_text()
    result = invoke("authorizer", authorizer_env, sample, token)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("status: 200\n") and '"active": true' in result.stdout
    assert '"msg":"decision"' in result.stderr and "--- the function's log (authorizer) ---" in result.stderr

    exchange_env = write_env(tmp_path / "exchange.env", {
        **stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url,
        "GATEWAY_PATH_PREFIX": "/oic"})
    sample = (ROOT / "deploy" / "sample-token-exchange-input.json").read_text()
    result = invoke("token-exchange", exchange_env, sample, token)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("status: 200\ncontent-type: application/json")
    assert "Hello from HELLO_WORLD" in result.stdout

    # A refusal is still an answer (exit 0); a broken configuration is fdk's 502 (exit 1).
    result = invoke("authorizer", authorizer_env, sample.replace("<paste", "<not"), token)
    assert result.returncode == 0 and '"active": false' in result.stdout
    result = invoke("authorizer", write_env(tmp_path / "empty.env", {}), sample, token)
    assert result.returncode == 1 and result.stdout.startswith("status: 502")
    assert "configuration IDCS_DOMAIN_URL" in result.stderr and "configuration TOKEN_AUDIENCES" in result.stderr
    SENSITIVE.add(token)


def test_invoke_never_prints_the_oic_token(stack: Seeded, tmp_path: Path) -> None:
    """The authorizer-context answer carries the OIC token (context.back_end_token); make invoke
    runs against a real identity domain too, so its output (a terminal, a CI log) shows a hash.
    With the settings `make up` writes (GATEWAY_INTEGRATIONS): the shipped sample is the token alone."""
    env = write_env(tmp_path / "context.env", {**stack.authorizer_env(), **stack.exchange_env(),
                                               "GATEWAY_INTEGRATIONS": (ROOT / "deploy" / "integrations.json")
                                               .read_text().replace("\n", "")})
    sample = (ROOT / "deploy" / "sample-authorizer-input.json").read_text()
    result = invoke("authorizer", env, sample, stack.vendor_token())
    assert result.returncode == 0 and '"active": true' in result.stdout, result.stderr
    answer = json.loads(result.stdout.split("\n\n", 1)[1])
    assert "oic:HELLO_WORLD/1.0" in answer["scope"]
    shown = answer["context"]["back_end_token"]
    assert shown.startswith("Bearer <OIC token, sha256 ") and "." not in shown.split("sha256 ")[1], shown


def test_invoke_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("NOT A SETTING\n")
    result = subprocess.run([sys.executable, "-m", "local.invoke", "authorizer", "--env-file", str(bad)], cwd=ROOT,
                            input="{}", capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "expected KEY=VALUE" in result.stderr
    result = subprocess.run([sys.executable, "-m", "local.invoke", "token-exchange"], cwd=ROOT, input="not json",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "JSON request description" in result.stderr
    # Without settings or a token, it says so instead of leaving a 502 or a denial to explain it.
    assert "no settings file: the function starts with no settings" in result.stderr
    result = subprocess.run([sys.executable, "-m", "local.invoke", "token-exchange"], cwd=ROOT,
                            input="<paste a token here>", capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "still holds the '<paste a token ...>' placeholder: set TOKEN" in result.stderr


def test_make_invoke_settings_file(tmp_path: Path) -> None:
    # ENV= naming a missing file is an error, not a run without settings.
    missing = tmp_path / "missing.env"
    result = subprocess.run(["make", "--no-print-directory", "invoke", f"ENV={missing}"], cwd=ROOT, input="{}",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "No such file" in result.stderr and str(missing) in result.stderr
    # A shell's own ENV variable (sh's startup file) is not taken for the settings file.
    dry = subprocess.run(["make", "-n", "--no-print-directory", "invoke"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "ENV": "/etc/profile"})
    assert dry.returncode == 0 and "/etc/profile" not in dry.stdout, dry.stdout
    assert APIGW_AUDIENCE and APIGW_SCOPE  # the samples' audience and scope are the seeded ones
