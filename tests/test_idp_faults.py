"""Identity-provider faults: real servers on 127.0.0.1 that misbehave on cue,
the authorizer under the real fdk runtime. For each fault: the documented
behaviour, and a bound on how long any call takes."""

from __future__ import annotations

import time

import pytest

from local.fnrun import FnProcess
from tests.conftest import start_fn
from tests.servers import JwksServer
from tests.tokens import Signer, authorizer_env, single

FAULTS = ["status:500", "status:503", "status:429", "html", "truncated", "oversized", "redirect", "hang", "close",
          "trickle"]
CALL_BOUND = 2.0  # seconds: every call answers within this, whatever the endpoint does


def allowed(fn: FnProcess, signer: Signer) -> bool:
    result = fn.call(single(signer.mint()))
    assert result.status in (200, 502) and result.seconds < CALL_BOUND, (result.status, result.seconds)
    return result.status == 200 and result.json()["active"] is True


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_before_any_key_is_cached_fails_closed_fast(fault: str, signer: Signer) -> None:
    server = JwksServer([signer.jwk()]).start()
    server.mode = fault
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            result = fn.call(single(signer.mint()))
            assert result.status == 502 and result.seconds < CALL_BOUND
            assert "keys_unavailable" in fn.output()
            # Within the failure backoff no new request is made, and the answer is immediate.
            requests_so_far = server.requests
            again = fn.call(single(signer.mint()))
            assert again.status == 502 and again.seconds < 0.5 and server.requests == requests_so_far
            # A malformed token is still refused outright, never 502.
            assert fn.call(single("a.b.c")).json()["active"] is False
    finally:
        server.stop()


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_after_keys_are_cached_serves_stale_keys_without_a_storm(fault: str, signer: Signer) -> None:
    server = JwksServer([signer.jwk()]).start()
    server.hang_seconds = 3
    env = authorizer_env(server.url, JWKS_CACHE_SECONDS="1", JWKS_MAX_STALE_SECONDS="600")
    try:
        with start_fn(env) as fn:
            assert allowed(fn, signer)
            server.mode = fault
            time.sleep(1.1)  # the keys are stale now
            before = server.requests
            started = time.monotonic()
            while time.monotonic() - started < 1.0:
                assert allowed(fn, signer)  # stale keys, no call waits for the endpoint
            # One background refresh, retried at most every 5 s: no request storm.
            assert server.requests - before <= 1
    finally:
        server.stop()


def test_unusable_keys_beside_good_ones(signer: Signer) -> None:
    weak = Signer.generate("WEAK", bits=1024)
    encryption = Signer.generate("ENC")
    doc = [
        {"kty": "oct", "kid": "SYM", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"},
        weak.jwk(),
        {**encryption.jwk(), "use": "enc"},
        {**Signer.generate("PRIV").jwk(), "d": "AQAB"},
        signer.jwk(),
    ]
    server = JwksServer(doc).start()
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            assert allowed(fn, signer)
            for bad in (weak, encryption):
                refused = fn.call(single(bad.mint())).json()
                assert refused["active"] is False
    finally:
        server.stop()


def test_keys_rotated_mid_run(signer: Signer) -> None:
    successor = Signer.generate("SIGNING_KEY_NEXT")
    server = JwksServer([signer.jwk()]).start()
    try:
        with start_fn(authorizer_env(server.url)) as fn:
            assert allowed(fn, signer)
            server.document = {"keys": [signer.jwk(), successor.jwk()]}  # the IdP publishes the next key
            assert allowed(fn, successor)  # unknown kid: one refetch finds it
            assert allowed(fn, signer)  # the old key still verifies its tokens
            server.document = {"keys": [successor.jwk()]}
            assert allowed(fn, successor)
    finally:
        server.stop()


def test_stale_limit_then_fail_closed_then_recover(signer: Signer) -> None:
    server = JwksServer([signer.jwk()]).start()
    env = authorizer_env(server.url, JWKS_CACHE_SECONDS="1", JWKS_MAX_STALE_SECONDS="2")
    try:
        with start_fn(env) as fn:
            assert allowed(fn, signer)
            server.mode = "status:503"
            time.sleep(1.2)
            assert allowed(fn, signer)  # within the stale limit
            time.sleep(2.0)
            assert not allowed(fn, signer)  # beyond it: 502, fail closed
            server.mode = "ok"
            time.sleep(5.1)  # the failure backoff
            assert allowed(fn, signer)
    finally:
        server.stop()
