"""The caller's bearer token in, a challenge out (``verification.bearer``): RFC 6750's reading, exactly."""

from __future__ import annotations

import pytest

from oic_gateway import errors
from oic_gateway.verification.bearer import bearer_token, www_authenticate


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"),
    ("bearer abc", "abc"),
    ("BEARER a.b.c", "a.b.c"),
    ("bEaReR x", "x"),
    ("Bearer  two-spaces", " two-spaces"),  # one space is the separator; the rest is the token (jws refuses it)
])
def test_the_token_is_what_follows_the_scheme_and_one_space(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_a_missing_token(header: object) -> None:
    with pytest.raises(errors.MissingToken) as refused:
        bearer_token(header)
    assert type(refused.value) is errors.MissingToken and refused.value.reason == "missing_token"


@pytest.mark.parametrize("header", [["Bearer a", "Bearer b"], ["Bearer a"], []])
def test_a_repeated_header_is_an_invalid_request(header: list[str]) -> None:
    with pytest.raises(errors.InvalidRequest) as refused:
        bearer_token(header)
    assert type(refused.value) is errors.InvalidRequest and refused.value.reason == "repeated_header"


@pytest.mark.parametrize("header", [b"Bearer abc", 7, {"Bearer": "x"}, ("Bearer a",)])
def test_a_header_that_is_not_a_string_is_an_invalid_request(header: object) -> None:
    with pytest.raises(errors.InvalidRequest) as refused:
        bearer_token(header)
    assert type(refused.value) is errors.InvalidRequest and refused.value.reason == "invalid_request"


@pytest.mark.parametrize("header", ["Bearer ", "bearer ", "Bearer", "Bear abc", "Basic abc", "Bearerabc",
                                    "Bearer\tabc", "abc", " Bearer abc", "Token abcdefgh", "Bearer:abc"])
def test_anything_but_bearer_space_token_is_a_bad_scheme(header: str) -> None:
    with pytest.raises(errors.MalformedToken) as refused:
        bearer_token(header)
    assert type(refused.value) is errors.MalformedToken and refused.value.reason == "bad_scheme"


def test_a_one_character_token_is_accepted() -> None:
    assert bearer_token("Bearer x") == "x"


def test_a_challenge_without_a_token_has_no_error_code() -> None:
    assert www_authenticate("gw", errors.MissingToken("no token"), "a b") == 'Bearer realm="gw"'


def test_a_challenge_names_the_error_and_its_description() -> None:
    assert www_authenticate("gw", errors.InvalidSignature("logged", for_caller="bad signature")) == (
        'Bearer realm="gw", error="invalid_token", error_description="bad signature"')


def test_the_description_cannot_break_out_of_its_quotes() -> None:
    value = www_authenticate("gw", errors.MalformedToken("x", for_caller='a "q" \\ b'))
    assert value == 'Bearer realm="gw", error="invalid_token", error_description="a \'q\' / b"'


def test_an_empty_description_is_left_out() -> None:
    assert www_authenticate("gw", errors.MalformedToken("x", for_caller="")) == (
        'Bearer realm="gw", error="invalid_token"')


def test_insufficient_scope_names_the_required_scope() -> None:
    assert www_authenticate("gw", errors.InsufficientScope("x", for_caller="no"), "oic:a oic:b") == (
        'Bearer realm="gw", error="insufficient_scope", error_description="no", scope="oic:a oic:b"')


def test_no_scope_is_named_when_none_is_required_or_the_error_says_not_to() -> None:
    assert www_authenticate("gw", errors.InsufficientScope("x", for_caller="no"), "") == (
        'Bearer realm="gw", error="insufficient_scope", error_description="no"')
    granted = www_authenticate("gw", errors.NotGranted("x"), "oic:a")
    assert granted == (f'Bearer realm="gw", error="insufficient_scope", '
                       f'error_description="{errors.NotGranted.FOR_CALLER}"')


def test_only_insufficient_scope_names_a_scope() -> None:
    assert "scope=" not in www_authenticate("gw", errors.InvalidSignature("x"), "oic:a").replace(
        "insufficient_scope", "")
    assert www_authenticate("gw", errors.InvalidRequest("x", for_caller="d"), "oic:a") == (
        'Bearer realm="gw", error="invalid_token", error_description="d"')


def test_an_empty_string_of_any_str_type_is_a_missing_token() -> None:
    class Header(str):
        pass

    with pytest.raises(errors.MissingToken):
        bearer_token(Header(""))
    assert bearer_token(Header("Bearer t")) == "t"


def test_the_scope_is_named_for_insufficient_scope_compared_by_value() -> None:
    error = errors.InsufficientScope("x", for_caller="no")
    error.oauth_error = "".join(["insufficient", "_scope"])  # equal, not the same object
    assert www_authenticate("gw", error, "oic:a").endswith(', scope="oic:a"')


def test_an_error_code_that_sorts_before_insufficient_scope_names_no_scope() -> None:
    class Other(errors.TokenRejected):
        oauth_error = "access_denied"

    assert www_authenticate("gw", Other("x", for_caller="d"), "oic:a") == (
        'Bearer realm="gw", error="access_denied", error_description="d"')
