"""Both topologies through the real fdk runtime, against the local identity
provider (Authlib) and the OIC stub on loopback."""

from __future__ import annotations

import json
from datetime import datetime

import jwt
import pytest
import requests

from local.seed import OIC_AUDIENCE, USER, Seeded
from tests.conftest import start_fn
from tests.tokens import single

pytestmark = pytest.mark.usefixtures("healthy")
TOKEN_PATH = "/oauth2/v1/token"
JWKS_PATH = "/admin/v1/SigningCert/jwk"
HELLO = "/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0"


def counts(stack: Seeded) -> tuple[int, int]:
    return stack.idp.requests[TOKEN_PATH], stack.idp.requests[JWKS_PATH]


def expires_at(answer: dict) -> float:
    return datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()


def call_oic(stack: Seeded, authorization: str) -> requests.Response:
    """What the gateway does next in the authorizer-context topology."""
    return requests.get(stack.oic.url + HELLO + "/hello", headers={"Authorization": authorization}, timeout=5)


# -- topology 1: authorizer-context -----------------------------------------------


def test_authorizer_context_2000_authorizations_cost_two_idp_requests(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    tokens = [stack.vendor_token() for _ in range(100)]
    before_token, before_jwks = counts(stack)
    with start_fn(env) as fn:
        back_end_tokens = set()
        for i in range(2000):
            client_token = tokens[i % 100]
            answer = fn.call(single(client_token)).json()
            assert answer["active"] is True
            back_end_tokens.add(answer["context"]["back_end_token"])
            client_exp = jwt.decode(client_token, options={"verify_signature": False})["exp"]
            assert expires_at(answer) <= client_exp
    token_requests, jwks_requests = counts(stack)
    assert (token_requests - before_token, jwks_requests - before_jwks) == (1, 1)
    assert len(back_end_tokens) == 1
    back_end = back_end_tokens.pop()
    oic_exp = jwt.decode(back_end.split(" ", 1)[1], options={"verify_signature": False})["exp"]
    assert expires_at(answer) <= oic_exp - 60
    reply = call_oic(stack, back_end)
    assert reply.status_code == 200 and reply.json()["caller"] == "oic-client"


def test_authorizer_context_user_assertion_propagates_identity(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.jwt_bearer_env()}
    with start_fn(env) as fn:
        answer = fn.call(single(stack.user_token())).json()
        assert answer["active"] is True and answer["principal"] == USER
        reply = call_oic(stack, answer["context"]["back_end_token"])
        assert reply.json()["caller"] == USER and reply.json()["caller_type"] == "user"


def test_idp_down_after_first_token_keeps_working_from_cache(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).json()["active"] is True
        for fault in ("status:503", "hang:5"):
            stack.idp.faults[TOKEN_PATH] = fault
            stack.idp.faults[JWKS_PATH] = fault
            for _ in range(5):
                result = fn.call(single(stack.vendor_token()))  # new client tokens, same kid
                assert result.status == 200 and result.json()["active"] is True
                assert result.seconds < 2.0


def test_no_oic_token_obtainable_is_502_not_a_denial(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_CLIENT_SECRET="wrong")}
    with start_fn(env) as fn:
        result = fn.call(single(stack.vendor_token()))
        assert result.status == 502
        decisions = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
        assert any("OIC_CLIENT_SECRET" in d.get("detail", "") for d in decisions)
        # A bad client token is still a plain denial: no exchange is attempted.
        assert fn.call(single("x.y.z")).json()["active"] is False
    stack.idp.faults[TOKEN_PATH] = "hang:5"
    with start_fn({**stack.authorizer_env(), **stack.exchange_env()}) as fn:
        result = fn.call(single(stack.vendor_token()))
        assert result.status == 502 and result.seconds < 2.5


def test_authorizer_exchange_config_errors_name_the_key(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_SCOPE="", OIC_GRANT_TYPE="password")}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        assert "OIC_SCOPE" in fn.output()


def test_authorizer_names_every_wrong_key_in_one_log_line(stack: Seeded) -> None:
    env = {**stack.authorizer_env(TOKEN_AUDIENCES="", CLOCK_SKEW_SECONDS="abc"),
           **stack.exchange_env(OIC_SCOPE="", OIC_GRANT_TYPE="password")}
    with start_fn(env) as fn:
        assert fn.call(single(stack.vendor_token())).status == 502
        lines = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
    details = [line["detail"] for line in lines if line.get("reason") == "config_error"]
    assert details, lines
    for key in ("TOKEN_AUDIENCES", "CLOCK_SKEW_SECONDS", "OIC_SCOPE", "OIC_GRANT_TYPE"):
        assert f"configuration {key}:" in details[0], (key, details[0])


def test_oic_audience_is_what_the_stub_checks(stack: Seeded) -> None:
    assert stack.oic.audience == OIC_AUDIENCE
    assert call_oic(stack, "Bearer " + stack.vendor_token()).status_code == 401  # an APIGW token is not for OIC


def test_jwks_behind_client_authentication(stack: Seeded) -> None:
    """"Access signing certificate" off: the authorizer reads the keys with a
    client-credentials token of its own."""
    from local.seed import AUTHORIZER_ID

    stack.idp.jwks_requires_token = True
    try:
        env = {**stack.authorizer_env(), "JWKS_URL": "", "IDCS_DOMAIN_URL": stack.idp.url}
        with start_fn(env) as fn:
            assert fn.call(single(stack.vendor_token())).status == 502  # cannot read the keys
        env.update(JWKS_CLIENT_ID=AUTHORIZER_ID, JWKS_CLIENT_SECRET=stack.authorizer_secret)
        with start_fn(env) as fn:
            assert fn.call(single(stack.vendor_token())).json()["active"] is True
    finally:
        stack.idp.jwks_requires_token = False
