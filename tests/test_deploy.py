"""The deployment artefacts agree with each other and with the local stack:
the JSON specifications (deployed with `oci api-gateway deployment create`),
the Terraform example built from them, the fn files and the image filter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import hcl2
import pytest

from local.fnrun import ROOT

DEPLOY = ROOT / "deploy"
SPECS = sorted(DEPLOY.glob("apigw-*.json"))
PLACEHOLDERS = {"<authorizer-context-function-ocid>", "<authorizer-function-ocid>", "<token-exchange-function-ocid>",
                "<oic-host>"}
# Maps whose keys are the user's own names: their contents are passed whole.
OPAQUE = {"requestPolicies.authentication.parameters"}


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    if prefix in OPAQUE:
        return {prefix}
    if isinstance(value, dict):
        return set().union(*(leaf_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items())) or {prefix}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return set().union(*(leaf_paths(v, prefix + "[]") for v in value))
    return {prefix}


def terraform_paths() -> set[str]:
    """The JSON paths that main.tf reads, from its expressions."""
    text = (DEPLOY / "terraform" / "main.tf").read_text()
    aliases = {
        "local.authentication": "requestPolicies.authentication",
        "local.spec.routes": "routes",
        "routes.value": "routes[]",
        "authorization.value": "routes[].requestPolicies.authorization",
        "header_transformations.value": "routes[].requestPolicies.headerTransformations",
        "set_headers.value": "routes[].requestPolicies.headerTransformations.setHeaders",
        "set_item.value": "routes[].requestPolicies.headerTransformations.setHeaders.items[]",
        "request_filter.value": "routes[].requestPolicies.headerTransformations.filterHeaders",
        "request_filter_item.value": "routes[].requestPolicies.headerTransformations.filterHeaders.items[]",
        "response_policies.value": "routes[].responsePolicies",
        "response_headers.value": "routes[].responsePolicies.headerTransformations",
        "response_filter.value": "routes[].responsePolicies.headerTransformations.filterHeaders",
        "response_filter_item.value": "routes[].responsePolicies.headerTransformations.filterHeaders.items[]",
    }
    paths = set()
    for alias, json_path in aliases.items():
        for match in re.finditer(re.escape(alias) + r"((?:\.[A-Za-z]+)*)", text):
            paths.add(json_path + match.group(1))
    return paths


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_terraform_maps_every_field_of_the_json_spec(spec_path: Any) -> None:
    spec = json.loads(spec_path.read_text())
    missing = leaf_paths(spec) - terraform_paths()
    assert not missing, f"main.tf does not carry {sorted(missing)} from {spec_path.name}"
    assert spec_path.name in (DEPLOY / "terraform" / "main.tf").read_text()


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_specs_use_only_known_placeholders(spec_path: Any) -> None:
    found = set(re.findall(r"<[a-z-]+>", spec_path.read_text()))
    assert found and found <= PLACEHOLDERS
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert all(p in main for p in found), "terraform must replace every placeholder"


def test_terraform_parses_and_is_fmt_clean() -> None:
    for path in (DEPLOY / "terraform").glob("*.tf"):
        with path.open() as handle:
            assert hcl2.load(handle)
    terraform = shutil.which("terraform")
    assert terraform, "terraform is needed for this check"
    result = subprocess.run([terraform, "fmt", "-check", "-recursive", str(DEPLOY / "terraform")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def invoke_statements(text: str) -> list[str]:
    return [line for line in re.findall(r"(?im)^\W*(allow any-user [^\n]*)", text)]


def test_terraform_keeps_secrets_in_vault_and_grants_least_privilege() -> None:
    text = (DEPLOY / "terraform" / "main.tf").read_text()
    assert "OIC_CLIENT_SECRET_OCID" in text and "OIC_CLIENT_SECRET " not in text
    assert "read secret-bundles" in text
    # API Gateway: InvokeFunction only, on the functions' compartment, for gateways of the gateway compartment.
    (statement,) = invoke_statements(text)
    assert "to use fn-invocation in compartment id ${local.functions_compartment} where ALL {" in statement
    assert "request.principal.type = 'ApiGateway'" in statement
    assert "request.resource.compartment.id = '${var.compartment_ocid}'" in statement
    assert "use functions-family" not in text


def test_readme_grants_what_terraform_grants() -> None:
    readme = (ROOT / "README.md").read_text()
    statements = invoke_statements(readme)
    assert statements and all("use fn-invocation" in s and "request.principal.type = 'ApiGateway'" in s
                              and "request.resource.compartment.id" in s for s in statements)
    assert "use functions-family in" not in readme


def test_fn_files() -> None:
    for func_dir, name in ((ROOT, "oic-authorizer"), (ROOT / "token_exchange", "oic-token-exchange")):
        func_yaml = (func_dir / "func.yaml").read_text()
        assert f"name: {name}" in func_yaml and "runtime: python" in func_yaml
        assert "entrypoint: /python/bin/fdk /function/func.py handler" in func_yaml
        assert "build_image: fnproject/python:3.12-dev" in func_yaml
        assert "run_image: fnproject/python:3.12\n" in func_yaml
        requirements = (func_dir / "requirements.txt").read_text()
        requirements_lines = [line for line in requirements.splitlines() if line[:1].isalnum()]
        assert requirements_lines and all("==" in line for line in requirements_lines)
    assert "name:" in (ROOT / "app.yaml").read_text()


def test_token_exchange_imports_nothing_from_outside_its_folder() -> None:
    for path in (ROOT / "token_exchange").glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(authorizer|local|tests)\b", source, re.M), path.name


def dockerignore_excludes(path: str, folder: Any = ROOT) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    excluded = False
    for line in (folder / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!")
        regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(regex, path) or re.fullmatch(regex + "/.*", path):
            excluded = not negate
    return excluded


@pytest.mark.parametrize("path, excluded", [
    ("func.py", False), ("func.yaml", False), ("requirements.txt", False), ("token_exchange/shared/jws.py", False),
    ("token_exchange/oauth.py", False), ("tests/test_gateway.py", True), (".venv/bin/python", True),
    ("local/idp.py", True), ("bench/__main__.py", True), ("README.md", True), ("deploy/app.json", True),
    ("authorizer/__pycache__/jws.cpython-311.pyc", True), ("token_exchange/func.py", True),
    ("Dockerfile-fn-tmp1234", True), ("requirements.in", True), ("requirements-dev.txt", True),
    ("token_exchange/requirements.in", True),
])
def test_root_image_ships_only_the_function(path: str, excluded: bool) -> None:
    assert dockerignore_excludes(path) is excluded


@pytest.mark.parametrize("path, excluded", [
    ("func.py", False), ("func.yaml", False), ("requirements.txt", False), ("backend.py", False),
    ("shared/paths.py", False), ("Dockerfile-fn-tmp1234", True), ("Dockerfile-fn-tmp", True),
    ("requirements.in", True), ("shared/__pycache__/paths.cpython-312.pyc", True), (".dockerignore", True),
])
def test_token_exchange_image_ships_only_the_function(path: str, excluded: bool) -> None:
    assert dockerignore_excludes(path, ROOT / "token_exchange") is excluded
def _hcl(path: Any) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def _blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name.strip('"'): body for block in parsed.get(kind, []) for name, body in block.items()}


def test_terraform_outputs_variables_and_example() -> None:
    """Every output described (ids of the gateway and deployment, an https
    endpoint); access-policy needs its policy; the example tfvars set every
    required variable and nothing unknown; the images are built by a named
    step or given."""
    outputs = _blocks(_hcl(DEPLOY / "terraform" / "outputs.tf"), "output")
    assert {"endpoint", "gateway_ocid", "deployment_ocid", "authorizer_function_ocid",
            "token_exchange_function_ocid"} <= set(outputs)
    assert all(body.get("description") for body in outputs.values()), outputs
    assert str(outputs["endpoint"]["value"]).strip('"').startswith("https://")

    variables = _blocks(_hcl(DEPLOY / "terraform" / "variables.tf"), "variable")
    assert all(body.get("description") for body in variables.values())
    policy_check = json.dumps(variables["access_policy"]["validation"])
    assert "var.topology" in policy_check and "access-policy" in policy_check and "jsondecode" in policy_check

    example = {name.strip('"') for name in _hcl(DEPLOY / "terraform" / "terraform.tfvars.example")} - {"__comments__"}
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example) <= set(variables), (required - set(example), set(example) - set(variables))

    images = (DEPLOY / "terraform" / "images.tf").read_text()
    assert 'resource "terraform_data" "function_images"' in images and "build-images.sh" in images
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert main.count("depends_on         = [terraform_data.function_images]") == 2
    # Each topology's keys per function, as the README's table says: the backend verifies its caller with the
    # authorizer's settings; the function-backend topology's authorizer holds no OIC secret.
    assert "config = merge(local.authorizer_config, local.exchange_config, {" in main
    assert 'var.topology == "function-backend" ? local.authorizer_config : merge(' in main
    script = (DEPLOY / "build-images.sh").read_text()
    commands = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert any("fn build" in line for line in commands) and any("docker push" in line for line in commands)
    assert not any("fn deploy" in line for line in commands)  # never bumps func.yaml
