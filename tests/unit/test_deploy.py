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
import oci.apigateway.models as apigateway_models
import pytest

from local.fnrun import ROOT
from tests.sdk import sdk_problems

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
        "query_parameter_transformations.value": "routes[].requestPolicies.queryParameterTransformations",
        "query_filter.value": "routes[].requestPolicies.queryParameterTransformations.filterQueryParameters",
        "query_filter_item.value":
            "routes[].requestPolicies.queryParameterTransformations.filterQueryParameters.items[]",
        "response_policies.value": "routes[].responsePolicies",
        "response_headers.value": "routes[].responsePolicies.headerTransformations",
        "response_filter.value": "routes[].responsePolicies.headerTransformations.filterHeaders",
        "response_filter_item.value": "routes[].responsePolicies.headerTransformations.filterHeaders.items[]",
        "usage_plans.value": "requestPolicies.usagePlans",
        "rate_limiting.value": "requestPolicies.rateLimiting",
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
def test_no_response_allow_list_passes_location(spec_path: Any) -> None:
    """The gateway cannot rewrite OIC's Location into its own path space (the function
    backend does, forwarding/location.py), so no shipped route returns it."""
    for route in json.loads(spec_path.read_text()).get("routes", []):
        filters = route.get("responsePolicies", {}).get("headerTransformations", {}).get("filterHeaders", {})
        if filters.get("type") == "ALLOW":
            assert "location" not in {item["name"].lower() for item in filters["items"]}, route["path"]


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


def test_terraform_keeps_secrets_in_vault_and_grants_the_documented_invoke_policy() -> None:
    text = (DEPLOY / "terraform" / "main.tf").read_text()
    assert "OIC_CLIENT_SECRET_OCID" in text and "OIC_CLIENT_SECRET " not in text
    assert "read secret-bundles" in text
    # API Gateway: Oracle's documented form (apigatewaycreatingpolicies.htm) by default, on the functions'
    # compartment, for gateways of the gateway compartment; fn-invocation only when asked for.
    (statement,) = invoke_statements(text)
    assert "to use ${var.gateway_invoke_resource_type} in compartment id ${local.functions_compartment} where ALL {" \
        in statement
    assert "request.principal.type = 'ApiGateway'" in statement
    assert "request.resource.compartment.id = '${var.compartment_ocid}'" in statement
    verb = _blocks(_hcl(DEPLOY / "terraform" / "variables.tf"), "variable")["gateway_invoke_resource_type"]
    assert verb["default"].strip('"') == "functions-family"
    assert '"functions-family", "fn-invocation"' in str(verb["validation"])


