"""The OAuth client, fast: a scripted token endpoint on 127.0.0.1 (real HTTP),
a fake monotonic clock and a recorded sleep, so retries, backoff and
deadlines are exact. (The client against the Authlib identity provider is in
test_token_client.)"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests

from local.loopback import QuietHandler, http_server
from oic_gateway import errors
from oic_gateway.oic_tokens.client import (
    ASSERTION_LIFETIME,
    CLIENT_ASSERTION_TYPE,
    MAX_EXPIRES_IN,
    MAX_RESPONSE_BYTES,
    TokenClient,
)
from oic_gateway.oic_tokens.config import ExchangeConfig
from oic_gateway.oic_tokens.issued import IssuedToken, unverified_claims
from tests.fakeclock import FakeClock
from tests.servers import send_half
from tests.tokens import Signer

KEY = Signer.generate("assertion-key")


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[], None] | None = None  # runs in the server before it answers
    close: bool = False  # drop the connection instead of answering
    truncate: bool = False  # promise the whole body, send half of it, close


def ok(**document: Any) -> Answer:
    return Answer(200, json.dumps({"access_token": "at-1", "token_type": "Bearer", **document}).encode())


class TokenEndpoint:
    """Answers each POST with the next scripted answer (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Answer] = [ok()]
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"form": {k: v[0] for k, v in parse_qs(body.decode()).items()},
                                       "headers": dict(self.headers), "path": self.path})
                answer = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if answer.before:
                    answer.before()
                if answer.close:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if answer.truncate:
                    send_half(self, answer.status, answer.body)
                    self.connection.shutdown(2)
                    return
                self.send_body(answer.status, answer.body, "application/json", answer.headers)

        self._server = http_server(Handler).start("token-endpoint")
        self.url = self._server.base_url + "/oauth2/v1/token"

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_script(endpoint: TokenEndpoint) -> None:
    endpoint.script = [ok()]
    endpoint.requests.clear()


def config(endpoint: TokenEndpoint, **env: str) -> ExchangeConfig:
    return ExchangeConfig.from_env({"OIC_TOKEN_URL": endpoint.url, "OIC_CLIENT_ID": "oic-app",
                                    "OIC_CLIENT_SECRET": "s3cret:é", "OIC_SCOPE": "urn:oic:all", **env})


class Harness:
    def __init__(self, endpoint: TokenEndpoint, **env: str) -> None:
        self.jitter = 1.0  # rng's answer: 1.0 is the full backoff, 0.0 half of it
        self.monotonic = FakeClock(100.0)
        self.wall = FakeClock(1_800_000_000.0)
        self.sleeps: list[float] = []
        self.client = TokenClient(config(endpoint, **env), clock=self.wall, monotonic=self.monotonic,
                                  sleep=self.sleep, rng=lambda: self.jitter)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.monotonic.now += seconds

    def token(self, subject: str | None = None, budget: float = 10.0) -> IssuedToken:
        return self.client.request_token(subject, self.monotonic.now + budget)


# -- a successful answer -----------------------------------------------------------


def test_client_credentials_request_and_answer(endpoint):
    endpoint.script = [ok(expires_in=3600)]
    h = Harness(endpoint)
    token = h.token()
    assert token == IssuedToken("at-1", "Bearer", 1_800_003_600.0, 1_800_000_000.0)
    sent = endpoint.requests[0]
    assert sent["form"] == {"grant_type": "client_credentials", "scope": "urn:oic:all"}
    assert sent["headers"]["Accept"] == "application/json"
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"oic-app:s3cret%3A%C3%A9").decode()
    assert h.client.requests_sent == 1 and h.sleeps == []


@pytest.mark.parametrize(
    "document, expires_in",
    [({}, 300), ({"expires_in": "3600"}, 3600), ({"expires_in": 1.5}, 1.5), ({"expires_in": MAX_EXPIRES_IN}, 86400),
     ({"expires_in": 1}, 1), ({"token_type": "bearer"}, 300), ({"token_type": "BEARER"}, 300)],
)
def test_accepted_answers(endpoint, document, expires_in):
    endpoint.script = [ok(**document)]
    token = Harness(endpoint).token()
    assert token.expires_at - token.issued_at == expires_in and token.token_type == "Bearer"


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"<html>", "response is not JSON"),
        (b"[1]", "response is not a JSON object"),
        (json.dumps({"token_type": "Bearer"}).encode(), "no usable access_token"),
        (json.dumps({"access_token": "", "token_type": "Bearer"}).encode(), "no usable access_token"),
        (json.dumps({"access_token": 5, "token_type": "Bearer"}).encode(), "no usable access_token"),
        (json.dumps({"access_token": "x" * (32 * 1024 + 1), "token_type": "Bearer"}).encode(),
         "no usable access_token"),
        (json.dumps({"access_token": "x"}).encode(), "token_type is not Bearer"),
        (json.dumps({"access_token": "x", "token_type": "mac"}).encode(), "token_type is not Bearer"),
        (json.dumps({"access_token": "x", "token_type": 1}).encode(), "token_type is not Bearer"),
        *[(json.dumps({"access_token": "x", "token_type": "Bearer", "expires_in": bad}).encode(),
           "expires_in is not a sane number of seconds") for bad in (0, -5, 86401, "abc", "-1", True, None, [1])],
    ],
)
def test_malformed_answers_say_what(endpoint, body, problem):
    endpoint.script = [Answer(200, body)]
    with pytest.raises(errors.MalformedTokenResponse) as caught:
        Harness(endpoint).token()
    assert str(caught.value) == f"token endpoint {endpoint.url}: {problem}"
    assert len(endpoint.requests) == 1  # not retried


