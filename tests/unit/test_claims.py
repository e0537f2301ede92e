import json

import pytest

from oic_gateway import errors
from oic_gateway.verification.claims import (
    MAX_AUDIENCES,
    MAX_CLAIM_STRING,
    MAX_SCOPE_STRING,
    ClaimRules,
    Claims,
    check_claims,
    check_scopes,
)
from tests.tokens import AUDIENCE, DROP, ISSUER, SCOPE, idcs_claims

NOW = 1_800_000_000.0
RULES = ClaimRules(
    issuers=frozenset({ISSUER}),
    audiences=frozenset({AUDIENCE}),
    required_scopes=frozenset({SCOPE}),
    leeway=60,
    max_lifetime=86400,
)


def claims(**overrides):
    base = idcs_claims(**overrides)
    if "iat" not in overrides:
        base["iat"] = NOW - 10
    if "exp" not in overrides:
        base["exp"] = NOW + 3600
    return base


def test_valid_idcs_claims():
    result = check_claims(claims(), RULES, NOW)
    assert result.sub == "vendor-app"
    assert result.client_id == "vendor-app"
    assert result.scopes == (SCOPE, "other.scope")


def test_audience_as_string():
    assert check_claims(claims(aud=AUDIENCE), RULES, NOW).sub == "vendor-app"


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"exp": NOW - 60}, errors.TokenExpired),  # exactly at exp + leeway: expired
        ({"exp": NOW - 61}, errors.TokenExpired),
        ({"nbf": NOW + 61}, errors.TokenNotYetValid),
        ({"iat": NOW + 61}, errors.TokenNotYetValid),
        ({"exp": DROP}, errors.InvalidClaims),
        ({"iat": DROP}, errors.InvalidClaims),
        ({"exp": "1800003600"}, errors.InvalidClaims),
        ({"exp": True}, errors.InvalidClaims),
        ({"exp": None}, errors.InvalidClaims),
        ({"exp": NOW + 86400 * 2}, errors.InvalidClaims),  # lifetime too long
        ({"exp": NOW - 20, "iat": NOW - 10}, errors.InvalidClaims),  # exp before iat
        ({"nbf": "0"}, errors.InvalidClaims),
        ({"iss": ISSUER.rstrip("/")}, errors.InvalidIssuer),
        ({"iss": ISSUER + "/"}, errors.InvalidIssuer),
        ({"iss": "https://identity.oraclecloud.com.evil.example/"}, errors.InvalidIssuer),
        ({"iss": [ISSUER]}, errors.InvalidIssuer),
        ({"iss": DROP}, errors.InvalidIssuer),
        ({"aud": "https://other"}, errors.InvalidAudience),
        ({"aud": []}, errors.InvalidAudience),
        ({"aud": [AUDIENCE, 7]}, errors.InvalidAudience),
        ({"aud": {"a": AUDIENCE}}, errors.InvalidAudience),
        ({"aud": DROP}, errors.InvalidAudience),
        ({"sub": DROP}, errors.InvalidClaims),
        ({"sub": ""}, errors.InvalidClaims),
        ({"sub": 12}, errors.InvalidClaims),
        ({"client_id": ["x"]}, errors.InvalidClaims),
        ({"scope": ["oic-invoke"]}, errors.InvalidClaims),
        ({"scope": "other.scope"}, errors.InsufficientScope),
        ({"scope": DROP}, errors.InsufficientScope),
        ({"scope": "oic-invoke-extra"}, errors.InsufficientScope),
    ],
)
def test_rejections(overrides, error):
    with pytest.raises(error):
        check_claims(claims(**overrides), RULES, NOW)


def test_leeway_boundaries_accept_inside():
    assert check_claims(claims(exp=NOW - 59, iat=NOW - 600), RULES, NOW)
    assert check_claims(claims(nbf=NOW + 60), RULES, NOW)
    assert check_claims(claims(iat=NOW + 60, exp=NOW + 600), RULES, NOW)


def test_no_scope_rule_means_no_scope_check():
    rules = ClaimRules(RULES.issuers, RULES.audiences, frozenset(), 60, 86400)
    assert check_claims(claims(scope=DROP), rules, NOW).scopes == ()


