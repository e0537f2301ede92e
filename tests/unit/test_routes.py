"""One route per integration, from one list: the generator (ops.routes), the
list's rules (oic_gateway.access.integrations), and the committed
specifications being exactly what the generator writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oic_gateway.access.integrations import (
    LIMITS_PAGE,
    MAX_ROUTES,
    Integration,
    integrations_from_env,
    parse_integrations,
)
from oic_gateway.access.paths import integration_path
from oic_gateway.errors import ConfigError
from ops import routes


def problem(document: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_integrations("LIST", document)
    return caught.value.problem


def test_the_committed_specifications_are_what_the_generator_writes() -> None:
    """`make routes` regenerates them; nobody edits them by hand."""
    for path, text in routes.outputs(routes.INTEGRATIONS_FILE, routes.DEPLOY).items():
        assert path.read_text() == text, f"{path.name} is stale: run make routes"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    assert routes.main(["--out", str(tmp_path)]) == 0
    assert routes.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / routes.TARGETS[0]).write_text("{}")
    assert routes.main(["--out", str(tmp_path), "--check"]) == 1


def test_gen2_and_project_shapes() -> None:
    gen2 = Integration("HELLO_WORLD", "1.0", ("GET",))
    assert gen2.route_path == "/HELLO_WORLD/1.0/{rest*}"
    assert gen2.scope == "oic:HELLO_WORLD/1.0"
    assert routes.route(gen2)["backend"]["url"] == (
        "https://<oic-host>/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0/${request.path[rest]}")
    project = Integration("HELLO", "1.0", ("POST",), "P")
    assert project.route_path == "/project/P/HELLO/1.0/{rest*}"
    assert project.scope == "oic:project/P/HELLO/1.0"
    assert routes.route(project)["backend"]["url"] == (
        "https://<oic-host>/ic/api/integration/v2/flows/rest/project/P/HELLO/1.0/${request.path[rest]}")
    assert routes.route(project)["requestPolicies"]["authorization"] == {
        "type": "ANY_OF", "allowedScope": ["oic:project/P/HELLO/1.0"]}


def test_the_specification_passes_the_token_alone() -> None:
    spec = routes.specification((Integration("A", "1", ("GET",)),))
    authentication = spec["requestPolicies"]["authentication"]
    assert authentication["parameters"] == {"token": "request.headers[Authorization]"}
    assert authentication["cacheKey"] == ["token"]
    assert "oic_path" not in json.dumps(spec)


def test_more_routes_than_oci_allows_are_refused() -> None:
    entries = [{"integration": f"I{n}", "version": "1.0", "methods": ["GET"]} for n in range(MAX_ROUTES + 1)]
    assert len(parse_integrations("LIST", {"integrations": entries[:MAX_ROUTES]})) == MAX_ROUTES
    refused = problem({"integrations": entries})
    assert "at most 50 routes" in refused and LIMITS_PAGE in refused


def test_generator_refuses_more_than_fifty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = [{"integration": f"I{n}", "version": "1.0", "methods": ["GET"]} for n in range(MAX_ROUTES + 1)]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"integrations": entries}))
    assert routes.main(["--integrations", str(listed), "--out", str(tmp_path)]) == 2
    assert "at most 50 routes" in capsys.readouterr().err
    assert not (tmp_path / routes.TARGETS[0]).exists()


@pytest.mark.parametrize(("document", "expected"), [
    ([], 'must be {"integrations": [...]}'),
    ({"integrations": [], "x": 1}, 'must be {"integrations": [...]}'),
    ({"integrations": []}, "lists no integration"),
    ({"integrations": ["x"]}, "integration #1 is not an object"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["GET"], "path": "/x"}]},
     "integration #1: unknown member(s) path"),
    ({"integrations": [{"integration": "../A", "version": "1.0", "methods": ["GET"]}]},
     "integration #1: 'integration' must be upper-case letters, digits, '_' or '-' (e.g. HELLO_WORLD)"),
    ({"integrations": [{"integration": "orders", "version": "1.0", "methods": ["GET"]}]},
     "integration #1: 'integration' must be upper-case letters, digits, '_' or '-' (e.g. HELLO_WORLD)"),
    ({"integrations": [{"integration": "A", "version": "01.00.0000", "methods": ["GET"]}]},
     "integration #1: 'version' must be MAJOR.0 without leading zeros (e.g. 1.0, as OIC's REST trigger URLs carry "
     "it)"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["GET"], "project": "sales"}]},
     "integration #1: 'project' must be upper-case letters, digits, '_' or '-'"),
    ({"integrations": [{"integration": "A", "version": "1.x", "methods": ["GET"]}]},
     "integration #1: 'version' must be MAJOR.0 without leading zeros (e.g. 1.0, as OIC's REST trigger URLs carry "
     "it)"),
    ({"integrations": [{"integration": "A", "version": "1.1", "methods": ["GET"]}]},
     "integration #1: 'version' must be MAJOR.0 without leading zeros (e.g. 1.0, as OIC's REST trigger URLs carry "
     "it)"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["GET"], "project": "a/b"}]},
     "integration #1: 'project' must be upper-case letters, digits, '_' or '-'"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["get"]}]},
     "integration #1: 'methods' must be a non-empty list of distinct upper-case methods of "
     "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["ANY"]}]},
     "integration #1: 'methods' must be a non-empty list of distinct upper-case methods of "
     "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
    ({"integrations": [{"integration": "A", "version": "1.0", "methods": ["GET"]}] * 2}, "lists /A/1.0/ twice"),
    ({"integrations": [{"integration": "PROJECT", "version": "1.0", "methods": ["GET"]}]},
     "integration #1: an integration outside a project cannot be named 'PROJECT': the first path segment "
     "'project' starts the OIC 3 project shape"),
])
def test_malformed_lists_are_refused(document: object, expected: str) -> None:
    assert problem(document) == expected


def test_the_authorizer_setting() -> None:
    assert integrations_from_env({}) is None
    listed = json.dumps({"integrations": [{"integration": "A", "version": "1.0", "methods": ["GET"]}]})
    assert integrations_from_env({"GATEWAY_INTEGRATIONS": listed}) == (Integration("A", "1.0", ("GET",)),)
    with pytest.raises(ConfigError) as caught:
        integrations_from_env({"GATEWAY_INTEGRATIONS": "{"})
    assert caught.value.key == "GATEWAY_INTEGRATIONS"


def test_the_shipped_list_is_what_the_authorizer_reads() -> None:
    text = routes.INTEGRATIONS_FILE.read_text()
    assert integrations_from_env({"GATEWAY_INTEGRATIONS": text}) == routes.load(routes.INTEGRATIONS_FILE)


def test_a_route_prefix_is_the_path_rule_canonical_form() -> None:
    """Access rules match the canonical path (access.paths); a route's prefix is written in that same form,
    so /project/SALES/* names the project's routes as it names its paths."""
    for item in routes.load(routes.INTEGRATIONS_FILE):
        checked = integration_path(item.path_prefix + "x")
        assert checked.canonical == item.path_prefix + "x"
        assert checked.project == item.project and (checked.integration, checked.version) == (
            item.integration, item.version)
    assert Integration("project", "1.0", ("GET",), "P").path_prefix == "/project/P/project/1.0/"


def test_no_header_list_names_a_protected_header() -> None:
    """A transformation cannot touch a protected header (docs/oci-fidelity.md): Retry-After passes anyway."""
    from local.gateway import PROTECTED_REQUEST, PROTECTED_RESPONSE
    route = routes.route(Integration("A", "1", ("GET",)))
    request = route["requestPolicies"]["headerTransformations"]
    response = route["responsePolicies"]["headerTransformations"]["filterHeaders"]["items"]
    named = {item["name"].lower() for item in request["filterHeaders"]["items"] + request["setHeaders"]["items"]}
    assert not named & PROTECTED_REQUEST
    assert not {item["name"].lower() for item in response} & PROTECTED_RESPONSE
    assert "retry-after" not in {item["name"].lower() for item in response}


def test_routes_block_the_query_parameters_oic_reads() -> None:
    from local.gateway import _filter_query

    policy = routes.route(Integration("A", "1.0", ("GET",)))["requestPolicies"]["queryParameterTransformations"]
    assert policy == {"filterQueryParameters": {"type": "BLOCK",
                                                "items": [{"name": "integrationInstance"}, {"name": "wsdl"}]}}
    query = "integrationInstance=x&a=%41&INTEGRATIONINSTANCE=y&wsdl&integration%49nstance=z&wsdl%3D1&b"
    # The local gateway compares names exactly and undecoded on the raw query (OCI's matching is undocumented):
    # other spellings pass, and what passes is forwarded as sent.
    assert _filter_query(policy, query) == "a=%41&INTEGRATIONINSTANCE=y&integration%49nstance=z&wsdl%3D1&b"
    allow = {"filterQueryParameters": {"type": "ALLOW", "items": [{"name": "a"}]}}
    assert _filter_query(allow, query) == "a=%41"
    assert _filter_query(None, query) == query and _filter_query(policy, "") == ""


METHODS_PROBLEM = ("'methods' must be a non-empty list of distinct upper-case methods of "
                   "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")


@pytest.mark.parametrize("methods", [[], ["GET", "GET"], ["GET", "POST", "GET"], "GET", None])
def test_methods_must_be_a_non_empty_list_of_distinct_methods(methods: object) -> None:
    entry = {"integration": "A", "version": "1.0", "methods": methods}
    assert problem({"integrations": [entry]}) == "integration #1: " + METHODS_PROBLEM


def test_a_wrong_entry_is_named_by_its_place_in_the_list() -> None:
    good = {"integration": "A", "version": "1.0", "methods": ["GET"]}
    for number in (2, 3, 4):
        entries = [dict(good, integration=f"I{n}") for n in range(number - 1)] + [{"integration": "x"}]
        assert problem({"integrations": entries}).startswith(f"integration #{number}: ")


def test_only_project_itself_is_reserved_outside_a_project() -> None:
    listed = parse_integrations("LIST", {"integrations": [
        {"integration": name, "version": "1.0", "methods": ["GET"]} for name in ("QUOTE", "ZED", "PROJECTS")]})
    assert [item.integration for item in listed] == ["QUOTE", "ZED", "PROJECTS"]


def test_an_entry_cannot_be_changed() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Integration("A", "1.0", ("GET",)).version = "2.0"  # type: ignore[misc]