def test_access_token_length_limit_is_exact(endpoint):
    endpoint.script = [ok(access_token="x" * 32 * 1024)]
    assert len(Harness(endpoint).token().access_token) == 32 * 1024


def test_response_size_limit_is_exact(endpoint):
    base = json.dumps({"access_token": "x", "token_type": "Bearer"}).encode()
    exact = base[:-1] + b" " * (MAX_RESPONSE_BYTES - len(base)) + b"}"
    assert len(exact) == MAX_RESPONSE_BYTES == 64 * 1024
    endpoint.script = [Answer(200, exact)]
    assert Harness(endpoint).token().access_token == "x"
    endpoint.script = [Answer(200, exact + b" ")]
    with pytest.raises(errors.MalformedTokenResponse) as caught:
        Harness(endpoint).token()
    assert str(caught.value) == f"token endpoint {endpoint.url}: response larger than 65536 bytes"


# -- refusals: the error names the configuration to check ------------------------


@pytest.mark.parametrize(
    "status, document, error, names",
    [
        (400, {"error": "invalid_client"}, errors.InvalidClientError, "OIC_CLIENT_ID and OIC_CLIENT_SECRET"),
        (401, {}, errors.InvalidClientError, "OIC_CLIENT_ID and OIC_CLIENT_SECRET"),
        (401, {"error": 5}, errors.InvalidClientError, "OIC_CLIENT_ID and OIC_CLIENT_SECRET"),
        (400, {"error": "invalid_grant"}, errors.InvalidGrantError, "OIC_GRANT_TYPE and the app's allowed grants"),
        (401, {"error": "invalid_scope"}, errors.InvalidScopeError, "check OIC_SCOPE"),
        (400, {"error": "unauthorized_client"}, errors.InvalidGrantError, "refused the grant (unauthorized_client)"),
        (400, {"error": "unsupported_grant_type"}, errors.InvalidGrantError, "(unsupported_grant_type)"),
    ],
)
def test_refusals_are_typed_and_name_the_configuration(endpoint, status, document, error, names):
    endpoint.script = [Answer(status, json.dumps(document).encode())]
    with pytest.raises(error) as caught:
        Harness(endpoint).token()
    assert type(caught.value) is error and names in str(caught.value)
    assert caught.value.status == status
    assert caught.value.oauth_error == (document.get("error") if isinstance(document.get("error"), str) else None)
    assert "s3cret" not in str(caught.value) and len(endpoint.requests) == 1


@pytest.mark.parametrize(
    "status, body, message",
    [
        (400, b'{"error":"invalid_request"}', "HTTP 400 (invalid_request)"),
        (403, b"<html>denied</html>", "HTTP 403 (no error code)"),
        (501, b"{}", "HTTP 501 (no error code)"),
        (302, b"", "HTTP 302 (no error code)"),
        (199, b'{"access_token":"x","token_type":"Bearer"}', "HTTP 199 (no error code)"),  # only 200 is success
        (201, b'{"access_token":"x","token_type":"Bearer"}', "HTTP 201 (no error code)"),
        (400, json.dumps({"error": "e" * 100}).encode(), f"HTTP 400 ({'e' * 64})"),
    ],
)
def test_other_refusals(endpoint, status, body, message):
    endpoint.script = [Answer(status, body, {"Location": "http://127.0.0.1:1/"})]
    with pytest.raises(errors.TokenEndpointError) as caught:
        Harness(endpoint).token()
    assert type(caught.value) is errors.TokenEndpointError
    assert str(caught.value) == f"token endpoint {endpoint.url}: {message}"
    assert len(endpoint.requests) == 1  # a redirect is not followed, a 4xx not retried


def test_assertion_grants_name_the_assertion_settings(endpoint):
    env = {"OIC_GRANT_TYPE": "jwt_bearer", "OIC_ASSERTION_KEY": KEY.private_pem(), "OIC_ASSERTION_KEY_ID": "kid-1"}
    endpoint.script = [Answer(400, b'{"error":"invalid_grant"}')]
    with pytest.raises(errors.InvalidGrantError, match="OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID"):
        Harness(endpoint, **env).token("alice")
    endpoint.script = [Answer(401, b'{"error":"invalid_client"}')]
    with pytest.raises(errors.InvalidClientError, match="OIC_CLIENT_ID and OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID"):
        Harness(endpoint, OIC_CLIENT_AUTH="private_key_jwt", OIC_CLIENT_SECRET="", **env).token("alice")


# -- retries: exact backoff within one deadline ------------------------------------------


def test_backoff_doubles_up_to_one_second(endpoint):
    endpoint.script = [Answer(503)] * 6 + [ok()]
    h = Harness(endpoint)
    assert h.token(budget=30).access_token == "at-1"
    assert h.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert h.client.requests_sent == 7


def test_backoff_is_jittered_down_to_half(endpoint):
    endpoint.script = [Answer(500), Answer(502), Answer(504), ok()]
    h = Harness(endpoint)
    h.jitter = 0.0
    h.token(budget=30)
    assert h.sleeps == [0.05, 0.1, 0.2]


@pytest.mark.parametrize("value, slept", [("2", 2.0), ("0", 0.1), ("60", 60.0), ("61", 61.0)])
def test_retry_after_seconds_are_honoured_when_they_fit(endpoint, value, slept):
    endpoint.script = [Answer(429, b"{}", {"Retry-After": value}), ok()]
    h = Harness(endpoint)
    h.token(budget=100)
    assert h.sleeps == [slept]