@pytest.mark.parametrize(("clients", "refused"), [(5, False), (6, True)])
def test_terraform_refuses_more_than_five_clients_per_subscriber(tmp_path: Any, clients: int, refused: bool) -> None:
    """A subscriber holds at most 5 API clients (docs/oci-fidelity.md): the variable's own validation says so at
    plan time, before OCI would. Planned alone (no provider needed), from the very block in variables.tf."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is needed for this check"
    block = re.search(r'(?ms)^variable "subscribers" \{.*?^\}', (DEPLOY / "terraform" / "variables.tf").read_text())
    assert block is not None
    (tmp_path / "subscribers.tf").write_text(block.group(0) + "\n")
    ids = ",".join(f'"client-{n}"' for n in range(clients))
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_IN_AUTOMATION": "1", "HOME": str(tmp_path),
           "TF_CLI_CONFIG_FILE": "/dev/null"}
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args, "-input=false", "-no-color"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env=env)

    assert run("init").returncode == 0
    result = run("plan", f'-var=subscribers={{v={{client_ids=[{ids}],usage_plan="g"}}}}')
    output = " ".join((result.stdout + result.stderr).split())
    assert (result.returncode != 0) == refused, output
    assert ("A subscriber holds at most 5 clients" in output) == refused, output


def test_setup_page_grants_what_terraform_grants() -> None:
    readme = (ROOT / "docs" / "setup-oci.md").read_text()
    # Every any-user grant but the code-only path's read of its archive (section C) lets a gateway invoke.
    statements = [s for s in invoke_statements(readme) if "to read objects in" not in s]
    assert statements and all("use functions-family" in s and "request.principal.type = 'ApiGateway'" in s
                              and "request.resource.compartment.id" in s for s in statements)
    assert "fn-invocation" in readme and "unverified" in readme


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
    ("func.py", False), ("func.yaml", False), ("requirements.txt", False), ("oic_gateway", False),
    ("token_exchange/oic_gateway/verification/jws.py", False),
    ("token_exchange/oic_gateway/oic_tokens/client.py", False),
    ("authorizer/app.py", False), ("ops/doctor.py", True), ("token_exchange/sitecustomize.py", True),
    ("tests/stack/test_gateway.py", True), (".venv/bin/python", True),
    ("local/idp.py", True), ("bench/__main__.py", True), ("README.md", True), ("deploy/app.json", True),
    ("authorizer/__pycache__/jws.cpython-311.pyc", True), ("token_exchange/func.py", True),
    ("Dockerfile-fn-tmp1234", True), ("requirements.in", True), ("requirements-dev.txt", True),
    ("requirements-oci-cli.txt", True),
    ("token_exchange/requirements.in", True),
])
def test_root_image_ships_only_the_function(path: str, excluded: bool) -> None:
    assert dockerignore_excludes(path) is excluded


@pytest.mark.parametrize("path, excluded", [
    ("func.py", False), ("func.yaml", False), ("requirements.txt", False), ("sitecustomize.py", False),
    ("oic_gateway/access/paths.py", False), ("Dockerfile-fn-tmp1234", True), ("Dockerfile-fn-tmp", True),
    ("requirements.in", True), ("oic_gateway/__pycache__/paths.cpython-312.pyc", True), (".dockerignore", True),
])
def test_token_exchange_image_ships_only_the_function(path: str, excluded: bool) -> None:
    assert dockerignore_excludes(path, ROOT / "token_exchange") is excluded
def _hcl(path: Any) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed

# (function, memory MB, PCUs, refused): Oracle's "Reducing Initial Latency Using Provisioned Concurrency" page,
# minimum = increment = 40 PCUs at 128 MB, 20 at 256 MB, 10 at 512 MB and above.
PCU_CASES = [("authorizer", 256, 0, False), ("authorizer", 256, 20, False), ("authorizer", 256, 60, False),
             ("authorizer", 256, 10, True), ("authorizer", 256, 30, True), ("authorizer", 128, 40, False),
             ("authorizer", 128, 20, True), ("authorizer", 512, 10, False), ("authorizer", 1024, 15, True),
             ("authorizer", 256, -20, True), ("exchange", 512, 10, False), ("exchange", 512, 5, True),
             ("exchange", 128, 80, False), ("exchange", 2048, 30, False)]


def test_terraform_provisioned_concurrency_honours_the_minimum_per_memory_size(tmp_path: Any) -> None:
    """Each function's PCU count is 0 (off) or a multiple of its memory size's minimum, refused at plan time.
    Planned alone (no provider needed), from the very blocks in variables.tf; one init, a plan per case."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is needed for this check"
    text = (DEPLOY / "terraform" / "variables.tf").read_text()
    names = [f"{f}_{kind}" for f in ("authorizer", "exchange") for kind in ("memory_in_mbs", "provisioned_concurrency")]
    blocks = [re.search(rf'(?ms)^variable "{name}" \{{.*?^\}}', text) for name in names]
    assert all(blocks), names
    (tmp_path / "pcu.tf").write_text("\n\n".join(b.group(0) for b in blocks if b) + "\n")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_IN_AUTOMATION": "1", "HOME": str(tmp_path),
           "TF_CLI_CONFIG_FILE": "/dev/null"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args, "-input=false", "-no-color"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env=env)

    assert run("init").returncode == 0
    for function, memory, pcus, refused in PCU_CASES:
        result = run("plan", f"-var={function}_memory_in_mbs={memory}",
                     f"-var={function}_provisioned_concurrency={pcus}")
        output = " ".join((result.stdout + result.stderr).split())
        assert (result.returncode != 0) == refused, (function, memory, pcus, output)
        assert (f"{function}_provisioned_concurrency must be 0 (off)" in output) == refused, output
    # A memory size OCI does not offer is refused by its own variable.
    result = run("plan", "-var=authorizer_memory_in_mbs=384")
    assert result.returncode != 0 and "authorizer_memory_in_mbs must be" in " ".join(result.stderr.split())
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    for function in ("authorizer", "exchange"):
        assert f"memory_in_mbs      = var.{function}_memory_in_mbs" in main
        assert f'strategy = var.{function}_provisioned_concurrency > 0 ? "CONSTANT" : "NONE"' in main


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

    example = {name.strip('"') for name in _hcl(DEPLOY / "terraform" / "terraform.tfvars.example")} - {"__comments__",
                                                                                            "__inline_comments__"}
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example) <= set(variables), (required - set(example), set(example) - set(variables))

    images = (DEPLOY / "terraform" / "images.tf").read_text()
    assert 'resource "terraform_data" "function_images"' in images and "build-images.sh" in images
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert main.count("depends_on         = [terraform_data.function_images]") == 2
    # Each topology's keys per function, as docs/setup-oci.md's table says: the backend verifies its caller with the
    # authorizer's settings; the function-backend topology's authorizer holds no OIC secret.
    assert "config = merge(local.authorizer_config, local.exchange_config, {" in main
    # (usage-plans is the function-backend topology with quotas: local.backend_topology covers both.)
    assert 'local.backend_topology ? local.authorizer_config : merge(' in main
    assert 'backend_topology = contains(["function-backend", "usage-plans"], var.topology)' in main
    # The access rules reach the backend always, the authorizer only where it decides per integration: the
    # function-backend topology's authorizer gets no path argument and would refuse every call under a policy.
    assert "merge(local.authorizer_config, local.policy_config, local.exchange_config, local.routes_config)" in main
    assert "}, local.policy_config)" in main
    assert "ACCESS_POLICY" not in main.split("authorizer_config = {")[1].split("}")[0]
    script = (DEPLOY / "build-images.sh").read_text()
    commands = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert any("fn build" in line for line in commands) and any("docker push" in line for line in commands)
    assert not any("fn deploy" in line for line in commands)  # never bumps func.yaml




# -- the specifications and usage plans against the oci SDK's own models (tests/sdk.py) ----


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_specs_are_valid_sdk_api_specifications(spec_path: Any) -> None:
    spec = json.loads(spec_path.read_text())
    assert sdk_problems(spec, "ApiSpecification", apigateway_models, check_required=True) == []


