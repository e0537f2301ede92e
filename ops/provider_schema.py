"""Extract the attribute tree of the oracle/oci Terraform provider's resources from its Go source.

`terraform init` cannot download the provider here, so the provider's own schema definitions
(internal/service/<service>/<service>_<resource>_resource.go, `map[string]*schema.Schema{ "name": {...} }`)
are read from a git checkout of oracle/terraform-provider-oci and stored as
tests/unit/data/oci_provider_schema.json, which tests/unit/test_deploy.py checks every attribute of
deploy/terraform/*.tf against.

    python -m ops.provider_schema <git dir of terraform-provider-oci> [--commit HEAD]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "unit" / "data" / "oci_provider_schema.json"

# resource type -> its source file under internal/service/
SOURCES = {
    "oci_apigateway_certificate": "apigateway/apigateway_certificate_resource.go",
    "oci_apigateway_deployment": "apigateway/apigateway_deployment_resource.go",
    "oci_apigateway_gateway": "apigateway/apigateway_gateway_resource.go",
    "oci_apigateway_subscriber": "apigateway/apigateway_subscriber_resource.go",
    "oci_apigateway_usage_plan": "apigateway/apigateway_usage_plan_resource.go",
    "oci_core_internet_gateway": "core/core_internet_gateway_resource.go",
    "oci_core_nat_gateway": "core/core_nat_gateway_resource.go",
    "oci_core_network_security_group": "core/core_network_security_group_resource.go",
    "oci_core_network_security_group_security_rule": "core/core_network_security_group_security_rule_resource.go",
    "oci_core_route_table": "core/core_route_table_resource.go",
    "oci_core_security_list": "core/core_security_list_resource.go",
    "oci_core_service_gateway": "core/core_service_gateway_resource.go",
    "oci_core_subnet": "core/core_subnet_resource.go",
    "oci_core_vcn": "core/core_vcn_resource.go",
    "oci_functions_application": "functions/functions_application_resource.go",
    "oci_functions_function": "functions/functions_function_resource.go",
    "oci_identity_compartment": "identity/identity_compartment_resource.go",
    "oci_identity_domains_app": "identity_domains/identity_domains_app_resource.go",
    "oci_identity_domains_grant": "identity_domains/identity_domains_grant_resource.go",
    "oci_identity_dynamic_group": "identity/identity_dynamic_group_resource.go",
    "oci_identity_policy": "identity/identity_policy_resource.go",
    "oci_logging_log": "logging/logging_log_resource.go",
    "oci_logging_log_group": "logging/logging_log_group_resource.go",
    "oci_monitoring_alarm": "monitoring/monitoring_alarm_resource.go",
    "oci_ons_notification_topic": "ons/ons_notification_topic_resource.go",
    "oci_ons_subscription": "ons/ons_subscription_resource.go",
    "oci_vault_secret": "vault/vault_secret_resource.go",
    # data sources
    "data.oci_core_services": "core/core_services_data_source.go",
    "data.oci_identity_domains_app_roles": "identity_domains/identity_domains_app_roles_data_source.go",
}

SCHEMA_MAP = re.compile(r"map\[string\]\*schema\.Schema\{")
KEY = re.compile(r'"([a-z0-9_]+)":\s*\{')


def attribute_paths(source: str) -> list[str]:
    """Dotted paths of every attribute of the resource's schema, nested blocks included."""
    start = SCHEMA_MAP.search(source)
    if not start:
        return []
    paths: set[str] = set()
    stack: list[tuple[str, str | None]] = [("map", None)]  # (kind, attribute name)
    i = start.end()
    while i < len(source) and stack:
        char = source[i]
        if char == '"':  # a Go string: skip it, or read an attribute key
            match = KEY.match(source, i)
            if match and stack[-1][0] == "map":
                name = match.group(1)
                paths.add(".".join([n for _, n in stack if n] + [name]))
                stack.append(("attr", name))
                i = match.end()
                continue
            end = i + 1
            while source[end] != '"':
                end += 2 if source[end] == "\\" else 1
            i = end + 1
            continue
        if char == "`":
            i = source.index("`", i + 1) + 1
            continue
        if char == "/" and source.startswith("//", i):
            i = source.index("\n", i)
            continue
        match = SCHEMA_MAP.match(source, i)
        if match:
            stack.append(("map", None))
            i = match.end()
            continue
        if char == "{":
            stack.append(("other", None))
        elif char == "}":
            stack.pop()
        i += 1
    return sorted(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir")
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    git = ["git", "--git-dir", args.git_dir]
    commit = subprocess.run([*git, "rev-parse", args.commit], capture_output=True, text=True,  # noqa: S603
                            check=True).stdout.strip()
    resources = {}
    for kind, path in sorted(SOURCES.items()):
        source = subprocess.run([*git, "show", f"{commit}:internal/service/{path}"], capture_output=True, text=True,  # noqa: S603
                                check=True).stdout
        resources[kind] = {"source": f"internal/service/{path}", "attributes": attribute_paths(source)}
    OUT.write_text(json.dumps({"provider": "oracle/terraform-provider-oci", "commit": commit,
                               "resources": resources}, indent=1) + "\n")
    print(f"{OUT}: {len(resources)} resources at {commit}")


if __name__ == "__main__":
    main()