def deadline_where(margin_end: float) -> float:
    """The deadline D whose ``D - 0.05`` is exactly ``margin_end`` in floats."""
    candidate = margin_end + 0.05
    while candidate - 0.05 < margin_end:
        candidate = math.nextafter(candidate, math.inf)
    while candidate - 0.05 > margin_end:
        candidate = math.nextafter(candidate, -math.inf)
    assert candidate - 0.05 == margin_end
    return candidate


def test_no_retry_when_the_backoff_would_reach_the_deadline(endpoint):
    h = Harness(endpoint)
    answered_at = 109.0
    exact = deadline_where(answered_at + 0.1)  # the 0.1 s backoff would end exactly at the 50 ms margin

    def late() -> None:
        h.monotonic.now = answered_at
    endpoint.script = [Answer(503, before=late)]
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.client.request_token(None, exact)
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 503 (no time left to retry)"
    assert h.sleeps == [] and len(endpoint.requests) == 1
    h = Harness(endpoint)
    endpoint.script = [Answer(503, before=late)]
    later = exact
    while later - 0.05 <= answered_at + 0.1:
        later = math.nextafter(later, math.inf)
    with pytest.raises(errors.TokenEndpointUnavailable):
        h.client.request_token(None, later)  # a hair later: the retry fits
    assert h.sleeps[0] == 0.1 and h.client.requests_sent >= 2


def test_no_attempt_at_all_when_the_deadline_has_passed(endpoint):
    h = Harness(endpoint)
    for budget in (0.05, 0.0, -1.0):
        with pytest.raises(errors.TokenEndpointUnavailable) as caught:
            h.token(budget=budget)
        assert str(caught.value) == f"token endpoint {endpoint.url}: no attempt made (gave up at the deadline)"
    assert endpoint.requests == [] and h.client.requests_sent == 0
    h.monotonic.now = 0.0
    with pytest.raises(errors.TokenEndpointUnavailable, match="no attempt made"):
        h.client.request_token(None, 0.05)  # exactly 50 ms left: not enough to start
    with contextlib.suppress(errors.TokenEndpointUnavailable):  # 50 ms may not be enough on a busy machine
        h.token(budget=0.0501)
    assert h.client.requests_sent == 1


def test_a_slow_answer_is_retried_as_too_slow(endpoint):
    h = Harness(endpoint)

    def stall() -> None:
        h.monotonic.now += 5  # the answer arrives after the attempt's time is up
    endpoint.script = [Answer(200, b'{"access_token":"late","token_type":"Bearer"}', before=stall), ok()]
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=4)
    assert str(caught.value) == f"token endpoint {endpoint.url}: response too slow (no time left to retry)"


def test_connection_failures_are_retried_and_named(endpoint):
    endpoint.script = [Answer(close=True), ok()]
    h = Harness(endpoint)
    assert h.token().access_token == "at-1" and len(h.sleeps) == 1
    refused = Harness(endpoint)
    refused.client.config = config(endpoint, OIC_TOKEN_URL="http://127.0.0.1:9/oauth2/v1/token")
    with pytest.raises(errors.TokenEndpointUnavailable, match=r"connection failed.*\[ConnectionError\]"):
        refused.token(budget=2.0)


def test_a_hung_endpoint_times_out_within_the_budget(endpoint):
    release = threading.Event()

    def hang() -> None:
        release.wait(5)

    endpoint.script = [Answer(before=hang), ok()]
    client = TokenClient(config(endpoint), sleep=lambda s: None)
    try:
        with pytest.raises(errors.TokenEndpointUnavailable, match="timed out"):
            client.request_token(None, time.monotonic() + 0.3)
    finally:
        release.set()


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append(kwargs)
        return super().post(url, *args, **kwargs)


def test_each_attempt_is_bounded_by_what_remains(endpoint):
    session = RecordingSession()
    monotonic = FakeClock(100.0)
    client = TokenClient(config(endpoint), session=session, monotonic=monotonic, sleep=lambda s: None)
    client.request_token(None, 101.5)
    client.request_token(None, 110.0)
    assert [c["timeout"] for c in session.calls] == [(1.5, 1.5), (2.0, 10.0)]
    assert all(c["allow_redirects"] is False and c["stream"] is True for c in session.calls)


# -- assertions ---------------------------------------------------------------------------


def decoded(value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    public = KEY.key.public_key()
    claims = jwt.decode(value, public, algorithms=["RS256"], audience="https://identity.oraclecloud.com/",
                        options={"verify_exp": False, "verify_iat": False})
    return jwt.get_unverified_header(value), claims


def test_user_assertion_with_basic_client_authentication(endpoint):
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=KEY.private_pem(),
                OIC_ASSERTION_KEY_ID="kid-1")
    h.token("alice@example.com")
    form = endpoint.requests[0]["form"]
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" and form["scope"] == "urn:oic:all"
    header, claims = decoded(form["assertion"])
    assert header["kid"] == "kid-1" and header["alg"] == "RS256"
    assert (claims["sub"], claims["iss"]) == ("alice@example.com", "oic-app")
    assert claims["iat"] == 1_800_000_000 and claims["exp"] == 1_800_000_000 + ASSERTION_LIFETIME == 1_800_000_120
    assert len(claims["jti"]) == 32
    assert endpoint.requests[0]["headers"]["Authorization"].startswith("Basic ")
    for subject in (None, ""):
        with pytest.raises(errors.ExchangeError, match="a user assertion needs the caller's subject"):
            h.token(subject)