# -- each boundary, exactly -----------------------------------------------------


def refused(error: type[errors.TokenRejected], payload: dict, reason: str | None = None, rules: ClaimRules = RULES):
    with pytest.raises(error) as caught:
        check_claims(payload, rules, NOW)
    assert type(caught.value) is error
    if reason is not None:
        assert caught.value.reason == reason
    return caught.value


def test_expiry_boundary_is_exact():
    assert check_claims(claims(exp=NOW - 60 + 0.001, iat=NOW - 600), RULES, NOW)
    refused(errors.TokenExpired, claims(exp=NOW - 60, iat=NOW - 600))


def test_not_before_and_issued_at_boundaries_are_exact():
    assert check_claims(claims(nbf=NOW + 60), RULES, NOW)
    refused(errors.TokenNotYetValid, claims(nbf=NOW + 60.001))
    assert check_claims(claims(iat=NOW + 60, exp=NOW + 600), RULES, NOW)
    refused(errors.TokenNotYetValid, claims(iat=NOW + 60.001, exp=NOW + 600))


def test_exp_must_be_strictly_after_iat():
    refused(errors.InvalidClaims, claims(iat=NOW + 30, exp=NOW + 30), "bad_lifetime")
    assert check_claims(claims(iat=NOW + 30, exp=NOW + 31), RULES, NOW).exp == NOW + 31


def test_lifetime_limit_is_exact():
    assert check_claims(claims(iat=NOW - 10, exp=NOW - 10 + 86400), RULES, NOW)
    refused(errors.InvalidClaims, claims(iat=NOW - 10, exp=NOW - 10 + 86401), "bad_lifetime")
    short = ClaimRules(RULES.issuers, RULES.audiences, RULES.required_scopes, 60, 600)
    assert check_claims(claims(iat=NOW - 10, exp=NOW + 590), short, NOW)
    refused(errors.InvalidClaims, claims(iat=NOW - 10, exp=NOW + 591), "bad_lifetime", short)
    # The lifetime is exp minus iat, whatever their ratio: an exp that is a multiple of iat is still too long.
    refused(errors.InvalidClaims, claims(iat=1, exp=NOW + 600), "bad_lifetime")
    refused(errors.InvalidClaims, claims(iat=(NOW + 600) // 2, exp=(NOW + 600) // 2 * 2), "bad_lifetime")


def test_leeway_comes_from_the_rules():
    strict = ClaimRules(RULES.issuers, RULES.audiences, RULES.required_scopes, 0, 86400)
    refused(errors.TokenExpired, claims(exp=NOW, iat=NOW - 600), rules=strict)
    refused(errors.TokenNotYetValid, claims(nbf=NOW + 1), rules=strict)
    refused(errors.TokenNotYetValid, claims(iat=NOW + 1, exp=NOW + 600), rules=strict)
    assert check_claims(claims(exp=NOW + 1, iat=NOW, nbf=NOW), strict, NOW)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"exp": DROP}, "missing_exp"),
        ({"exp": None}, "missing_exp"),
        ({"iat": DROP}, "missing_iat"),
        ({"nbf": None}, "missing_nbf"),
        ({"exp": "1800003600"}, "bad_exp"),
        ({"exp": True}, "bad_exp"),
        ({"iat": False}, "bad_iat"),
        ({"nbf": [1]}, "bad_nbf"),
        ({"exp": float("inf")}, "bad_exp"),
        ({"exp": float("nan")}, "bad_exp"),
        ({"iat": -1}, "bad_iat"),
        ({"nbf": -0.5}, "bad_nbf"),
    ],
)
def test_time_claims_say_which_and_why(overrides, reason):
    refused(errors.InvalidClaims, claims(**overrides), reason)


def test_times_at_zero_are_numbers_like_any_other():
    assert check_claims(claims(nbf=0), RULES, NOW)
    assert check_claims(claims(nbf=0.0), RULES, NOW)
    result = check_claims(claims(iat=int(NOW) - 10, exp=int(NOW) + 3600), RULES, NOW)
    assert type(result.exp) is float and type(result.iat) is float
    assert (result.iat, result.exp) == (NOW - 10, NOW + 3600)


