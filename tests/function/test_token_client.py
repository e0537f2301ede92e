"""The OAuth client against the local identity provider (Authlib) on loopback."""

import dataclasses
import time

import pytest

from local.seed import OIC_AUDIENCE, Seeded
from oic_gateway import errors
from oic_gateway.net.secret_sources import VaultSecret
from oic_gateway.oic_tokens.client import TokenClient
from oic_gateway.oic_tokens.config import ExchangeConfig
from oic_gateway.oic_tokens.exchanger import TokenExchanger

TOKEN_PATH = "/oauth2/v1/token"


@pytest.fixture(autouse=True)
def no_faults(stack: Seeded):
    stack.idp.faults.clear()
    yield
    stack.idp.faults.clear()


def exchanger(env: dict[str, str]) -> TokenExchanger:
    return TokenExchanger.from_env(env)


def decode(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_client_credentials(stack: Seeded):
    token = exchanger(stack.exchange_env()).token_for()
    claims = decode(token.token.access_token)
    assert claims["aud"] == [OIC_AUDIENCE] and claims["sub"] == "oic-client"
    assert token.authorization.startswith("Bearer ")
    assert "eyJ" not in repr(token.token)  # never printable


def test_user_assertion_with_basic_and_with_private_key_jwt(stack: Seeded):
    for env in (stack.jwt_bearer_env(),
                stack.jwt_bearer_env(OIC_CLIENT_AUTH="private_key_jwt", OIC_CLIENT_SECRET="")):
        token = exchanger(env).token_for("alice@example.com", time.time() + 3600)
        claims = decode(token.token.access_token)
        assert claims["sub"] == "alice@example.com" and claims["sub_type"] == "user"


def test_user_token_never_outlives_the_subjects_token(stack: Seeded):
    subject_exp = time.time() + 900
    token = exchanger(stack.jwt_bearer_env()).token_for("alice@example.com", subject_exp)
    assert token.usable_until == subject_exp < token.token.expires_at


@pytest.mark.parametrize(
    "env_change, error, names",
    [
        ({"OIC_CLIENT_SECRET": "wrong"}, errors.InvalidClientError, "OIC_CLIENT_SECRET"),
        ({"OIC_CLIENT_ID": "nobody"}, errors.InvalidClientError, "OIC_CLIENT_ID"),
        ({"OIC_SCOPE": "https://oic.local:443urn:opc:resource:other"}, errors.InvalidScopeError, "OIC_SCOPE"),
    ],
)
def test_error_mapping_names_the_configuration(stack: Seeded, env_change, error, names):
    with pytest.raises(error, match=names) as caught:
        exchanger(stack.exchange_env(**env_change)).token_for()
    assert stack.oic_client_secret not in str(caught.value)


def test_unknown_user_is_invalid_grant(stack: Seeded):
    with pytest.raises(errors.InvalidGrantError, match="OIC_ASSERTION_KEY"):
        exchanger(stack.jwt_bearer_env()).token_for("mallory@example.com", time.time() + 600)


def test_untrusted_assertion_key_is_refused(stack: Seeded):
    from tests.tokens import Signer

    rogue = Signer.generate().private_pem()
    with pytest.raises(errors.InvalidGrantError):
        exchanger(stack.jwt_bearer_env(OIC_ASSERTION_KEY=rogue)).token_for("alice@example.com", time.time() + 600)


@pytest.mark.parametrize("fault", ["status:503", "status:429", "status:500", "html", "hang:3"])
def test_failures_retry_within_the_deadline_then_fail(stack: Seeded, fault: str):
    stack.idp.faults[TOKEN_PATH] = fault
    before = stack.idp.requests[TOKEN_PATH]
    started = time.monotonic()
    with pytest.raises((errors.TokenEndpointUnavailable, errors.MalformedTokenResponse)):
        exchanger(stack.exchange_env()).token_for()
    elapsed = time.monotonic() - started
    attempts = stack.idp.requests[TOKEN_PATH] - before
    assert elapsed < 2.0  # the 1.5 s budget, retries included
    assert 1 <= attempts <= 6  # backoff, not a storm


def test_transient_failure_is_retried_to_success(stack: Seeded):
    stack.idp.faults[TOKEN_PATH] = "status:503"
    config = ExchangeConfig.from_env(stack.exchange_env())
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        stack.idp.faults.clear()  # the endpoint recovers during the backoff

    client = TokenClient(config, sleep=sleep)
    token = client.request_token(None, time.monotonic() + 1.5)
    assert token.access_token and len(sleeps) == 1 and 0.05 <= sleeps[0] <= 0.1


def test_rotated_vault_secret_is_reread_once_on_invalid_client(stack: Seeded):
    vault = {"ocid1.vaultsecret.oc1.iad.x": "stale-secret"}
    reads: list[str] = []

    def reader(ocid: str) -> str:
        reads.append(ocid)
        return vault[ocid]

    vault["ocid1.vaultsecret.oc1.iad.x"] = stack.oic_client_secret
    config = ExchangeConfig.from_env(stack.exchange_env())
    secret = VaultSecret("ocid1.vaultsecret.oc1.iad.x", reader, ttl=3600)
    config = dataclasses.replace(config, client_secret=secret)
    ex = TokenExchanger(config)
    first = ex.token_for()
    assert first.token.access_token
    assert len(reads) == 1
    # Rotate: Vault now holds a new secret, the IdP accepts only the new one.
    new_secret = "rotated-" + stack.oic_client_secret
    stack.idp.apps["oic-client"].client_secret = new_secret
    vault["ocid1.vaultsecret.oc1.iad.x"] = new_secret
    try:
        ex.invalidate(first)
        assert ex.token_for().token.access_token  # invalid_client -> re-read -> success
        assert len(reads) == 2
    finally:
        stack.idp.apps["oic-client"].client_secret = stack.oic_client_secret


def test_retry_after_forms() -> None:
    import datetime
    import email.utils

    from oic_gateway.oic_tokens.client import retry_after
    from oic_gateway.oic_tokens.issued import MAX_RETRY_AFTER

    now = 1_800_000_000.0
    assert retry_after("7", now) == 7.0 and retry_after(" 0 ", now) == 0.0
    assert retry_after("86400", now) == MAX_RETRY_AFTER  # obeyed, for at most this long
    when = datetime.datetime(2027, 1, 15, 8, 0, 30, tzinfo=datetime.UTC)
    assert retry_after(email.utils.format_datetime(when, usegmt=True), when.timestamp() - 30) == 30.0  # HTTP-date
    # "\xb2" (superscript two) is a digit to str.isdigit and a header is Latin-1: not a crash.
    for bad in (None, "", "-5", "soon", "1.5e3", "Fri, 15 Jan 2027 08:00:30", "\xb2", "1\xb9"):
        assert retry_after(bad, now) is None


def test_rate_limited_endpoint_fails_fast_and_asks_again_only_after_retry_after(stack: Seeded):
    stack.idp.limit_token_rate((100, 1))  # one token request a minute
    try:
        client = TokenClient(ExchangeConfig.from_env(stack.exchange_env()))
        client.request_token(None, time.monotonic() + 1.5)
        before = stack.idp.requests[TOKEN_PATH]
        started = time.time()
        with pytest.raises(errors.TokenEndpointThrottled) as raised:
            client.request_token(None, time.monotonic() + 1.5)
        assert 55 <= raised.value.retry_at - started <= 61  # the IdP's Retry-After, not a guess
        assert stack.idp.requests[TOKEN_PATH] - before == 1 and stack.idp.throttled >= 1
        with pytest.raises(errors.TokenEndpointThrottled):
            client.request_token(None, time.monotonic() + 1.5)
        assert stack.idp.requests[TOKEN_PATH] - before == 1  # no request until Retry-After has passed
    finally:
        stack.idp.limit_token_rate(None)


def test_a_short_retry_after_is_waited_out_within_the_deadline(stack: Seeded):
    stack.idp.limit_token_rate((1, 1000))  # one a second
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    try:
        client = TokenClient(ExchangeConfig.from_env(stack.exchange_env()), sleep=sleep)
        client.request_token(None, time.monotonic() + 1.5)
        assert client.request_token(None, time.monotonic() + 1.5).access_token  # 429, Retry-After: 1, then 200
        assert sleeps == [1.0]
    finally:
        stack.idp.limit_token_rate(None)
