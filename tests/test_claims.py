import pytest

from tests.tokens import AUDIENCE, DROP, ISSUER, SCOPE, idcs_claims
from token_exchange.shared import errors
from token_exchange.shared.claims import ClaimRules, check_claims

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