def test_private_key_jwt_client_authentication(endpoint):
    h = Harness(endpoint, OIC_CLIENT_AUTH="private_key_jwt", OIC_CLIENT_SECRET="", OIC_ASSERTION_KEY=KEY.private_pem(),
                OIC_ASSERTION_KEY_ID="kid-1", OIC_ASSERTION_AUDIENCE="https://identity.oraclecloud.com/")
    h.token()
    h.token()
    first, second = (r["form"] for r in endpoint.requests)
    assert first["client_id"] == "oic-app" and first["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert first["grant_type"] == "client_credentials" and "assertion" not in first
    _, claims = decoded(first["client_assertion"])
    assert claims["sub"] == claims["iss"] == "oic-app"
    assert decoded(second["client_assertion"])[1]["jti"] != claims["jti"]  # single use
    assert "Authorization" not in endpoint.requests[0]["headers"]


@pytest.mark.parametrize(
    "pem, problem",
    [
        ("not a key", "not a PEM private key"),
        (Signer.generate("small", bits=1024).private_pem(), "not an RSA private key of 2048 bits or more"),
    ],
)
def test_unusable_assertion_keys_are_named(endpoint, pem, problem):
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=pem, OIC_ASSERTION_KEY_ID="kid-1")
    with pytest.raises(errors.ExchangeError) as caught:
        h.token("alice")
    assert str(caught.value) == f"configuration OIC_ASSERTION_KEY: {problem}"
    assert endpoint.requests == []


def test_ec_assertion_key_is_refused(endpoint):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=pem, OIC_ASSERTION_KEY_ID="kid-1")
    with pytest.raises(errors.ExchangeError, match="not an RSA private key of 2048 bits or more"):
        h.token("alice")


# -- helpers ---------------------------------------------------------------------------------


def test_issued_token_never_prints_the_token():
    token = IssuedToken("eyJsecret.value.sig", "Bearer", 1_800_000_000.4, 1.0)
    assert repr(token) == f"IssuedToken(type=Bearer, expires_at=1800000000, sha256={token.fingerprint})"
    import hashlib

    assert token.fingerprint == hashlib.sha256(b"eyJsecret.value.sig").hexdigest()[:12]


def test_unverified_claims():
    for sub in ("x", "xy", "xyz", "wxyz"):  # every payload length modulo 4, beside every signature length
        body = base64.urlsafe_b64encode(json.dumps({"exp": 5, "sub": sub}).encode()).rstrip(b"=").decode()
        for signature in ("s", "si", "sig", "sigs"):
            assert unverified_claims(f"h.{body}.{signature}") == {"exp": 5, "sub": sub}
    for value in ("opaque", "a.b", "a.b.c.d", "h.!!!.s", "h.W10.s", f"h.{body[:-3]}.s"):
        assert unverified_claims(value) == {}


def test_an_answer_cut_short_is_retried_as_interrupted(endpoint):
    endpoint.script = [Answer(200, b'{"access_token":"x","token_type":"Bearer","expires_in":3600}', truncate=True)]
    h = Harness(endpoint)
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=0.5)
    assert "response interrupted (" in str(caught.value) and "too slow" not in str(caught.value)
    assert h.client.requests_sent >= 2  # retried


def test_the_grant_is_compared_by_value():
    import dataclasses

    h = Harness(endpoint_for_grant := TokenEndpoint())
    try:
        built = "urn:ietf:params:oauth:grant-type:" + "jwt-bearer"  # equal, not the same object
        h.client.config = dataclasses.replace(config(endpoint_for_grant, OIC_GRANT_TYPE="jwt_bearer",
                                                     OIC_ASSERTION_KEY=KEY.private_pem(),
                                                     OIC_ASSERTION_KEY_ID="kid-1"), grant_type=built)
        h.token("alice")
        assert "assertion" in endpoint_for_grant.requests[0]["form"]
    finally:
        endpoint_for_grant.stop()


def test_unverified_claims_pads_the_payload_by_its_own_length_and_wants_three_segments():
    for sub in ("x", "xy", "xyz", "wxyz"):
        body = base64.urlsafe_b64encode(json.dumps({"sub": sub}).encode()).rstrip(b"=").decode()
        for header in ("h", "hh", "hhh", "hhhh"):  # every header length modulo 4: its padding is not the payload's
            assert unverified_claims(f"{header}.{body}.sig") == {"sub": sub}
        assert unverified_claims(f"h.{body}.sig.extra") == {}  # a valid payload, but not a compact JWS