def test_claim_string_limit_is_exact():
    assert MAX_CLAIM_STRING == 1024
    assert check_claims(claims(sub="s" * 1024, jti="j" * 1024, client_id="c" * 1024), RULES, NOW).sub == "s" * 1024
    for name in ("sub", "jti", "client_id"):
        refused(errors.InvalidClaims, claims(**{name: "x" * 1025}), f"bad_{name}")
        refused(errors.InvalidClaims, claims(**{name: None}), f"bad_{name}")
    assert check_claims(claims(sub="s"), RULES, NOW).sub == "s"


def test_scope_string_limit_is_exact():
    assert MAX_SCOPE_STRING == 8192
    scope = SCOPE + " " + "x" * (8192 - len(SCOPE) - 1)
    assert check_claims(claims(scope=scope), RULES, NOW).scopes[0] == SCOPE
    refused(errors.InvalidClaims, claims(scope=scope + "x"), "bad_scope")
    refused(errors.InvalidClaims, claims(scope=""), "bad_scope")


def test_audience_list_limit_is_exact():
    assert MAX_AUDIENCES == 32
    many = [f"urn:other:{i}" for i in range(31)] + [AUDIENCE]
    assert check_claims(claims(aud=many), RULES, NOW)
    refused(errors.InvalidAudience, claims(aud=[*many, "urn:one:more"]))
    assert check_claims(claims(aud=[AUDIENCE]), RULES, NOW)
    refused(errors.InvalidAudience, claims(aud=["urn:other", AUDIENCE, None]))
    refused(errors.InvalidAudience, claims(aud=("tuple", AUDIENCE)))


def test_the_result_carries_every_checked_claim():
    payload = claims(jti="id-1", client_id="app-1", scope=f"  {SCOPE}  b ")
    result = check_claims(payload, RULES, NOW)
    assert result == Claims("vendor-app", "app-1", (SCOPE, "b"), NOW + 3600, NOW - 10, "id-1", ISSUER, payload)
    bare = check_claims(claims(jti=DROP, client_id=DROP), RULES, NOW)
    assert (bare.client_id, bare.jti) == (None, None)


ENTRA = ClaimRules(
    issuers=frozenset({ISSUER}),
    audiences=frozenset({AUDIENCE}),
    required_scopes=frozenset({"OIC.Invoke"}),
    leeway=60,
    max_lifetime=86400,
    principal_claim="oid",
    scope_claims=("scp", "roles"),
    client_id_claims=("azp", "appid"),
)


def entra(**overrides):
    return claims(**{"oid": "object-1", "scope": DROP, "client_id": DROP, "scp": "OIC.Invoke a", **overrides})


def test_other_issuers_claims():
    result = check_claims(entra(azp="azp-app", appid="app-id", roles=["r1", "OIC.Invoke"]), ENTRA, NOW)
    assert (result.sub, result.client_id) == ("object-1", "azp-app")
    assert result.scopes == ("OIC.Invoke", "a", "r1", "OIC.Invoke")
    assert check_claims(entra(appid="app-id"), ENTRA, NOW).client_id == "app-id"
    assert check_claims(entra(), ENTRA, NOW).client_id is None
    assert check_claims(entra(scp=DROP, roles=["OIC.Invoke"]), ENTRA, NOW).scopes == ("OIC.Invoke",)
    refused(errors.InvalidClaims, entra(oid=DROP), "missing_oid", ENTRA)
    refused(errors.InvalidClaims, entra(sub=12), "bad_sub", ENTRA)  # not the principal, still not malformed
    assert check_claims(entra(sub=DROP), ENTRA, NOW).sub == "object-1"
    refused(errors.InvalidClaims, entra(azp=""), "bad_azp", ENTRA)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"scp": None}, "bad_scp"),
        ({"scp": 5}, "bad_scp"),
        ({"scp": "x" * 8193}, "bad_scp"),
        ({"roles": "OIC.Invoke"}, None),  # a space-separated string is fine too
        ({"roles": ["OIC.Invoke", ""]}, "bad_roles"),
        ({"roles": ["OIC.Invoke", 5]}, "bad_roles"),
        ({"roles": {"a": 1}}, "bad_roles"),
        ({"roles": ["r"] * 257}, "bad_roles"),
    ],
)
def test_scope_claims_of_other_issuers(overrides, reason):
    if reason is None:
        assert check_claims(entra(**overrides), ENTRA, NOW).scopes == ("OIC.Invoke", "a", "OIC.Invoke")
    else:
        refused(errors.InvalidClaims, entra(**overrides), reason, ENTRA)