def test_the_sdk_walk_finds_what_is_wrong() -> None:
    spec = json.loads((DEPLOY / "apigw-usage-plans.json").read_text())
    spec["requestPolicies"]["usagePlans"]["tokenLocation"] = "request.auth[client_id]"  # singular: a typo
    spec["routes"][0]["backend"]["functionid"] = "x"  # wrong case, inside a discriminated subtype
    problems = sdk_problems(spec, "ApiSpecification", apigateway_models)
    assert len(problems) == 2 and "tokenLocation" in problems[0] and "OracleFunctionBackend" in problems[1]


def test_usage_plans_spec_is_the_function_backend_spec_plus_the_verified_client_id() -> None:
    backend = json.loads((DEPLOY / "apigw-function-backend.json").read_text())
    plans = json.loads((DEPLOY / "apigw-usage-plans.json").read_text())
    assert plans["requestPolicies"].pop("usagePlans") == {"tokenLocations": ["request.auth[client_id]"]}
    assert plans == backend  # nothing else differs: no drift between the two


def test_usage_plan_example_is_what_the_sdk_takes() -> None:
    example = json.loads((DEPLOY / "usage-plans.example.json").read_text())
    for plan in example["usagePlans"].values():
        assert sdk_problems(plan, "CreateUsagePlanDetails", apigateway_models, check_required=True) == []
    for subscriber in example["subscribers"]:
        assert sdk_problems(subscriber, "CreateSubscriberDetails", apigateway_models, check_required=True) == []
        assert set(subscriber["usagePlans"]) <= set(example["usagePlans"])


def test_terraform_usage_plans_use_the_providers_attribute_names() -> None:
    """Attribute names of oci_apigateway_usage_plan / oci_apigateway_subscriber as the
    provider documents them (website/docs/r/apigateway_usage_plan.html.markdown,
    apigateway_subscriber.html.markdown in oracle/terraform-provider-oci)."""
    with (DEPLOY / "terraform" / "main.tf").open() as handle:
        resources = hcl2.load(handle)["resource"]
    found = {kind.strip('"'): body for block in resources for kind, named in block.items()
             for body in named.values()}

    def names(block: dict[str, Any]) -> set[str]:
        return {key.strip('"') for key in block if not key.startswith("__")}

    def dynamic(block: dict[str, Any], name: str) -> dict[str, Any]:
        found_block: dict[str, Any] = next(d[f'"{name}"'] for d in block["dynamic"] if f'"{name}"' in d)
        return found_block["content"][0]  # type: ignore[no-any-return]

    plan = found["oci_apigateway_usage_plan"]
    assert names(plan) <= {"for_each", "compartment_id", "display_name", "entitlements", "defined_tags",
                           "freeform_tags"}
    entitlement = plan["entitlements"][0]
    assert names(entitlement) <= {"name", "description", "rate_limit", "quota", "targets", "dynamic"}
    assert names(entitlement["rate_limit"][0]) == {"unit", "value"}
    assert names(entitlement["targets"][0]) == {"deployment_id"}
    assert names(dynamic(entitlement, "quota")) == {"value", "unit", "reset_policy", "operation_on_breach"}
    subscriber = found["oci_apigateway_subscriber"]
    assert names(subscriber) <= {"for_each", "compartment_id", "display_name", "usage_plans", "dynamic",
                                 "defined_tags", "freeform_tags", "locks"}
    assert names(dynamic(subscriber, "clients")) == {"name", "token"}


def test_the_core_has_one_copy_and_one_name_in_both_images() -> None:
    """oic_gateway at the root is a relative link into token_exchange/: the root
    image (ADD . /function/) resolves it inside /function, and the
    token-exchange image holds the folder itself, under the same name."""
    link = ROOT / "oic_gateway"
    assert link.is_symlink() and str(link.readlink()) == "token_exchange/oic_gateway"
    assert (ROOT / "token_exchange" / "oic_gateway" / "__init__.py").is_file()
    assert not (ROOT / "token_exchange" / "__init__.py").exists()  # a function folder, not a package
    for name in ("oic_gateway", "token_exchange/oic_gateway/verification/jws.py"):
        assert dockerignore_excludes(name) is False
    assert dockerignore_excludes("oic_gateway/x.py", ROOT / "token_exchange") is False


def test_make_mutate_runs_only_unit_tests() -> None:
    """mutation/modules.toml names, for each module, the fast tests that must notice its mutants:
    they run with --noconftest, so each must be in tests/unit (the one folder of pure tests)."""
    import tomllib

    modules = tomllib.loads((ROOT / "mutation" / "modules.toml").read_text())["modules"]
    named = {test for tests in modules.values() for test in tests}
    assert named and all(test.startswith("tests/unit/") and (ROOT / test).is_file() for test in named), named
    assert all((ROOT / module).is_file() for module in modules), modules


def test_a_validate_only_authorizer_does_not_import_requests_at_cold_start() -> None:
    """The fdk adapter is shared with the backend: its forwarding imports stay lazy."""
    import sys as _sys

    probe = "import func, sys; print(sorted(m for m in ('requests', 'urllib3', 'redis', 'oci') if m in sys.modules))"
    result = subprocess.run([_sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]", result.stdout


# -- every attribute of deploy/terraform against the provider's own schema ----------------

SCHEMA = json.loads((ROOT / "tests" / "unit" / "data" / "oci_provider_schema.json").read_text())
META = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner"}


def _tf_files() -> list[Any]:
    return sorted((DEPLOY / "terraform").glob("*.tf"))


def _block_paths(body: dict[str, Any], prefix: str = "") -> set[str]:
    """The attribute paths a resource block sets; a dynamic block counts as the block it generates."""
    paths: set[str] = set()
    for key, value in body.items():
        key = key.strip('"')
        if key.startswith("__") or (not prefix and key in META):
            continue
        if key == "dynamic":
            for dynamic in value:
                for name, generated in dynamic.items():
                    path = f"{prefix}{name.strip(chr(34))}"
                    paths.add(path)
                    for content in generated.get("content", []):
                        paths |= _block_paths(content, path + ".")
            continue
        paths.add(prefix + key)
        if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("__is_block__") for v in value):
            for block in value:
                paths |= _block_paths(block, f"{prefix}{key}.")
    return paths