def test_an_issued_token_cannot_be_changed_in_place():
    import dataclasses

    token = IssuedToken("at", "Bearer", 2.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.expires_at = 9e12  # type: ignore[misc]


@pytest.mark.parametrize("header, obeyed", [("299", 299.0), ("300", 300.0), ("301", 300.0), ("86400", 300.0)])
def test_a_retry_after_is_obeyed_up_to_five_minutes(header: str, obeyed: float) -> None:
    from oic_gateway.oic_tokens.client import retry_after

    assert retry_after(header, 0.0) == obeyed


# -- Retry-After: delay-seconds or an HTTP-date ------------------------------------------------


DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
DATE_AT = 1_445_412_480.0  # DATE on the wall clock


@pytest.mark.parametrize(
    "header, now, obeyed",
    [
        (None, 0.0, None),
        ("5", 0.0, 5.0),
        (" 7\t", 0.0, 7.0),  # optional whitespace around the value
        ("0", 0.0, 0.0),
        ("\u0663", 0.0, None),  # ARABIC-INDIC DIGIT THREE: isdigit() and float() take it, the RFC does not
        ("\xb2", 0.0, None),  # SUPERSCRIPT TWO: isdigit() takes it, float() does not
        ("1.5", 0.0, None),
        ("-5", 0.0, None),
        ("soon", 0.0, None),
        ("", 0.0, None),
        (DATE, DATE_AT - 30.0, 30.0),
        (DATE, DATE_AT - 0.25, 0.25),
        ("Wed, 21 Oct 2015 08:28:00 +0100", DATE_AT - 30.0, 30.0),  # the same instant, another zone
        (DATE, DATE_AT, 0.0),
        (DATE, DATE_AT + 30.0, 0.0),  # already past: at once, never a negative wait
        (DATE, DATE_AT - 3600.0, 300.0),  # capped like delay-seconds
        ("Wed, 21 Oct 2015 07:28:00 -0000", DATE_AT - 30.0, None),  # no zone (RFC 5322 "-0000"): unusable
        ("Wed, 21 Oct 10000000000000000000000 07:28:00 GMT", 0.0, None),  # a year past any clock
        ("Wed, 21 Oct 99999 07:28:00 GMT", 0.0, None),
    ],
)
def test_retry_after_reads_seconds_and_dates(header: str | None, now: float, obeyed: float | None) -> None:
    from oic_gateway.oic_tokens.client import retry_after

    assert retry_after(header, now) == obeyed


# -- the endpoint's rate limit: 429, and 503 with Retry-After -------------------------------------


class Throttles:
    """What ``on_throttled`` was told: each back-off's wall-clock end."""

    def __init__(self, h: Harness) -> None:
        self.told: list[float] = []
        h.client.on_throttled = self.told.append


@pytest.mark.parametrize("jitter, waited", [(1.0, 2.5), (0.5, 2.0), (0.0, 1.5)])
def test_a_429_without_retry_after_waits_two_seconds_jittered_apart(endpoint, jitter, waited):
    endpoint.script = [Answer(429, b"{}"), ok()]
    h = Harness(endpoint)
    h.jitter = jitter
    throttles = Throttles(h)
    assert h.token(budget=30).access_token == "at-1"
    assert h.sleeps == [waited]
    assert throttles.told == [1_800_000_000.0 + waited]


@pytest.mark.parametrize(
    "status, header, slept, throttled",
    [
        (429, "2", 2.0, True),
        (503, "2", 2.0, True),  # a 503 that says how long is a rate limit
        (503, None, 0.1, False),  # one that does not is an outage: the usual backoff
        (500, "2", 2.0, False),  # obeyed, but not a rate limit: nobody else is told
        (502, "2", 2.0, False),
        (504, "2", 2.0, False),
        (500, "0", 0.1, False),  # never shorter than the backoff
        (429, "0", 0.1, True),
    ],
)
def test_retry_after_is_obeyed_and_only_429_and_503_are_rate_limits(endpoint, status, header, slept, throttled):
    endpoint.script = [Answer(status, b"{}", {"Retry-After": header} if header else {}), ok()]
    h = Harness(endpoint)
    throttles = Throttles(h)
    assert h.token(budget=30).access_token == "at-1"
    assert h.sleeps == [slept] and len(endpoint.requests) == 2
    assert throttles.told == ([1_800_000_000.0 + float(header or 0)] if throttled else [])


def test_a_rate_limit_that_outlasts_the_deadline_fails_at_once_and_holds_later_requests(endpoint):
    endpoint.script = [Answer(429, b"{}", {"Retry-After": "60"}), ok()]
    h = Harness(endpoint)
    throttles = Throttles(h)
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 429; retry in 60 s"
    assert caught.value.retry_at == 1_800_000_060.0 and throttles.told == [1_800_000_060.0]
    assert h.sleeps == [] and len(endpoint.requests) == 1
    h.wall.now += 20.5  # 39.5 s to go: said in whole seconds, rounded up
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: backing off after HTTP 429/503; retry in 40 s"
    assert caught.value.retry_at == 1_800_000_060.0
    h.wall.now = math.nextafter(1_800_000_060.0, -math.inf)
    with pytest.raises(errors.TokenEndpointThrottled, match="retry in 1 s"):
        h.token(budget=10)
    assert len(endpoint.requests) == 1 and h.client.requests_sent == 1 and h.sleeps == []  # nobody was asked
    h.wall.now = 1_800_000_060.0  # the moment it allows: ask again
    assert h.token(budget=10).access_token == "at-1"
    assert len(endpoint.requests) == 2 and throttles.told == [1_800_000_060.0]


def test_a_503_rate_limit_that_outlasts_the_deadline_fails_at_once(endpoint):
    endpoint.script = [Answer(503, b"{}", {"Retry-After": "20"}), ok()]
    h = Harness(endpoint)
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 503; retry in 20 s"
    assert caught.value.retry_at == 1_800_000_020.0 and len(endpoint.requests) == 1


def test_a_long_retry_after_on_another_5xx_is_no_rate_limit(endpoint):
    endpoint.script = [Answer(500, b"{}", {"Retry-After": "60"}), ok()]
    h = Harness(endpoint)
    throttles = Throttles(h)
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    assert type(caught.value) is errors.TokenEndpointUnavailable
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 500 (no time left to retry)"
    assert throttles.told == [] and h.sleeps == []
    assert h.token(budget=10).access_token == "at-1" and len(endpoint.requests) == 2  # nothing held back


def test_a_rate_limit_is_waited_out_only_if_it_ends_before_the_margin(endpoint):
    exact = deadline_where(100.0 + 2.0)  # the 2 s wait would end exactly at the 50 ms margin
    endpoint.script = [Answer(429, b"{}", {"Retry-After": "2"}), ok()]
    h = Harness(endpoint)
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.client.request_token(None, exact)
    assert caught.value.retry_at == 1_800_000_002.0 and h.sleeps == []
    later = exact
    while later - 0.05 <= 102.0:
        later = math.nextafter(later, math.inf)
    endpoint.script = [Answer(429, b"{}", {"Retry-After": "2"}), ok()]
    h = Harness(endpoint)
    with contextlib.suppress(errors.TokenEndpointUnavailable):  # the retry has 50 ms of real time: may be cut
        h.client.request_token(None, later)  # a hair later: it is waited out, and asked again
    assert h.sleeps == [2.0] and h.client.requests_sent == 2


def test_a_rate_limit_with_nothing_left_to_wait_says_one_second(endpoint):
    h = Harness(endpoint)
    deadline = 110.0

    def late() -> None:
        h.monotonic.now = deadline - 0.05  # the answer comes at the margin: not even 0 s fits
    endpoint.script = [Answer(429, b"{}", {"Retry-After": "0"}, before=late), ok()]
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.client.request_token(None, deadline)
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 429; retry in 1 s"
    assert caught.value.retry_at == 1_800_000_000.0
    assert h.token(budget=10).access_token == "at-1"  # the back-off is over: asked again


# -- one attempt, through a scripted session: what the transport did, exactly -----------------


class ScriptedResponse(requests.Response):
    """An answer whose body comes in the given chunks; ``during`` runs before
    each chunk is handed over (to move the clock, or cut the attempt), and
    ``fail`` is raised after the last one."""

    def __init__(self, status: int = 200, chunks: list[bytes] | None = None, headers: dict[str, str] | None = None,
                 during: Callable[[int], None] | None = None, fail: Exception | None = None) -> None:
        super().__init__()
        self.status_code = status
        self.headers.update(headers or {})
        self.chunks = [b'{"access_token":"at-2","token_type":"Bearer"}'] if chunks is None else chunks
        self.during = during
        self.fail = fail
        self.closed = False

    def iter_content(self, chunk_size: int | None = 1, decode_unicode: bool = False) -> Iterator[Any]:
        for index, chunk in enumerate(self.chunks):
            if self.during:
                self.during(index)
            yield chunk
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True


class ScriptedSession(requests.Session):
    """Each post takes the next step (the last one repeats): a response to
    return, an exception to raise, or a callable that does either."""

    def __init__(self, *steps: Any) -> None:
        super().__init__()
        self.steps = list(steps)
        self.guarded_until: list[float | None] = []

    def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        from oic_gateway.net import deadline

        watch = deadline.current()
        self.guarded_until.append(watch.at if watch else None)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if callable(step) and not isinstance(step, requests.Response):
            step = step()
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, requests.Response)
        return step


