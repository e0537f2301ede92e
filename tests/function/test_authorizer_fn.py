"""The authorizer function through the real fdk runtime, as API Gateway calls it."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from local.fnrun import FnProcess
from tests.catalogue import CATALOGUE, Case
from tests.conftest import start_fn
from tests.servers import JwksServer
from tests.tokens import SCOPE, Signer, authorizer_env, idcs_claims, leaked, multi, single
from tests.unit.test_paths import ATTACKS, LEGITIMATE, PROJECT_ATTACKS


def assert_verdict(result, verdict: str) -> None:
    assert result.status == 200, f"HTTP {result.status}: {result.body[:200]!r}"
    answer = result.json()
    if verdict == "allow":
        assert answer["active"] is True, answer
        return
    assert answer["active"] is False, answer
    challenge = answer["wwwAuthenticate"]
    assert challenge.startswith('Bearer realm="oic"')
    if verdict == "no_token":
        assert "error=" not in challenge
    else:
        assert f'error="{verdict}"' in challenge, challenge


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_catalogue(case: Case, authorizer_fn: FnProcess, signer: Signer, attacker: Signer) -> None:
    body = case.body(signer, attacker)
    result = authorizer_fn.call(body)
    assert_verdict(result, case.verdict)
    # Nothing the caller sent comes back in the answer.
    if isinstance(body, dict):
        data = body.get("data")
        token = str(body.get("token") or (data.get("token") if isinstance(data, dict) else "") or "")
        if len(token) > 40:
            assert token.strip()[-40:] not in result.body.decode()


def test_catalogue_has_the_breadth_the_contract_asks_for() -> None:
    denials = [c for c in CATALOGUE if c.verdict != "allow"]
    assert len(denials) >= 40
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)


def test_allowed_answer_shape(authorizer_fn: FnProcess, signer: Signer) -> None:
    exp = int(time.time()) + 1800
    token = signer.mint(exp=exp, sub="vendor-app", client_id="vendor-app")
    answer = authorizer_fn.call(single(token)).json()
    assert answer["active"] is True
    assert answer["principal"] == "vendor-app"
    assert answer["clientId"] == "vendor-app"
    assert answer["scope"] == [SCOPE, "other.scope"]
    assert answer["context"] == {"sub": "vendor-app", "client_id": "vendor-app"}
    expires = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00"))
    offset = expires.utcoffset()
    assert offset is not None and offset.total_seconds() == 0
    assert expires.timestamp() <= exp


def test_repeated_token_is_served_from_cache(authorizer_fn: FnProcess, signer: Signer) -> None:
    token = signer.mint()
    first = authorizer_fn.call(single(token))
    again = authorizer_fn.call(single(token))
    assert first.body == again.body
    lines = [json.loads(line) for line in authorizer_fn.output().splitlines() if line.startswith("{")]
    reasons = [line.get("reason") for line in lines if line.get("verdict") == "allow"]
    assert reasons[-2:] == ["verified", "cached"]


def test_one_json_log_line_per_decision_and_no_token(authorizer_fn: FnProcess, signer: Signer) -> None:
    before = len(authorizer_fn.output().splitlines())
    token = signer.mint()
    authorizer_fn.call(single(token))
    authorizer_fn.call(single(token[:-5] + "AAAAA"))
    new = authorizer_fn.output().splitlines()[before:]
    decisions = [json.loads(line) for line in new]
    assert [d["verdict"] for d in decisions] == ["allow", "deny"]
    assert all(d["call_id"] and d["token_hash"] and "ms" in d for d in decisions)
    assert decisions[0]["jti"] and decisions[0]["sub"] == "vendor-app"
    assert not leaked("\n".join(new))


def test_key_rotation(signer: Signer) -> None:
    new_key = Signer.generate("SIGNING_KEY_2")
    server = JwksServer([signer.jwk()]).start()
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            assert_verdict(fn.call(single(signer.mint())), "allow")
            assert_verdict(fn.call(single(new_key.mint())), "invalid_token")  # not published yet
            server.document = {"keys": [signer.jwk(), new_key.jwk()]}
            # The unknown kid was refetched moments ago: the negative cache
            # holds for the cooldown, so the new key is not fetched yet.
            assert_verdict(fn.call(single(new_key.mint())), "invalid_token")
        server.document = {"keys": [signer.jwk()]}
        with start_fn(authorizer_env(server.url)) as fn:
            assert_verdict(fn.call(single(signer.mint())), "allow")
            server.document = {"keys": [new_key.jwk()]}
            # A new kid in a fresh container triggers one refetch: accepted.
            assert_verdict(fn.call(single(new_key.mint())), "allow")
            # The retired key is gone from the set: its fresh tokens are refused.
            assert_verdict(fn.call(single(signer.mint())), "invalid_token")
    finally:
        server.stop()


def test_outage_within_then_beyond_the_stale_limit(signer: Signer) -> None:
    server = JwksServer([signer.jwk()]).start()
    env = authorizer_env(server.url, JWKS_CACHE_SECONDS="1", JWKS_MAX_STALE_SECONDS="3")
    try:
        with start_fn(env) as fn:
            assert_verdict(fn.call(single(signer.mint())), "allow")
            server.mode = "hang"
            time.sleep(1.2)  # keys now stale, endpoint hangs
            for _ in range(3):
                result = fn.call(single(signer.mint()))
                assert_verdict(result, "allow")  # served stale keys
                assert result.seconds < 2.0
            time.sleep(3.2)  # beyond the stale limit
            server.mode = "status:503"
            result = fn.call(single(signer.mint()))
            assert result.status == 502  # cannot decide: no usable key
            assert result.seconds < 2.0
            log = fn.output()
            assert "keys_unavailable" in log
            # Recovery: the endpoint answers again; after the failure backoff
            # the keys are fetched and tokens accepted.
            server.mode = "ok"
            time.sleep(5.1)
            assert_verdict(fn.call(single(signer.mint())), "allow")
    finally:
        server.stop()


def test_first_call_with_jwks_down_is_502_not_a_denial(signer: Signer) -> None:
    server = JwksServer([signer.jwk()]).start()
    server.mode = "status:500"
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            result = fn.call(single(signer.mint()))
            assert result.status == 502
            # A bad token is still refused without needing any key.
            assert_verdict(fn.call(single("not-a-jwt")), "invalid_token")
    finally:
        server.stop()


@pytest.mark.parametrize(
    "env, key",
    [
        ({"TOKEN_AUDIENCES": "x"}, "IDCS_DOMAIN_URL"),
        ({"JWKS_URL": "http://idp.example.com/jwk", "TOKEN_AUDIENCES": "x"}, "JWKS_URL"),
        ({"JWKS_URL": "http://127.0.0.1:9/jwk"}, "TOKEN_AUDIENCES"),
        ({"JWKS_URL": "http://127.0.0.1:9/jwk", "TOKEN_AUDIENCES": "x", "CLOCK_SKEW_SECONDS": "900"},
         "CLOCK_SKEW_SECONDS"),
        ({"JWKS_URL": "http://127.0.0.1:9/jwk", "TOKEN_AUDIENCES": "x", "JWKS_CACHE_SECONDS": "ten"},
         "JWKS_CACHE_SECONDS"),
    ],
)
def test_configuration_errors_are_502_and_name_the_key(env: dict[str, str], key: str, signer: Signer) -> None:
    with start_fn(env) as fn:
        result = fn.call(single(signer.mint()))
        assert result.status == 502
        lines = [json.loads(line) for line in fn.output().splitlines() if line.startswith('{"ts"')]
        assert any(line["reason"] == "config_error" and key in line["detail"] for line in lines)


def test_bad_tokens_never_502_even_when_keys_are_missing(signer: Signer) -> None:
    """Structural refusals happen before any key is needed."""
    with start_fn(authorizer_env("http://127.0.0.1:9/jwk")) as fn:
        for bad in ["a.b", "x" * 30000, "eyJhbGciOiJub25lIn0.e30.", ""]:
            result = fn.call(single(bad) if bad else {"type": "TOKEN"})
            assert result.status == 200
            assert result.json()["active"] is False


def test_expires_at_never_after_exp(authorizer_fn: FnProcess, signer: Signer) -> None:
    exp = time.time() + 120.9
    answer = authorizer_fn.call(single(signer.mint(claims=idcs_claims(exp=exp)))).json()
    assert datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp() <= exp


def test_a_defect_is_a_denial_not_a_crash(signer: Signer, capsys: pytest.CaptureFixture[str]) -> None:
    """Fail closed even on a bug: here the verifier is broken on purpose."""
    from authorizer.app import build_authorizer

    server = JwksServer([signer.jwk()]).start()
    try:
        authorizer = build_authorizer(authorizer_env(server.url))

        def broken(token: str, deadline: float | None = None) -> None:
            raise KeyError("boom " + token)

        authorizer.verifier.verify = broken  # type: ignore[assignment,method-assign]
        token = signer.mint()
        answer = json.loads(authorizer.handle(json.dumps(single(token)).encode(), "call"))
        assert answer["active"] is False and 'error="invalid_token"' in answer["wwwAuthenticate"]
        logged = capsys.readouterr().err
        assert '"reason":"internal_error","detail":"KeyError"' in logged and token not in logged
    finally:
        server.stop()


def test_tokens_wrong_on_their_claims_are_refused_even_without_keys(signer: Signer, attacker: Signer) -> None:
    """With the JWKS down and nothing cached, only a token that could be
    genuine is 'cannot decide'; one that is wrong anyway is a plain denial."""
    server = JwksServer([signer.jwk()]).start()
    server.mode = "status:503"
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            now = int(time.time())
            for token in (signer.mint(exp=now - 3600, iat=now - 7200), signer.mint(aud=["https://other/"]),
                          signer.mint(iss="https://evil.example/"), attacker.mint(exp=now - 3600, iat=now - 7200)):
                result = fn.call(single(token))
                assert result.status == 200 and result.json()["active"] is False
            assert fn.call(single(signer.mint())).status == 502  # could be genuine: cannot decide
    finally:
        server.stop()


def test_insufficient_scope_is_only_said_of_a_genuine_token(authorizer_fn: FnProcess, attacker: Signer) -> None:
    forged = attacker.mint(scope="read")
    answer = authorizer_fn.call(single(forged)).json()
    assert answer["active"] is False and 'error="invalid_token"' in answer["wwwAuthenticate"]


# -- the one path rule (oic_gateway.access.paths) through fdk ------------------------


@pytest.mark.parametrize("path, reason", ATTACKS + PROJECT_ATTACKS,
                         ids=[repr(a[0])[:60] for a in ATTACKS + PROJECT_ATTACKS])
def test_path_attacks_are_denied_and_logged_with_their_reason(
        path: str, reason: str, authorizer_fn: FnProcess, signer: Signer) -> None:
    before = len(authorizer_fn.output().splitlines())
    result = authorizer_fn.call(multi("Bearer " + signer.mint(), path=path))
    assert_verdict(result, "invalid_request")
    assert "oic_path" not in result.body.decode()
    decisions = [json.loads(line) for line in authorizer_fn.output().splitlines()[before:] if line.startswith("{")]
    assert [(d["verdict"], d["reason"]) for d in decisions] == [("deny", reason)]


@pytest.mark.parametrize("path, canonical", LEGITIMATE, ids=[p for p, _ in LEGITIMATE])
def test_legitimate_paths_are_allowed(path: str, canonical: str, authorizer_fn: FnProcess, signer: Signer) -> None:
    """Their canonical forms are pinned in test_paths; no shipped specification builds a URL
    from the answer any more, so it carries neither oic_path nor oic_api_path."""
    answer = authorizer_fn.call(multi("Bearer " + signer.mint(), path=path)).json()
    assert answer["active"] is True
    assert "oic_path" not in answer["context"] and "oic_api_path" not in answer["context"]


def test_a_path_that_is_not_one_string_is_denied(authorizer_fn: FnProcess, signer: Signer) -> None:
    repeated = authorizer_fn.call(multi("Bearer " + signer.mint(), path=["/A/1.0/x", "/../x"]))
    assert_verdict(repeated, "invalid_request")