def used_attributes() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in _tf_files():
        parsed = _hcl(path)
        for kind, prefix in (("resource", ""), ("data", "data.")):
            for block in parsed.get(kind, []):
                for resource_type, named in block.items():
                    for body in named.values():
                        used.setdefault(prefix + resource_type.strip('"'), set()).update(_block_paths(body))
    return used


def test_every_terraform_attribute_exists_in_the_provider_schema() -> None:
    """tests/unit/data/oci_provider_schema.json holds each resource's attribute tree as the provider's Go source
    defines it (python -m ops.provider_schema <oracle/terraform-provider-oci git dir>; the commit is recorded):
    `terraform init` cannot fetch the provider here, so this stands in for `terraform validate`."""
    schema = SCHEMA["resources"]
    used = used_attributes()
    assert used, "no resources parsed"
    for resource_type, paths in used.items():
        if resource_type == "terraform_data":
            continue
        assert resource_type in schema, f"{resource_type}: add it to ops/provider_schema.py and regenerate"
        unknown = paths - set(schema[resource_type]["attributes"])
        assert not unknown, f"{resource_type}: {sorted(unknown)} not in {schema[resource_type]['source']}"


def test_the_schema_check_finds_what_is_wrong() -> None:
    body = {"compartment_id": "x", "specification": [{"__is_block__": True, "request_policies": [
        {"__is_block__": True, "rate_limiting": [{"__is_block__": True, "rate_in_request_per_second": 1}]}]}]}
    unknown = _block_paths(body) - set(SCHEMA["resources"]["oci_apigateway_deployment"]["attributes"])
    assert unknown == {"specification.request_policies.rate_limiting.rate_in_request_per_second"}


def test_terraform_iam_is_least_privilege_and_names_are_prefixed() -> None:
    """The dynamic group names the two functions; the secret policy names each secret; the gateway's invoke grant
    is on the functions' own compartment (created when none is given); every name carries name_prefix."""
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    resources = {kind.strip('"') + "." + name.strip('"'): body for block in _hcl(DEPLOY / "terraform" / "main.tf")
                 ["resource"] for kind, named in block.items() for name, body in named.items()}
    rule = resources["oci_identity_dynamic_group.functions"]["matching_rule"]
    assert "resource.id = '${oci_functions_function.authorizer.id}'" in rule
    assert "resource.id = '${oci_functions_function.token_exchange.id}'" in rule
    assert "resource.compartment.id" not in rule and "resource.type" not in rule
    statements = str(resources["oci_identity_policy.functions_read_secrets"]["statements"])
    assert "where target.secret.id = '${id}'" in statements and "for id in local.secret_ids" in statements
    assert "secret_ids = compact([oci_vault_secret.oic_client_secret.id, var.shared_cache_key_ocid])" in main
    assert "oci_identity_compartment.functions[0].id" in main
    for address in ("oci_identity_dynamic_group.functions", "oci_identity_policy.functions_read_secrets",
                    "oci_identity_policy.gateway_invokes_functions", "oci_identity_compartment.functions"):
        assert "${var.name_prefix}" in resources[address]["name"], address
    assert "${var.name_prefix}" in resources["oci_vault_secret.oic_client_secret"]["secret_name"]
    for address in ("oci_functions_application.oic_gateway", "oci_apigateway_gateway.oic",
                    "oci_apigateway_deployment.oic"):
        assert "var.name_prefix" in resources[address]["display_name"], address


# Each optional part and the variable that switches it off: its count / for_each must read that variable.
OPTIONAL = {
    "oci_identity_compartment.functions": "var.create_functions_compartment",
    "oci_logging_log_group.oic": "var.enable_logs",
    "oci_logging_log.service": "local.service_logs",
    "oci_ons_notification_topic.alarms": "var.enable_alarms",
    "oci_ons_subscription.email": "var.alarm_email",
    "oci_monitoring_alarm.chain": "local.alarms",
    **{f"oci_identity_domains_{kind}": "local.identity_apps" for kind in (
        "app.gateway", "app.oic_client", "grant.oic_service_invoker")},
    "oci_identity_domains_app.vendor": "var.create_identity_apps",
    **{f"oci_core_{kind}": "local.create_network" for kind in (
        "vcn.oic", "internet_gateway.oic", "nat_gateway.oic", "service_gateway.oic", "route_table.gateway",
        "route_table.functions", "security_list.none", "subnet.gateway", "subnet.functions")},
    "oci_core_network_security_group.chain": "local.network",
    "oci_core_network_security_group_security_rule.chain": "local.nsg_rules",
    "oci_apigateway_certificate.custom": "local.create_certificate",
}