def cut_the_attempt() -> None:
    """What the watchdog does at the deadline: the attempt's guard is cut."""
    from oic_gateway.net import deadline

    watch = deadline.current()
    assert watch is not None
    watch.cut()


def scripted(endpoint: TokenEndpoint, session: ScriptedSession) -> Harness:
    h = Harness(endpoint)
    h.client = TokenClient(h.client.config, session=session, clock=h.wall, monotonic=h.monotonic, sleep=h.sleep,
                           rng=lambda: h.jitter)
    return h


def test_each_attempt_is_guarded_until_the_deadline(endpoint):
    session = ScriptedSession(requests.ConnectionError("refused"), ScriptedResponse())
    h = scripted(endpoint, session)
    assert h.client.request_token(None, 110.0).access_token == "at-2"
    assert session.guarded_until == [110.0, 110.0]  # the second attempt, 0.1 s later, still ends at the deadline
    assert h.sleeps == [0.1]


@pytest.mark.parametrize("timeout", [requests.ReadTimeout("read"), requests.ConnectTimeout("connect")])
def test_a_transport_timeout_is_retried_as_timed_out(endpoint, timeout):
    h = scripted(endpoint, ScriptedSession(timeout))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=1.0)
    assert str(caught.value) == f"token endpoint {endpoint.url}: timed out (no time left to retry)"
    assert h.client.requests_sent == 4 and h.sleeps == [0.1, 0.2, 0.4]


def test_a_connection_failure_is_named_unless_the_deadline_cut_it(endpoint):
    h = scripted(endpoint, ScriptedSession(requests.ConnectionError("refused")))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    from oic_gateway.net.http import in_words

    described = in_words(requests.ConnectionError("refused"))
    assert described.endswith("[ConnectionError]")
    assert str(caught.value) == f"token endpoint {endpoint.url}: connection failed: {described} (no time left to retry)"

    def cut_then_fail() -> None:
        cut_the_attempt()
        raise requests.ConnectionError("socket shut down by the watchdog")
    h = scripted(endpoint, ScriptedSession(cut_then_fail))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: timed out (no time left to retry)"


