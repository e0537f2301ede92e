"""Identity-provider faults: real servers on 127.0.0.1 that misbehave on cue,
the authorizer under the real fdk runtime. For each fault: the documented
behaviour, and a bound on how long any call takes."""

from __future__ import annotations

import json
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
            dropped = [json.loads(line) for line in fn.output().splitlines() if "jwks keys dropped" in line]
    finally:
        server.stop()
    # Logged once per fetch (two here: the first call, and the unknown-kid
    # refetch for WEAK), each key with its reason; never key material.
    assert len(dropped) == 2, dropped
    reasons = {entry["kid"]: entry["reason"] for entry in dropped[0]["dropped"]}
    assert reasons == {"SYM": "publishes private or symmetric key material", "WEAK": "modulus of 1024 bits",
                       "ENC": "'use' is not sig", "PRIV": "publishes private or symmetric key material"}
    assert dropped[0]["usable"] == 1 and dropped[0]["level"] == "WARNING"
    for key in doc:
        for member in ("n", "k", "d"):
            if member in key:
                assert key[member] not in json.dumps(dropped)


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
            time.sleep(1.1)  # the backoff after a failure with no usable keys (1 s)
            assert allowed(fn, signer)
    finally:
        server.stop()


def test_recovery_at_the_stale_limit_while_the_provider_answers(signer: Signer) -> None:
    """The issue's run: fresh 2 s, stale 8 s; the provider answers 503 from 0
    to 6 s (a background refresh fails at 5.5 s) and is healthy after. A new
    token past the stale limit (10.3 s) is accepted: the provider answers."""
    server = JwksServer([signer.jwk()]).start()
    env = authorizer_env(server.url, JWKS_CACHE_SECONDS="2", JWKS_MAX_STALE_SECONDS="8")
    try:
        with start_fn(env) as fn:
            assert allowed(fn, signer)  # keys fetched: t = 0
            t0 = time.monotonic()
            server.mode = "status:503"

            def at(second: float) -> None:
                time.sleep(max(0.0, t0 + second - time.monotonic()))

            at(5.5)
            assert allowed(fn, signer)  # stale keys; the background refresh fails
            at(6.0)
            server.mode = "ok"
            at(10.3)  # past the stale limit (at most 10 s after the fetch)
            assert allowed(fn, signer), fn.output()
    finally:
        server.stop()