def test_scope_list_limit_is_exact():
    result = check_claims(entra(scp=DROP, roles=["OIC.Invoke"] + ["r"] * 255), ENTRA, NOW)
    assert len(result.scopes) == 256
    refused(errors.InvalidClaims, entra(scp=DROP, roles=["OIC.Invoke"] + ["r"] * 256), "bad_roles", ENTRA)
    assert len(check_claims(entra(scp="OIC.Invoke " + "x" * 8181), ENTRA, NOW).scopes) == 2


def test_required_scopes_are_any_of_and_only_checked_when_asked():
    rules = ClaimRules(RULES.issuers, RULES.audiences, frozenset({"a", "b"}), 60, 86400)
    assert check_claims(claims(scope="x b"), rules, NOW).scopes == ("x", "b")
    refused(errors.InsufficientScope, claims(scope="x y"), rules=rules)
    assert check_claims(claims(scope="x y"), rules, NOW, scopes_too=False).scopes == ("x", "y")
    result = check_claims(claims(scope="x y"), rules, NOW, scopes_too=False)
    with pytest.raises(errors.InsufficientScope):
        check_scopes(result, rules)
    check_scopes(check_claims(claims(scope="a"), rules, NOW), rules)


def test_an_empty_audience_list_is_malformed_not_merely_foreign():
    error = refused(errors.InvalidAudience, claims(aud=[]))
    assert str(error) == "'aud' missing or not a string or list of strings"
    assert str(refused(errors.InvalidAudience, claims(aud=["urn:other"]))) == "audience not accepted"


def test_a_principal_other_than_sub_still_checks_sub():
    for principal in ("upn", "oid", "preferred_username"):
        rules = ClaimRules(RULES.issuers, RULES.audiences, frozenset(), 60, 86400, principal_claim=principal)
        payload = claims(**{principal: "someone@example.com"})
        assert check_claims(payload, rules, NOW).sub == "someone@example.com"
        refused(errors.InvalidClaims, claims(**{principal: "someone@example.com", "sub": ""}), "bad_sub", rules)


def test_scopes_come_only_from_the_configured_claims():
    roles_only = ClaimRules(RULES.issuers, RULES.audiences, frozenset({"r"}), 60, 86400, scope_claims=("roles",))
    assert check_claims(claims(roles=["r"], scope="x y"), roles_only, NOW).scopes == ("r",)
    refused(errors.InsufficientScope, claims(scope="r"), rules=roles_only)
    none = ClaimRules(RULES.issuers, RULES.audiences, frozenset(), 60, 86400, scope_claims=())
    assert check_claims(claims(scope="x y"), none, NOW).scopes == ()


def test_rules_are_immutable_and_calls_are_explicit():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES.leeway = 3600  # type: ignore[misc]
    assert check_claims(payload=claims(), rules=RULES, now=NOW).sub == "vendor-app"
    with pytest.raises(TypeError):
        check_claims(claims(), RULES, NOW, False)  # type: ignore[call-arg]


def test_scope_claim_named_in_configuration_is_still_a_string():
    """An issuer configured with scope_claims ["scope"] (a tuple built at run
    time, not the default object) reads "scope" the same strict way."""
    configured = ClaimRules(RULES.issuers, RULES.audiences, RULES.required_scopes, 60, 86400,
                            scope_claims=tuple(json.loads('["scope"]')))
    refused(errors.InvalidClaims, claims(scope=[SCOPE]), "bad_scope", configured)
    refused(errors.InvalidClaims, claims(scope=""), "bad_scope", configured)
    assert check_claims(claims(), configured, NOW).scopes == (SCOPE, "other.scope")