def test_a_body_cut_off_is_too_slow_if_the_deadline_cut_it_and_interrupted_if_not(endpoint):
    interrupted = ScriptedResponse(chunks=[b'{"access_token"'], fail=requests.exceptions.ChunkedEncodingError("cut"))
    h = scripted(endpoint, ScriptedSession(interrupted))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    assert str(caught.value) == (f"token endpoint {endpoint.url}: response interrupted (ChunkedEncodingError) "
                                 "(no time left to retry)")
    assert interrupted.closed

    def cut(index: int) -> None:
        cut_the_attempt()
    cut_off = ScriptedResponse(chunks=[b'{"access_token"'], during=cut,
                               fail=requests.exceptions.ChunkedEncodingError("cut"))
    h = scripted(endpoint, ScriptedSession(cut_off))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: response too slow (no time left to retry)"
    assert cut_off.closed


def test_a_whole_answer_read_after_the_deadline_cut_the_attempt_is_not_used(endpoint):
    def cut(index: int) -> None:
        cut_the_attempt()
    late = ScriptedResponse(during=cut)  # urllib3 may still return a short answer after the cut
    session = ScriptedSession(late, ScriptedResponse())
    h = scripted(endpoint, session)
    assert h.token(budget=10).access_token == "at-2"
    assert late.closed and h.client.requests_sent == 2 and h.sleeps == [0.1]
    h = scripted(endpoint, ScriptedSession(ScriptedResponse(during=cut)))
    with pytest.raises(errors.TokenEndpointUnavailable) as caught:
        h.token(budget=10)
    assert str(caught.value) == f"token endpoint {endpoint.url}: response too slow (no time left to retry)"


def test_the_body_is_read_until_the_deadline_and_not_a_moment_longer(endpoint):
    body = [b'{"access_token":"at-2",', b'"token_type":"Bearer"}']
    for last_chunk_at, read in ((110.0, True), (math.nextafter(110.0, math.inf), False)):
        session = ScriptedSession()
        h = scripted(endpoint, session)

        def move(index: int, h: Harness = h, when: float = last_chunk_at) -> None:
            if index == 1:
                h.monotonic.now = when
        session.steps = [ScriptedResponse(chunks=body, during=move)]
        if read:  # the last chunk comes at the deadline: still in time
            assert h.client.request_token(None, 110.0).access_token == "at-2"
            continue
        with pytest.raises(errors.TokenEndpointUnavailable) as caught:
            h.client.request_token(None, 110.0)
        assert str(caught.value) == f"token endpoint {endpoint.url}: response too slow (no time left to retry)"
        assert h.client.requests_sent == 1


# -- assertion keys, and refusals whose body is not what it should be -----------------------------


def test_an_rsa_key_one_bit_short_of_2048_is_refused(endpoint):
    short = Signer.generate("short", bits=2047)
    assert short.key.key_size == 2047
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=short.private_pem(), OIC_ASSERTION_KEY_ID="k")
    with pytest.raises(errors.ExchangeError) as caught:
        h.token("alice")
    assert str(caught.value) == "configuration OIC_ASSERTION_KEY: not an RSA private key of 2048 bits or more"
    assert KEY.key.key_size == 2048  # and exactly 2048 is used (every other assertion test)


def test_an_encrypted_assertion_key_is_not_a_usable_pem(endpoint):
    from cryptography.hazmat.primitives import serialization

    pem = KEY.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"passphrase")).decode()
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=pem, OIC_ASSERTION_KEY_ID="kid-1")
    with pytest.raises(errors.ExchangeError) as caught:
        h.token("alice")  # cryptography says TypeError: no password for an encrypted key
    assert str(caught.value) == "configuration OIC_ASSERTION_KEY: not a PEM private key"
    assert endpoint.requests == []


def test_an_assertion_is_issued_at_the_whole_second(endpoint):
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=KEY.private_pem(), OIC_ASSERTION_KEY_ID="k")
    h.wall.now = 1_800_000_042.9  # 42 shares bits with 120: exp is a sum, not a bitwise or
    h.token("alice")
    _, claims = decoded(endpoint.requests[0]["form"]["assertion"])
    assert (claims["iat"], claims["exp"]) == (1_800_000_042, 1_800_000_162)
    assert claims["aud"] == "https://identity.oraclecloud.com/"


@pytest.mark.parametrize(
    "status, body, error, code",
    [
        (400, b"[1]", errors.TokenEndpointError, None),  # JSON, not an object: no code
        (401, b"[1]", errors.InvalidClientError, None),
        (400, b'"invalid_client"', errors.TokenEndpointError, None),
        (400, b"{}", errors.TokenEndpointError, None),  # no code and not 401: not the client's fault
        (403, b"{}", errors.TokenEndpointError, None),
        (401, b'{"error":"invalid_grant"}', errors.InvalidGrantError, "invalid_grant"),  # the code decides, not 401
        (401, b'{"error":"invalid_request"}', errors.TokenEndpointError, "invalid_request"),
        (400, b'{"error":"invalid_client_x"}', errors.TokenEndpointError, "invalid_client_x"),
    ],
)
def test_the_error_code_decides_the_refusal(endpoint, status, body, error, code):
    endpoint.script = [Answer(status, body)]
    with pytest.raises(errors.TokenEndpointError) as caught:
        Harness(endpoint).token()
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.oauth_error) == (status, code)
    if error is errors.TokenEndpointError:
        assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP {status} ({code or 'no error code'})"


def test_a_larger_rsa_key_is_used(endpoint):
    larger = Signer.generate("larger", bits=2056)
    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=larger.private_pem(), OIC_ASSERTION_KEY_ID="k")
    h.token("alice")
    assertion = endpoint.requests[0]["form"]["assertion"]
    claims = jwt.decode(assertion, larger.key.public_key(), algorithms=["RS256"], options={"verify_aud": False,
                        "verify_exp": False, "verify_iat": False})
    assert claims["sub"] == "alice"


