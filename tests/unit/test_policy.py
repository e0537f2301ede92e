"""Per-integration access rules, pure: reading ACCESS_POLICY and each rule of a
decision on its own (the table beside the fdk tests is in test_beyond; the
path rule the paths pass first is pinned in test_paths)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oic_gateway.access.paths import integration_path
from oic_gateway.access.policy import MAX_RULES, AccessPolicy, access_policy_from_env, decide_integration
from oic_gateway.errors import ConfigError, InsufficientScope, InvalidRequest
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.issuers import IssuerConfig


def policy(*rules: dict[str, Any]) -> AccessPolicy:
    result = access_policy_from_env({"ACCESS_POLICY": json.dumps({"rules": list(rules)})})
    assert result is not None
    return result


def caller(scopes: tuple[str, ...] = (), client_id: str | None = "app") -> Claims:
    return Claims("sub", client_id, scopes, 0.0, 0.0, None, "iss", {})


def verdict(p: AccessPolicy, path: str | None, method: str | None = None, who: Claims | None = None) -> str:
    try:
        return p.decide(who or caller(), integration_path(path) if path is not None else None, method)
    except (InsufficientScope, InvalidRequest) as refused:
        return refused.reason


def config_problem(document: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        access_policy_from_env({"ACCESS_POLICY": json.dumps(document)})
    assert caught.value.key == "ACCESS_POLICY"
    return caught.value.problem


def test_no_policy_means_none():
    assert access_policy_from_env({}) is None


def test_rule_count_limit_is_exact():
    assert MAX_RULES == 64
    rules = [{"name": f"r{i}", "path": f"/R{i}/*"} for i in range(64)]
    assert len(policy(*rules).rules) == 64
    problem = config_problem({"rules": [*rules, {"name": "r64", "path": "/R64/*"}]})
    assert problem == 'must be {"rules": [...]} with 1 to 64 rules'
    assert config_problem({"rules": []}) == problem
    assert config_problem({"rules": {"name": "x"}}) == problem
    assert config_problem([{"name": "x", "path": "/x"}]) == problem


@pytest.mark.parametrize(
    "rule, problem",
    [
        ("text", "rule #1 is not an object"),
        ({"name": "a", "path": "/a", "scope": ["x"]}, "rule #1: unknown member(s) scope"),
        ({"name": "a", "path": "/a", "x": 1, "b": 2}, "rule #1: unknown member(s) b, x"),
        ({"path": "/a"}, "rule #1: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ({"name": "", "path": "/a"}, "rule #1: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ({"name": "a b", "path": "/a"}, "rule #1: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ({"name": "n" * 65, "path": "/a"}, "rule #1: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ({"name": 7, "path": "/a"}, "rule #1: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ({"name": "a"}, "rule a: 'path' must be a pattern starting with /, e.g. /HELLO_WORLD/*"),
        ({"name": "a", "path": "a/*"}, "rule a: 'path' must be a pattern starting with /, e.g. /HELLO_WORLD/*"),
        ({"name": "a", "path": 7}, "rule a: 'path' must be a pattern starting with /, e.g. /HELLO_WORLD/*"),
        ({"name": "a", "path": "/a", "methods": []}, "rule a: 'methods' is empty (leave it out to match any method)"),
        ({"name": "a", "path": "/a", "methods": "GET"}, "rule a: 'methods' must be a list of strings"),
        ({"name": "a", "path": "/a", "scopes": "x"}, "rule a: 'scopes' must be a list of strings"),
        ({"name": "a", "path": "/a", "scopes": ["x", ""]}, "rule a: 'scopes' must be a list of strings"),
        ({"name": "a", "path": "/a", "client_ids": [1]}, "rule a: 'client_ids' must be a list of strings"),
    ],
)
def test_each_rule_error_names_the_rule_and_the_problem(rule, problem):
    assert config_problem({"rules": [rule]}) == problem


def test_rule_numbers_count_from_one():
    assert config_problem({"rules": [{"name": "a", "path": "/a"}, "x"]}) == "rule #2 is not an object"


def test_names_up_to_64_characters():
    assert policy({"name": "N-._" + "n" * 60, "path": "/a"}).rules[0].name == "N-._" + "n" * 60


def test_patterns_are_literal_except_the_star():
    p = policy({"name": "dots", "path": "/A/1.0"}, {"name": "dot", "path": "/D/1.0/x.y"},
               {"name": "star", "path": "/S/*/x"})
    assert verdict(p, "/A/1.0") == "dots"
    assert verdict(p, "/D/1.0/xzy") == "policy_no_rule"  # the dot is literal
    assert verdict(p, "/A/1.0/more") == "policy_no_rule"  # the whole path must match
    assert verdict(p, "/S/1.0/b/x") == "star"  # * crosses slashes
    assert verdict(p, "/S/1.0/x") == "star"
    assert verdict(p, "/S/1.0/x/x") == "star"
    assert verdict(p, "/S/1.0/y") == "policy_no_rule"


def test_rules_match_the_canonical_path():
    p = policy({"name": "a", "path": "/A/1.0/b~c"})
    for path in ("A/1.0/b%7Ec", "/A/1.0/b%7ec", "/A/1.0/b~c"):
        assert verdict(p, path) == "a"


def test_a_policy_without_the_path_argument_cannot_decide_a_request():
    p = policy({"name": "a", "path": "/*"})
    with pytest.raises(InvalidRequest) as caught:
        p.decide(caller(), None, "GET")
    assert caught.value.reason == "policy_without_path"


def test_methods_are_case_insensitive_and_required_when_listed():
    p = policy({"name": "get", "path": "/A/*", "methods": ["get", "Head"]}, {"name": "any", "path": "/B/*"})
    for method in ("GET", "get", "HEAD", "head"):
        assert verdict(p, "/A/1.0/x", method) == "get"
    assert verdict(p, "/A/1.0/x", "POST") == "policy_no_rule"
    assert verdict(p, "/A/1.0/x") == "policy_no_rule"
    for method in ("POST", "DELETE"):
        assert verdict(p, "/B/1.0/x", method) == "any"
    assert verdict(p, "/B/1.0/x") == "any"


def test_scopes_and_client_ids_are_any_of():
    p = policy({"name": "a", "path": "/A/*", "scopes": ["s1", "s2"], "client_ids": ["c1", "c2"]})
    assert verdict(p, "/A/1.0/x", who=caller(("x", "s2"), "other")) == "a"
    assert verdict(p, "/A/1.0/x", who=caller((), "c2")) == "a"
    assert verdict(p, "/A/1.0/x", who=caller(("x",), "other")) == "policy_denied"
    assert verdict(p, "/A/1.0/x", who=caller((), None)) == "policy_denied"
    scopes_only = policy({"name": "s", "path": "/A/*", "scopes": ["s1"]})
    assert verdict(scopes_only, "/A/1.0/x", who=caller(("s1",), None)) == "s"
    assert verdict(scopes_only, "/A/1.0/x", who=caller((), "s1")) == "policy_denied"
    clients_only = policy({"name": "c", "path": "/A/*", "client_ids": ["c1"]})
    assert verdict(clients_only, "/A/1.0/x", who=caller((), "c1")) == "c"
    assert verdict(clients_only, "/A/1.0/x", who=caller(("c1",), "x")) == "policy_denied"


def test_a_rule_with_neither_lets_any_valid_token_through():
    p = policy({"name": "open", "path": "/A/*"})
    assert verdict(p, "/A/1.0/x", who=caller((), None)) == "open"


def test_the_first_matching_rule_decides_even_when_it_refuses():
    p = policy({"name": "first", "path": "/A/*", "scopes": ["admin"]}, {"name": "second", "path": "/A/*"})
    with pytest.raises(InsufficientScope) as caught:
        p.decide(caller(("user",)), integration_path("/A/1.0/x"))
    assert caught.value.reason == "policy_denied" and "first" in str(caught.value)
    assert verdict(p, "/A/1.0/x", who=caller(("admin",))) == "first"
    with pytest.raises(InsufficientScope) as none:
        p.decide(caller(("admin",)), integration_path("/B/1.0/x"))
    assert none.value.reason == "policy_no_rule"


def test_rules_keep_their_order_and_sets():
    p = policy({"name": "b", "path": "/B", "methods": ["post"], "scopes": ["s"]}, {"name": "a", "path": "/A"})
    first = p.rules[0]
    assert [r.name for r in p.rules] == ["b", "a"]
    assert first.methods == frozenset({"POST"}) and first.scopes == {"s"} and first.client_ids == frozenset()
    assert p.rules[1].methods is None


def test_rules_and_policies_are_immutable():
    import dataclasses

    p = policy({"name": "a", "path": "/A/*"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.rules = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.rules[0].scopes = frozenset({"x"})  # type: ignore[misc]


# -- whose scopes and client ids a rule means (several trusted issuers) ------------


def issuer(name: str, jwks: str) -> IssuerConfig:
    return IssuerConfig(name, jwks, None, frozenset({"aud"}), frozenset({"RS256"}))


IDCS = issuer("https://idcs/", "https://idcs/jwk")
ENTRA = issuer("https://entra/", "https://entra/keys")
SAME_KEYS = issuer("https://idcs-alias/", "https://idcs/jwk")  # another name, the same key source


def policy_for(trusted: list[IssuerConfig], *rules: dict[str, Any]) -> AccessPolicy:
    result = access_policy_from_env({"ACCESS_POLICY": json.dumps({"rules": list(rules)})}, trusted)
    assert result is not None
    return result


def problem_for(trusted: list[IssuerConfig], *rules: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        policy_for(trusted, *rules)
    return caught.value.problem


def test_with_several_key_sources_a_granting_rule_must_say_whose_names_it_means():
    for grant in ({"scopes": ["s"]}, {"client_ids": ["c"]}):
        assert problem_for([IDCS, ENTRA], {"name": "r", "path": "/A/*", **grant}) == (
            "rule r: several issuers are trusted; add 'issuers' to say whose scopes or client_ids it means "
            "(another issuer may use the same names)")
        assert policy_for([IDCS, ENTRA], {"name": "r", "path": "/A/*", "issuers": [IDCS.issuer], **grant})
        assert policy_for([IDCS, SAME_KEYS], {"name": "r", "path": "/A/*", **grant})  # one key source
        assert policy_for([IDCS], {"name": "r", "path": "/A/*", **grant})
        assert policy_for([], {"name": "r", "path": "/A/*", **grant})
    assert policy_for([IDCS, ENTRA], {"name": "open", "path": "/A/*"})  # grants nothing by name


def test_issuers_must_be_trusted_ones():
    untrusted = "rule r: 'issuers' names an issuer that is not trusted"
    assert problem_for([IDCS, ENTRA], {"name": "r", "path": "/A/*", "issuers": ["https://other/"]}) == untrusted
    assert problem_for([IDCS, ENTRA], {"name": "r", "path": "/A/*", "issuers": [IDCS.issuer, "https://x/"]}) \
        == untrusted
    assert problem_for([IDCS], {"name": "ok", "path": "/B/*"}, {"name": "r", "path": "/A/*", "issuers": ["x"]}) \
        == untrusted  # every rule is checked, not only the first
    both = policy_for([IDCS, ENTRA], {"name": "r", "path": "/A/*", "issuers": [IDCS.issuer, ENTRA.issuer]})
    assert both.rules[0].issuers == frozenset({IDCS.issuer, ENTRA.issuer})
    assert policy_for([], {"name": "r", "path": "/A/*", "issuers": ["anyone"]})  # no list to check against
    assert problem_for([IDCS], {"name": "r", "path": "/A/*", "issuers": []}) == (
        "rule r: 'issuers' is empty (leave it out to mean any issuer)")
    assert policy_for([IDCS], {"name": "r", "path": "/A/*"}).rules[0].issuers is None


def test_a_rule_grants_only_to_tokens_of_its_issuers():
    p = policy_for([IDCS, ENTRA], {"name": "idcs", "path": "/A/*", "client_ids": ["app"], "issuers": [IDCS.issuer]})
    from_idcs = Claims("sub", "app", (), 0.0, 0.0, None, IDCS.issuer, {})
    from_entra = Claims("sub", "app", (), 0.0, 0.0, None, ENTRA.issuer, {})
    assert p.decide(from_idcs, integration_path("/A/1.0/x")) == "idcs"
    with pytest.raises(InsufficientScope):
        p.decide(from_entra, integration_path("/A/1.0/x"))
    anyone = policy_for([IDCS, ENTRA], {"name": "any", "path": "/A/*", "issuers": [IDCS.issuer]})
    with pytest.raises(InsufficientScope):
        anyone.decide(from_entra, integration_path("/A/1.0/x"))  # issuers bind even a rule that names no grant


# -- OIC 3 projects --------------------------------------------------------------------------------


def test_rules_name_a_project_an_integration_in_it_or_a_gen2_integration_apart():
    p = policy({"name": "gen2-orders", "path": "/ORDERS/*"},
               {"name": "sales-orders", "path": "/project/SALES/ORDERS/*"},
               {"name": "hr", "path": "/project/HR/*"})
    assert verdict(p, "/ORDERS/1.0/new") == "gen2-orders"
    assert verdict(p, "/project/SALES/ORDERS/1.0/new") == "sales-orders"
    assert verdict(p, "/project/HR/PAYROLL/1.0/run") == "hr"
    assert verdict(p, "/project/HR/ORDERS/1.0/new") == "hr"
    # The Gen2 rule is not a rule for ORDERS inside any project, and a project rule is not one for Gen2 paths.
    assert verdict(p, "/project/OTHER/ORDERS/1.0/new") == "policy_no_rule"
    assert verdict(p, "/SALES/1.0/ORDERS") == "policy_no_rule"
    assert verdict(p, "/HR/1.0/x") == "policy_no_rule"


def test_a_gen2_rule_denies_nothing_in_a_project_and_grants_nothing_there():
    p = policy({"name": "orders-partner", "path": "/ORDERS/*", "client_ids": ["partner-app"]},
               {"name": "sales", "path": "/project/SALES/*", "client_ids": ["sales-app"]})
    partner, sales = caller(client_id="partner-app"), caller(client_id="sales-app")
    assert verdict(p, "/ORDERS/1.0/x", who=partner) == "orders-partner"
    assert verdict(p, "/project/SALES/ORDERS/1.0/x", who=partner) == "policy_denied"
    assert verdict(p, "/project/SALES/ORDERS/1.0/x", who=sales) == "sales"
    assert verdict(p, "/ORDERS/1.0/x", who=sales) == "policy_denied"


@pytest.mark.parametrize("pattern", ["/PROJECT/SALES/*", "/Project/*", "/PROJECT"])
def test_a_pattern_with_another_spelling_of_project_is_refused(pattern):
    problem = config_problem({"rules": [{"name": "p", "path": pattern}]})
    assert problem.startswith("rule p: 'path' starts with /") and "in lower case" in problem


def test_a_catch_all_still_matches_both_shapes():
    p = policy({"name": "all", "path": "/*"})
    assert verdict(p, "/project/SALES/ORDERS/1.0/x") == verdict(p, "/ORDERS/1.0/x") == "all"


# -- a whole integration at once (one route per integration: no path) --------------

def whole(p: AccessPolicy, prefix: str, methods: tuple[str, ...] = ("GET", "POST"),
          who: Claims | None = None) -> tuple[bool, str | None, bool]:
    decision = decide_integration(p, who or caller(), prefix, frozenset(methods))
    return decision.granted, decision.rule, decision.partial


def test_a_covering_rule_decides_for_the_whole_route():
    p = policy({"name": "hello", "path": "/HELLO_WORLD/*", "scopes": ["s"]}, {"name": "all", "path": "/*"})
    assert whole(p, "/HELLO_WORLD/1.0/", who=caller(("s",))) == (True, "hello", False)
    # The first rule that could match decides; it does not fall through to /*.
    assert whole(p, "/HELLO_WORLD/1.0/", who=caller(("x",))) == (False, "hello", False)
    assert whole(p, "/ORDERS/1.0/") == (True, "all", False)


def test_rules_that_cannot_match_are_skipped():
    p = policy({"name": "orders", "path": "/ORDERS/1.0/*", "client_ids": ["partner"]},
               {"name": "v2", "path": "/HELLO/2.0/*"}, {"name": "lit", "path": "/HELLO/1.05/x"},
               {"name": "posts", "path": "/HELLO/*", "methods": ["DELETE"]}, {"name": "all", "path": "/*"})
    assert whole(p, "/HELLO/1.0/") == (True, "all", False)
    assert whole(p, "/ORDERS/1.0/") == (False, "orders", False)
    assert whole(p, "/ORDERS/1.0/", who=caller((), "partner")) == (True, "orders", False)


def test_a_rule_covering_part_of_a_route_refuses_it():
    sub_path = policy({"name": "new", "path": "/ORDERS/1.0/new", "client_ids": ["partner"]},
                      {"name": "all", "path": "/*"})
    assert whole(sub_path, "/ORDERS/1.0/", who=caller((), "partner")) == (False, "new", True)
    assert whole(sub_path, "/HELLO/1.0/") == (True, "all", False)
    sub_glob = policy({"name": "sub", "path": "/ORDERS/1.0/admin/*"}, {"name": "all", "path": "/*"})
    assert whole(sub_glob, "/ORDERS/1.0/") == (False, "sub", True)
    some_methods = policy({"name": "get", "path": "/ORDERS/*", "methods": ["GET"]})
    assert whole(some_methods, "/ORDERS/1.0/", ("GET", "POST")) == (False, "get", True)
    assert whole(some_methods, "/ORDERS/1.0/", ("GET",)) == (True, "get", False)
    inner_star = policy({"name": "star", "path": "/*/1.0/*"})
    assert whole(inner_star, "/ORDERS/1.0/") == (False, "star", True)  # fail closed: not provably whole
    bare = policy({"name": "bare", "path": "/ORDERS/1.0"}, {"name": "all", "path": "/*"})
    assert whole(bare, "/ORDERS/1.0/") == (False, "bare", True)  # a route may serve its bare prefix


def test_no_rule_that_could_match_refuses():
    p = policy({"name": "hello", "path": "/HELLO_WORLD/*"})
    assert whole(p, "/ORDERS/1.0/") == (False, None, False)


def test_project_prefixes():
    p = policy({"name": "sales", "path": "/project/SALES/*", "scopes": ["s"]},
               {"name": "quote", "path": "/project/OPS/QUOTE/*"})
    assert whole(p, "/project/SALES/QUOTE/1.0/", who=caller(("s",))) == (True, "sales", False)
    assert whole(p, "/project/OPS/QUOTE/1.0/") == (True, "quote", False)
    assert whole(p, "/project/OPS/OTHER/1.0/") == (False, None, False)


def test_a_gen2_rule_does_not_decide_a_project_route_nor_a_project_rule_a_gen2_one():
    p = policy({"name": "gen2-orders", "path": "/ORDERS/*", "client_ids": ["partner"]},
               {"name": "sales-orders", "path": "/project/SALES/ORDERS/*", "client_ids": ["sales"]})
    partner, sales = caller((), "partner"), caller((), "sales")
    assert whole(p, "/ORDERS/1.0/", who=partner) == (True, "gen2-orders", False)
    assert whole(p, "/project/SALES/ORDERS/1.0/", who=partner) == (False, "sales-orders", False)
    assert whole(p, "/project/SALES/ORDERS/1.0/", who=sales) == (True, "sales-orders", False)
    assert whole(p, "/project/OTHER/ORDERS/1.0/", who=partner) == (False, None, False)


# Issue 17 §9: the rules must decide what OIC serves, not a spelling.
ISSUE_RULES = (
    {"name": "orders-new", "path": "/ORDERS/1.0/new", "client_ids": ["partner-app"]},
    {"name": "payroll", "path": "/PAYROLL/*", "client_ids": ["hr-app"]},
    {"name": "project-payroll", "path": "/project/HR/PAYROLL/*", "client_ids": ["hr-app"]},
    {"name": "orders-read", "path": "/ORDERS/2.0/*", "methods": ["GET"], "client_ids": ["partner-app"]},
    {"name": "everyone", "path": "/*", "scopes": ["oic-invoke"]},
)
OTHER = caller(("oic-invoke",), "other-app")


@pytest.mark.parametrize("path, method, outcome", [
    ("/ORDERS/1.0/new/", "POST", "policy_denied"),  # the trailing slash: decided by the restrictive rule
    ("/ORDERS/1.0/new", "POST", "policy_denied"),
    ("/ORDERS/01.00/new", "POST", "bad_path_version"),
    ("/ORDERS/1.00.0000/new", "POST", "bad_path_version"),
    ("/ORDERS/01.00.0000/new", "POST", "bad_path_version"),
    ("/orders/1.0/new", "POST", "bad_path_case"),
    ("/payroll/1.0/run", "POST", "bad_path_case"),
    ("/PAYROLL/1.0/run/", "POST", "policy_denied"),
    ("/PAYROLL/1.0", "GET", "policy_denied"),
    ("/project/hr/PAYROLL/1.0/run", "POST", "bad_path_case"),
    ("/project/HR/payroll/1.0/run", "POST", "bad_path_case"),
    ("/project/HR/PAYROLL/1.0/run/", "POST", "policy_denied"),
    ("/ORDERS/2.0/list", "HEAD", "policy_denied"),  # a GET rule covers HEAD
    ("/ORDERS/2.0/list", "head", "policy_denied"),
    ("/ORDERS/2.0/list", "GET", "policy_denied"),
    ("/ORDERS/2.0/list", "POST", "everyone"),  # what the GET rule does not name
    ("/ORDERS/1.0/other", "POST", "everyone"),
])
def test_no_other_spelling_reaches_the_catch_all(path: str, method: str, outcome: str) -> None:
    p = policy(*ISSUE_RULES)
    assert verdict(p, path, method, who=OTHER) == outcome


def test_the_restrictive_rules_still_grant_their_callers() -> None:
    p = policy(*ISSUE_RULES)
    assert verdict(p, "/ORDERS/1.0/new/", "POST", who=caller((), "partner-app")) == "orders-new"
    assert verdict(p, "/ORDERS/2.0/list", "HEAD", who=caller((), "partner-app")) == "orders-read"
    assert verdict(p, "/PAYROLL/1.0/run/", "POST", who=caller((), "hr-app")) == "payroll"


def test_a_rule_may_name_head_alone() -> None:
    p = policy({"name": "head", "path": "/A/*", "methods": ["HEAD"]}, {"name": "rest", "path": "/*", "scopes": ["x"]})
    assert verdict(p, "/A/1.0/x", "HEAD") == "head"
    assert verdict(p, "/A/1.0/x", "GET") == "policy_denied"  # HEAD does not cover GET


def test_a_pattern_ending_in_a_slash_is_refused() -> None:
    problem = config_problem({"rules": [{"name": "a", "path": "/ORDERS/1.0/new/"}]})
    assert problem.startswith("rule a: 'path' ends with '/'")


def test_a_final_slash_star_matches_the_bare_path() -> None:
    p = policy({"name": "orders", "path": "/ORDERS/1.0/*", "client_ids": ["partner-app"]},
               {"name": "everyone", "path": "/*"})
    assert verdict(p, "/ORDERS/1.0", "GET") == "policy_denied"
    assert verdict(p, "/ORDERS/1.0/", "GET") == "policy_denied"
    assert verdict(p, "/ORDERS/1.00", "GET") == "bad_path_version"


def test_head_is_get_for_a_route() -> None:
    get_rule = policy({"name": "get", "path": "/ORDERS/1.0/*", "methods": ["GET"], "client_ids": ["partner-app"]},
                      {"name": "everyone", "path": "/*"})
    partner = caller((), "partner-app")
    assert decide_integration(get_rule, partner, "/ORDERS/1.0/", frozenset({"GET", "HEAD"})).granted
    assert decide_integration(get_rule, OTHER, "/ORDERS/1.0/", frozenset({"HEAD"})).rule == "get"
    assert not decide_integration(get_rule, OTHER, "/ORDERS/1.0/", frozenset({"HEAD"})).granted
    assert decide_integration(get_rule, partner, "/ORDERS/1.0/", frozenset({"GET", "POST"})).partial


def test_another_minor_version_cannot_reach_a_catch_all_past_the_rule_for_its_major():
    """OIC serves one minor per major at ``MAJOR.0`` (1.1.0 at ``/HELLO_WORLD/1.0/``): ``/ORDERS/1.1/new``
    would name the same flow, so it is refused, never decided by ``/*`` after the ``/ORDERS/1.0/*`` rule."""
    p = policy({"name": "orders", "path": "/ORDERS/1.0/*", "client_ids": ["partner-app"]},
               {"name": "everyone", "path": "/*"})
    assert verdict(p, "/ORDERS/1.0/new", who=caller((), "other")) == "policy_denied"
    for aliased in ("/ORDERS/1.1/new", "/ORDERS/1.9/new", "/project/SALES/ORDERS/1.1/new"):
        assert verdict(p, aliased, who=caller((), "other")) == "bad_path_version"
    assert verdict(p, "/ORDERS/2.0/new", who=caller((), "other")) == "everyone"


def rule_of(glob: str) -> Any:
    return policy({"name": "r", "path": glob}).rules[0]


@pytest.mark.parametrize(("glob", "prefix", "covered"), [
    ("/A/*", "/A/", True), ("/A/*", "/A/1.0/", True),
    ("/A/*", "/B/", False), ("/A/*", "/AB/", False), ("/A/*", "/", False),  # not under the head, or above it
    ("/A/x", "/A/x/", False),  # no star: one path, never a whole prefix
    ("/A/*/x*", "/A/", False), ("/A/*/x*", "/A/1.0/", False),  # a star before the end: not every path
    ("/A/*/x*", "/A/*/x/", False), ("/A**", "/A*/", False),  # even under a prefix that spells the star out
])
def test_a_rule_covers_a_prefix_only_as_a_single_trailing_star_under_it(glob, prefix, covered):
    assert rule_of(glob).covers(prefix) is covered


@pytest.mark.parametrize(("glob", "prefix", "could"), [
    ("/A/*", "/A/1.0/", True), ("/A/*", "/", True), ("/A/1.0/x*", "/A/", True),
    ("/A/*", "/B/", False), ("/A*", "/B/", False),
    ("/A/x", "/A/x/", True),  # the route may serve its prefix without the slash (undocumented)
    ("/A/x", "/A/", True), ("/A/x", "/B/", False), ("/A/x", "/A/x/y/", False),
])
def test_a_rule_could_match_under_a_prefix_when_some_path_there_matches_it(glob, prefix, could):
    assert rule_of(glob).could_match_under(prefix) is could


def test_an_integration_decision_is_immutable():
    import dataclasses

    decision = decide_integration(policy({"name": "r", "path": "/A/*"}), caller(), "/A/1.0/", frozenset({"GET"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.granted = True  # type: ignore[misc]