def _resources() -> dict[str, dict[str, Any]]:
    found = {}
    for path in _tf_files():
        for block in _hcl(path).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    found[f"{kind.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return found


def test_each_optional_part_has_a_switch() -> None:
    """Plan-less: parsed with python-hcl2, each optional resource's count or for_each reads its switch, and
    the switch has a default that a tfvars can override."""
    resources = _resources()
    variables = _blocks(_hcl(DEPLOY / "terraform" / "variables.tf"), "variable")
    for address, switch in OPTIONAL.items():
        body = resources[address]
        expression = str(body.get("count", body.get("for_each", "")))
        assert switch in expression, (address, expression)
        if switch.startswith("var."):
            assert "default" in variables[switch.removeprefix("var.")], switch
    # The locals that switch a for_each read the variable in turn.
    assert "service_logs = var.enable_logs ?" in (DEPLOY / "terraform" / "logs.tf").read_text()
    assert "alarms = var.enable_alarms ? merge(" in (DEPLOY / "terraform" / "alarms.tf").read_text()
    assert "var.enable_alarms && var.alarm_email" in str(resources["oci_ons_subscription.email"]["count"])
    network = (DEPLOY / "terraform" / "network.tf").read_text()
    assert ('create_network = var.subnet_ocid == "" && var.gateway_subnet_ocid == "" && var.functions_subnet_ocid == ""'
            in network)
    assert "network = local.create_network ?" in network and "nsg_rules = local.create_network ?" in network
    assert all(variables[name]["default"].strip('"') == ""
               for name in ("subnet_ocid", "gateway_subnet_ocid", "functions_subnet_ocid"))
    domain = (DEPLOY / "terraform" / "domain.tf").read_text()
    assert 'custom_domain      = var.custom_domain != ""' in domain
    assert "create_certificate = local.custom_domain && var.certificate_files != null" in domain
    assert variables["custom_domain"]["default"].strip('"') == "" and variables["certificate_files"]["default"] is None


# custom_domain, certificate_ocid, certificate_files (as HCL) -> refused at plan time?
DOMAIN_CASES = [
    ("", "", "null", False),  # the default certificate and generated name
    ("api.example.com", "ocid1.certificate.oc1..x", "null", False),
    ("api.example.com", "", '{certificate = "c.pem", private_key = "k.pem"}', False),
    ("api.example.com", "", "null", True),  # a name without a certificate
    ("", "ocid1.certificate.oc1..x", "null", True),  # a certificate without a name
    ("", "", '{certificate = "c.pem", private_key = "k.pem"}', True),
    ("api.example.com", "ocid1.certificate.oc1..x", '{certificate = "c.pem", private_key = "k.pem"}', True),
]


def test_a_custom_domain_needs_exactly_one_certificate(tmp_path: Any) -> None:
    """domain.tf's switch: custom_domain with exactly one of certificate_ocid and certificate_files, refused at
    plan time otherwise, and a name that is not a bare DNS name is refused. Planned alone, from variables.tf."""
    text = (DEPLOY / "terraform" / "variables.tf").read_text()
    names = ("custom_domain", "certificate_ocid", "certificate_files")
    blocks = [re.search(rf'(?ms)^variable "{name}" \{{.*?^\}}', text) for name in names]
    assert all(blocks), names
    (tmp_path / "domain.tf").write_text("\n\n".join(b.group(0) for b in blocks if b) + "\n")
    assert _terraform(tmp_path, "init", "-input=false").returncode == 0
    for domain, ocid, files, refused in DOMAIN_CASES:
        (tmp_path / "terraform.tfvars").write_text(
            f"custom_domain = {json.dumps(domain)}\ncertificate_ocid = {json.dumps(ocid)}\n"
            f"certificate_files = {files}\n")
        result = _terraform(tmp_path, "plan", "-input=false")
        output = " ".join((result.stdout + result.stderr).split())
        assert (result.returncode != 0) == refused, (domain, ocid, files, output)
        assert ("custom_domain needs exactly one of certificate_ocid and certificate_files" in output) == refused
    for ocid in ("x", "   ", "ocid1.vaultsecret.oc1.iad.abc"):  # not a certificate's OCID
        (tmp_path / "terraform.tfvars").write_text(f'custom_domain = "api.example.com"\ncertificate_ocid = "{ocid}"\n')
        result = _terraform(tmp_path, "plan", "-input=false")
        assert result.returncode != 0 and "certificate_ocid: the OCID of an API Gateway certificate" in " ".join(
            result.stderr.split()), ocid
    domain = (DEPLOY / "terraform" / "domain.tf").read_text()
    assert "create_before_destroy = true" in domain and "self.subject_names" in domain
    for bad in ("https://api.example.com", "api.example.com:443", "API.example.com", "api.example.com/oic"):
        (tmp_path / "terraform.tfvars").write_text(
            f'custom_domain = "{bad}"\ncertificate_ocid = "ocid1.certificate.oc1..x"\n')
        result = _terraform(tmp_path, "plan", "-input=false")
        assert result.returncode != 0 and "custom_domain: a lower-case DNS name" in " ".join(result.stderr.split()), bad


def test_the_created_network_allows_only_what_the_chain_needs() -> None:
    """Only TCP 443: into the gateway from gateway_ingress_cidr, out of the gateway, out of the functions (NAT) and to
    the Oracle Services Network (service gateway); nothing into the functions; no security-list rule."""
    network = (DEPLOY / "terraform" / "network.tf").read_text()
    rules = dict(re.findall(r'^    ([a-z0-9-]+) += (\[.*\])$', network, re.M))
    assert rules == {
        "gateway-in-443": '["gateway", "INGRESS", var.gateway_ingress_cidr, "CIDR_BLOCK"]',
        "gateway-out-443": '["gateway", "EGRESS", "0.0.0.0/0", "CIDR_BLOCK"]',
        "functions-out-443": '["functions", "EGRESS", "0.0.0.0/0", "CIDR_BLOCK"]',
        "functions-out-service": '["functions", "EGRESS", local.all_services.cidr_block, "SERVICE_CIDR_BLOCK"]',
    }
    assert network.count("min = 443") == 1 and 'protocol                  = "6"' in network
    security_list = _resources()["oci_core_security_list.none"]
    assert not {"ingress_security_rules", "egress_security_rules"} & set(security_list)
    assert network.count("security_list_ids          = [oci_core_security_list.none[0].id]") == 2
    assert "prohibit_public_ip_on_vnic = true" in network  # the functions' subnet is private


def test_terraform_alarms_use_the_documented_metrics_and_name_their_log_search() -> None:
    """oci_apigateway HttpResponses by deploymentId and httpStatusCategory / httpStatusCode; oci_faas
    FunctionResponseCount by resourceId and responseType (Error, Throttled); every body names a log search."""
    alarms = (DEPLOY / "terraform" / "alarms.tf").read_text()
    bodies = re.findall(r'^ +body += "(.*)"$', alarms, re.M)
    queries = re.findall(r'^ +query += "(.*)"$', alarms, re.M)
    assert len(bodies) == len(queries) == 4
    assert all("search \\\"${local.log_path[" in body for body in bodies), bodies
    assert any('HttpResponses[5m]{${local.deployment_filter}, httpStatusCategory = \\"5xx\\"}' in q for q in queries)
    assert any('HttpResponses[1m]{${local.deployment_filter}, httpStatusCode = \\"502\\"}' in q for q in queries)
    for response_type in ("Error", "Throttled"):
        assert any(f'FunctionResponseCount[1m]{{resourceId = \\"${{id}}\\", responseType = \\"{response_type}\\"}}'
                   in q for q in queries), response_type
    assert 'namespace   = "oci_apigateway"' in alarms and 'namespace   = "oci_faas"' in alarms
    assert "compartment = local.functions_compartment" in alarms  # Functions metrics live with the functions


def test_terraform_logs_are_the_documented_service_logs() -> None:
    logs = (DEPLOY / "terraform" / "logs.tf").read_text()
    for service, category, resource in (("functions", "invoke", "oci_functions_application.oic_gateway.id"),
                                        ("apigateway", "access", "oci_apigateway_deployment.oic.id"),
                                        ("apigateway", "execution", "oci_apigateway_deployment.oic.id")):
        assert re.search(rf'service = "{service}", category = "{category}", resource = {re.escape(resource)} }}',
                         logs), (service, category)
    assert 'source_type = "OCISERVICE"' in logs and 'log_type           = "SERVICE"' in logs
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert "log_level  = var.execution_log_level" in main


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_every_topology_limits_the_rate_per_client_ip(spec_path: Any) -> None:
    """A junk bearer string is a new authorizer cache key, so an invocation: every specification limits the rate per
    client IP before the authorizer runs; Terraform passes it through, or rate_limit_per_client_ip overrides it."""
    assert json.loads(spec_path.read_text())["requestPolicies"]["rateLimiting"] == {
        "rateKey": "CLIENT_IP", "rateInRequestsPerSecond": 100}
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert "coalesce(var.rate_limit_per_client_ip, rate_limiting.value.rateInRequestsPerSecond)" in main
    assert "for_each = var.rate_limit_per_client_ip == 0 ? [] :" in main


def test_the_example_tfvars_is_fmt_clean_once_copied(tmp_path: Any) -> None:
    """The guide's `cp terraform.tfvars.example terraform.tfvars` gives a file `terraform fmt -check` accepts."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is needed for this check"
    shutil.copy(DEPLOY / "terraform" / "terraform.tfvars.example", tmp_path / "terraform.tfvars")
    result = _terraform(tmp_path, "fmt", "-check", "-diff")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_tfvars_is_complete_and_cites_what_exists() -> None:
    """Every variable appears in the example, set or commented; no file cites the README's missing Terraform
    section; the pointer is to docs/setup-oci.md's."""
    example = (DEPLOY / "terraform" / "terraform.tfvars.example").read_text()
    named = set(re.findall(r"^#? ?([a-z0-9_]+) += ", example, re.M))
    variables = set(_blocks(_hcl(DEPLOY / "terraform" / "variables.tf"), "variable"))
    assert variables <= named, sorted(variables - named)
    assert named <= variables, sorted(named - variables)
    for path in [*_tf_files(), DEPLOY / "terraform" / "terraform.tfvars.example"]:
        assert "Deploy with Terraform" not in path.read_text(), path.name
    assert '"B. Terraform"' in example and "### B. Terraform" in (ROOT / "docs" / "setup-oci.md").read_text()
    assert "usage-plans" in example.split("topology =")[0]  # the topology comment names all four


# -- vendors as data (vendors.tf): evaluated by terraform itself, without the provider ----------------

VENDOR_VARIABLES = ("vendors", "subscribers", "usage_plans", "topology", "access_policy", "create_identity_apps")


def _vendor_module(tmp_path: Any, created: dict[str, str] | None = None) -> Any:
    """A copy of vendors.tf's locals and the variables they read, with the integrations list and the created apps'
    client ids as plain locals: `terraform init` needs no provider for it."""
    variables = (DEPLOY / "terraform" / "variables.tf").read_text()
    blocks = [re.search(rf'(?ms)^variable "{name}" \{{.*?^\}}', variables) for name in VENDOR_VARIABLES]
    assert all(blocks), VENDOR_VARIABLES
    vendors_locals = re.search(r"(?ms)^locals \{.*?^\}", (DEPLOY / "terraform" / "vendors.tf").read_text())
    assert vendors_locals is not None
    stub = (f"locals {{\n  integrations = jsondecode(file({json.dumps(str(DEPLOY / 'integrations.json'))}))\n"
            f"  created_vendor_client_ids = {json.dumps(created or {})}\n}}\n")
    (tmp_path / "vendors.tf").write_text("\n\n".join([*(b.group(0) for b in blocks if b), vendors_locals.group(0),
                                                      stub]) + "\n")
    return tmp_path


def _terraform(folder: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is needed for this check"
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_IN_AUTOMATION": "1", "HOME": str(folder),
           "TF_CLI_CONFIG_FILE": "/dev/null"}
    return subprocess.run([terraform, *args, "-no-color"], cwd=folder, capture_output=True, text=True, timeout=120,
                          env=env, input=stdin)


VENDORS_TFVARS = """
topology    = "usage-plans"
usage_plans = { gold = { requests_per_second = 50 }, bronze = { requests_per_second = 2 } }
subscribers = { legacy = { client_ids = ["legacy-1"], usage_plan = "bronze" } }
vendors = {
  acme = { client_ids = ["acme-1", "acme-2"], usage_plan = "gold",
           integrations = ["HELLO_WORLD/1.0", "project/SALES/QUOTE/1.0"] }
  globex = { client_ids = ["globex-1"], usage_plan = "bronze", integrations = ["ORDERS/1.0", "HELLO_WORLD/1.0"],
             methods = { "ORDERS/1.0" = ["get"] } }
  initech = { client_ids = ["initech-1"], usage_plan = "bronze", integrations = ["ORDERS/1.0"] }
}
"""


def _console(folder: Any, expression: str, tfvars: str) -> Any:
    (folder / "terraform.tfvars").write_text(tfvars)
    result = _terraform(folder, "console", stdin=f"jsonencode({expression})\n")
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    return json.loads(json.loads(result.stdout.strip()))


def test_vendors_make_the_access_rules_and_the_subscribers(tmp_path: Any) -> None:
    """From one entry per vendor: ACCESS_POLICY rules in the list's order (a rule per method some vendor is limited
    to, before the integration's rule for the others), as access/policy.py reads them, deciding as the entries say;
    and one subscriber per vendor beside var.subscribers."""
    from oic_gateway.access.paths import integration_path
    from oic_gateway.access.policy import access_policy_from_env
    from oic_gateway.errors import NotGranted
    from oic_gateway.verification.claims import Claims

    folder = _vendor_module(tmp_path)
    assert _terraform(folder, "init", "-input=false").returncode == 0
    policy_json = json.loads(_console(folder, "local.access_policy", VENDORS_TFVARS))
    assert policy_json == {"rules": [
        {"name": "HELLO_WORLD-1.0", "path": "/HELLO_WORLD/1.0/*", "client_ids": ["acme-1", "acme-2", "globex-1"]},
        {"name": "ORDERS-1.0-GET", "path": "/ORDERS/1.0/*", "methods": ["GET"],
         "client_ids": ["initech-1", "globex-1"]},
        {"name": "ORDERS-1.0", "path": "/ORDERS/1.0/*", "client_ids": ["initech-1"]},
        {"name": "project-SALES-QUOTE-1.0", "path": "/project/SALES/QUOTE/1.0/*", "client_ids": ["acme-1", "acme-2"]},
    ]}
    policy = access_policy_from_env({"ACCESS_POLICY": json.dumps(policy_json)})
    assert policy is not None

    def allowed(client_id: str, path: str, method: str) -> bool:
        try:
            policy.decide(Claims("sub", client_id, (), 0.0, 0.0, None, "iss", {}), integration_path(path), method)
        except NotGranted:
            return False
        return True

    assert allowed("acme-2", "/HELLO_WORLD/1.0/hi", "POST") and allowed("globex-1", "/HELLO_WORLD/1.0/hi", "GET")
    assert not allowed("acme-1", "/ORDERS/1.0/x", "GET")
    assert allowed("globex-1", "/ORDERS/1.0/x", "GET") and not allowed("globex-1", "/ORDERS/1.0/x", "POST")
    assert allowed("initech-1", "/ORDERS/1.0/x", "POST") and allowed("initech-1", "/ORDERS/1.0/x", "GET")
    assert allowed("acme-1", "/project/SALES/QUOTE/1.0/q", "GET")
    assert not allowed("globex-1", "/project/SALES/QUOTE/1.0/q", "GET")
    assert _console(folder, "local.subscribers", VENDORS_TFVARS) == {
        "legacy": {"client_ids": ["legacy-1"], "usage_plan": "bronze"},
        "acme": {"client_ids": ["acme-1", "acme-2"], "usage_plan": "gold"},
        "globex": {"client_ids": ["globex-1"], "usage_plan": "bronze"},
        "initech": {"client_ids": ["initech-1"], "usage_plan": "bronze"},
    }
    # Removing a vendor is one line: its rules and subscriber go with it; no integrations, no policy.
    one_less = "\n".join(line for line in VENDORS_TFVARS.splitlines() if not line.startswith("  initech ="))
    rules = json.loads(_console(folder, "local.access_policy", one_less))["rules"]
    assert [r["name"] for r in rules] == ["HELLO_WORLD-1.0", "ORDERS-1.0-GET", "project-SALES-QUOTE-1.0"]
    assert _console(folder, "local.access_policy", 'vendors = { a = { client_ids = ["a"] } }') == ""
    given = '{"rules": [{"name": "x", "path": "/ORDERS/*", "scopes": ["s"]}]}'
    assert _console(folder, "local.access_policy", f"access_policy = {json.dumps(given)}") == given
    # A created client app (create_identity_apps) counts as one of the vendor's clients.
    (tmp_path / "created").mkdir()
    folder2 = _vendor_module(tmp_path / "created", {"acme": "acme-app"})
    assert _terraform(folder2, "init", "-input=false").returncode == 0
    assert _console(folder2, "local.vendor_client_ids", VENDORS_TFVARS)["acme"] == ["acme-1", "acme-2", "acme-app"]


@pytest.mark.parametrize(("vendors", "extra", "message"), [
    ('{ "1bad" = { client_ids = ["c"] } }', "", "each name is a letter"),
    ('{ a = { client_ids = ["1", "2", "3", "4", "5", "6"] } }', "", "at most 5 clients"),
    ("{ a = {} }", "", "give each vendor its client_ids"),
    ('{ a = { client_ids = ["c"], integrations = ["NOPE/1.0"] } }', "", "not in the integrations list"),
    ('{ a = { client_ids = ["c"], integrations = ["SALES/QUOTE/1.0"] } }', "", "not in the integrations list"),
    ('{ a = { client_ids = ["c"], integrations = ["ORDERS/1.0"], methods = { "ORDERS/1.0" = ["DELETE"] } } }',
     'topology = "function-backend"', "some of the methods the list gives"),
    ('{ a = { client_ids = ["c"], integrations = ["ORDERS/1.0"], methods = { "ORDERS/1.0" = ["GET"] } } }',
     'topology = "authorizer-context"', "methods needs the function-backend or usage-plans topology"),
    ('{ a = { client_ids = ["c"], usage_plan = "gold" } }', "", "usage_plan names a key of usage_plans"),
    ('{ a = { client_ids = ["1", "2", "3", "4", "5"] } }', "create_identity_apps = true", "at most 5 clients"),
    ("{ a = {} }", "create_identity_apps = true", None),
    ('{ a = { client_ids = ["c"] } }', 'topology = "usage-plans"', "give each vendor its usage_plan"),
    ('{ a = { client_ids = ["c"], integrations = ["ORDERS/1.0"] } }',
     'access_policy = "{\\"rules\\": []}"', "give the rules in one place"),
    ('{ a = { client_ids = ["c"], integrations = ["ORDERS/1.0"], methods = { "ORDERS/1.0" = ["GET"] } } }',
     'topology = "usage-plans"\nusage_plans = { g = { requests_per_second = 1 } }\n'
     'subscribers = { a = { client_ids = ["x"], usage_plan = "g" } }',
     None),
])
def test_vendors_are_validated_at_plan_time(tmp_path: Any, vendors: str, extra: str, message: str | None) -> None:
    folder = _vendor_module(tmp_path)
    assert _terraform(folder, "init", "-input=false").returncode == 0
    (folder / "terraform.tfvars").write_text(f"vendors = {vendors}\n{extra}\n")
    result = _terraform(folder, "plan", "-input=false")
    output = " ".join((result.stdout + result.stderr).split())
    assert (result.returncode != 0) == (message is not None), output
    if message:
        assert message in output, output


def test_identity_apps_grant_what_the_chain_needs_and_secrets_leave_only_as_sensitive_outputs() -> None:
    """create_identity_apps: the gateway's resource server holds the audience and scopes the functions check; each
    vendor's app and the OIC app are confidential clients with client_credentials only, allowed the gateway's
    scopes and OIC's scope respectively; the grant is OIC's ServiceInvoker app role, to the OIC app; a client secret
    appears only in a sensitive output and in the Vault secret."""
    resources = _resources()
    identity = (DEPLOY / "terraform" / "identity.tf").read_text()
    gateway, vendor, oic = (resources[f"oci_identity_domains_app.{name}"]
                            for name in ("gateway", "vendor", "oic_client"))
    assert gateway["is_oauth_resource"] is True and "local.gateway_audience" in str(gateway["audience"])
    assert 'gateway_audience = trimspace(split(",", var.token_audiences)[0])' in identity
    assert 'gateway_scopes   = compact(split(" ", var.required_scopes))' in identity
    for app in (vendor, oic):
        assert app["client_type"] == '"confidential"' and app["is_oauth_client"] is True
        assert app["allowed_grants"] == ['"client_credentials"']
    assert '"${local.gateway_audience}${allowed_scopes.value}"' in str(vendor["dynamic"])
    assert "var.oic_scope" in str(oic["allowed_scopes"])
    grant = resources["oci_identity_domains_grant.oic_service_invoker"]
    assert grant["grant_mechanism"] == '"ADMINISTRATOR_TO_APP"' and grant["grantee"][0]["type"] == '"App"'
    assert grant["entitlement"][0]["attribute_name"] == '"appRoles"'
    assert 'displayName eq \\"ServiceInvoker\\"' in identity
    main = (DEPLOY / "terraform" / "main.tf").read_text()
    assert "OIC_CLIENT_ID          = local.oic_client_id" in main
    assert "content      = base64encode(local.oic_client_secret)" in main
    outputs = _blocks(_hcl(DEPLOY / "terraform" / "outputs.tf"), "output")
    for name, body in outputs.items():
        assert ("client_secret" in str(body["value"])) == (name == "vendor_credentials"), name
    assert outputs["vendor_credentials"]["sensitive"] is True