@pytest.mark.parametrize("missing", ["assertion_key", "assertion_key_id"])
def test_a_built_configuration_without_key_or_key_id_is_refused_before_signing(endpoint, missing):
    import dataclasses

    h = Harness(endpoint, OIC_GRANT_TYPE="jwt_bearer", OIC_ASSERTION_KEY=KEY.private_pem(), OIC_ASSERTION_KEY_ID="k")
    changes: dict[str, Any] = {missing: None}
    h.client.config = dataclasses.replace(h.client.config, **changes)
    with pytest.raises(errors.ExchangeError) as caught:
        h.token("alice")
    assert str(caught.value) == "configuration OIC_ASSERTION_KEY and OIC_ASSERTION_KEY_ID: both are needed to sign"
    assert endpoint.requests == []


def test_the_options_are_named_never_positional(endpoint):
    cfg = config(endpoint)
    with pytest.raises(TypeError):
        TokenClient(cfg, requests.Session())  # type: ignore[call-arg]
    assert TokenClient(config=cfg).config is cfg


def test_the_client_authentication_is_compared_by_value(endpoint):
    import dataclasses

    built = "".join(["private_", "key_jwt"])  # equal, not the same object (as a value read from the environment is)
    assert built == "private_key_jwt" and built is not "private_key_jwt"  # noqa: F632 (the point)
    h = Harness(endpoint, OIC_ASSERTION_KEY=KEY.private_pem(), OIC_ASSERTION_KEY_ID="kid-1")
    h.client.config = dataclasses.replace(h.client.config, client_auth=built)
    h.token()
    assert "client_assertion" in endpoint.requests[0]["form"]
    assert "Authorization" not in endpoint.requests[0]["headers"]
    endpoint.script = [Answer(401, b'{"error":"invalid_client"}')]
    with pytest.raises(errors.InvalidClientError, match="OIC_CLIENT_ID and OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID"):
        h.token()


def test_a_grant_error_names_the_assertion_settings_by_value():
    import dataclasses

    server = TokenEndpoint()
    try:
        server.script = [Answer(400, b'{"error":"invalid_grant"}')]
        h = Harness(server)
        built = "urn:ietf:params:oauth:grant-type:" + "jwt-bearer"
        h.client.config = dataclasses.replace(config(server, OIC_GRANT_TYPE="jwt_bearer",
                                                     OIC_ASSERTION_KEY=KEY.private_pem(),
                                                     OIC_ASSERTION_KEY_ID="kid-1"), grant_type=built)
        with pytest.raises(errors.InvalidGrantError, match=r"check OIC_ASSERTION_KEY / OIC_ASSERTION_KEY_ID \(the"):
            h.token("alice")
    finally:
        server.stop()


def test_only_the_jwt_bearer_grant_and_private_key_jwt_sign_anything(endpoint):
    """Names that sort after the two this client signs for (RFC 7522's SAML
    grant, RFC 8705's TLS client authentication) are not taken for them."""
    import dataclasses

    h = Harness(endpoint, OIC_ASSERTION_KEY=KEY.private_pem(), OIC_ASSERTION_KEY_ID="kid-1")
    h.client.config = dataclasses.replace(h.client.config, grant_type="urn:ietf:params:oauth:grant-type:saml2-bearer",
                                          client_auth="tls_client_auth")
    h.token("alice")
    sent = endpoint.requests[0]
    assert sent["form"] == {"grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer", "scope": "urn:oic:all"}
    assert sent["headers"]["Authorization"].startswith("Basic ")
    endpoint.script = [Answer(400, b'{"error":"invalid_grant"}')]
    with pytest.raises(errors.InvalidGrantError, match="check OIC_GRANT_TYPE and the app's allowed grants"):
        h.token("alice")
    endpoint.script = [Answer(401, b'{"error":"invalid_client"}')]
    with pytest.raises(errors.InvalidClientError, match="check OIC_CLIENT_ID and OIC_CLIENT_SECRET"):
        h.token("alice")


@pytest.mark.parametrize("token_type", ["Basic", "abc", "bearer ", "Bearer2", ""])
def test_a_token_type_other_than_bearer_is_refused(endpoint, token_type):
    endpoint.script = [ok(token_type=token_type)]
    with pytest.raises(errors.MalformedTokenResponse, match="token_type is not Bearer"):
        Harness(endpoint).token()


class TickingClock:
    """A wall clock that moves on a little at every look, as a real one does."""

    def __init__(self, now: float, tick: float) -> None:
        self.now, self.tick = now, tick
        self.seen: list[float] = []

    def __call__(self) -> float:
        self.now += self.tick
        self.seen.append(self.now)
        return self.now


def test_a_back_off_already_over_when_reported_says_one_second(endpoint):
    h = Harness(endpoint)
    wall = TickingClock(1_800_000_000.0, 0.25)
    h.client._clock = wall
    deadline = 110.0

    def late() -> None:
        h.monotonic.now = deadline - 0.05  # not even Retry-After: 0 fits
    endpoint.script = [Answer(429, b"{}", {"Retry-After": "0"}, before=late), ok()]
    with pytest.raises(errors.TokenEndpointThrottled) as caught:
        h.client.request_token(None, deadline)
    assert caught.value.retry_at in wall.seen[:-1]  # when it was set; the clock has moved on since
    assert caught.value.retry_at < wall.now
    assert str(caught.value) == f"token endpoint {endpoint.url}: HTTP 429; retry in 1 s"
