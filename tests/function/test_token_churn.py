"""No caller token, at any point of its life, turns calls into token requests
(issue 18): the identity domain's rate limit is the whole tenancy's.

Each case runs one real function under fdk (authorizer-context: the root
function; function backend: ``token_exchange/``) in one grant mode, with or
without the fleet cache on a real redis-server, and calls it 10 times with one
caller token minted at each point of a token's life, the last one inside the
clock-skew leeway after ``exp`` (which the verifier still accepts). The 10
calls take well under one refresh period, so each token may cost at most one
token request. Before the fix, the two tokens nearest ``exp`` cost one request
per call in ``jwt_bearer`` mode (the OIC token was capped at the caller's exp).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from local.fnrun import ROOT, FnProcess
from local.seed import Seeded
from tests.conftest import FUNCTION_OUTPUT
from tests.function.test_backend_fn import BACKEND_DIR, TOKEN_PATH, gateway_call
from tests.tokens import multi

pytestmark = pytest.mark.usefixtures("healthy")

LIFETIME = 3600
# (name, seconds since iat): fresh, past half-life, 20 s before exp, 30 s after exp (leeway 60 s).
LIFE_POINTS = (("fresh", 0), ("past-half-life", 2000), ("20s-before-exp", LIFETIME - 20),
               ("inside-the-leeway-after-exp", LIFETIME + 30))
CALLS = 10


@pytest.fixture(scope="module")
def redis() -> Iterator[Any]:
    from local.redis_server import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


def caller_token(stack: Seeded, user: str, age: int) -> str:
    now = int(time.time())
    return stack.user_token(user, iat=now - age, exp=now - age + LIFETIME)


def function_env(stack: Seeded, mode: str, fleet: dict[str, str]) -> dict[str, str]:
    exchange = stack.jwt_bearer_env() if mode == "jwt_bearer" else stack.exchange_env()
    return {**stack.authorizer_env(), **exchange, "OIC_BASE_URL": stack.oic.url, **fleet}


def call_authorizer(fn: FnProcess, token: str, i: int) -> None:
    """A new request body each time (another query string: the gateway's cache key
    differs), so the authorizer's answer cache cannot hide the exchange."""
    result = fn.call(multi("Bearer " + token, query=f"n={i}"))
    answer = result.json()
    assert result.status == 200 and answer["active"] is True, answer
    expires_at = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert expires_at >= int(time.time()), "an expiresAt in the past"


def call_backend(fn: FnProcess, token: str, i: int) -> None:
    reply = gateway_call(fn, "GET", f"/HELLO_WORLD/1.0/x?n={i}", {"Authorization": "Bearer " + token})
    assert reply["status"] == 200, reply


@pytest.mark.parametrize("fleet", ["local-cache", "fleet-cache"])
@pytest.mark.parametrize("mode", ["client_credentials", "jwt_bearer"])
@pytest.mark.parametrize("topology", ["authorizer-context", "function-backend"])
def test_ten_calls_cost_at_most_one_token_request_at_every_point_of_a_tokens_life(
        stack: Seeded, redis: Any, topology: str, mode: str, fleet: str) -> None:
    shared = redis.env(base64.b64encode(os.urandom(32)).decode()) if fleet == "fleet-cache" else {}
    func_dir, call = (ROOT, call_authorizer) if topology == "authorizer-context" else (BACKEND_DIR, call_backend)
    run = f"{topology}-{mode}-{fleet}"
    users = {name: f"churn-{run}-{name}@example.com" for name, _ in LIFE_POINTS}
    stack.idp.users.update(users.values())
    fn = FnProcess(func_dir, function_env(stack, mode, shared), FUNCTION_OUTPUT)
    FnProcess.start_all([fn])
    try:
        requests_per_point = {}
        for name, age in LIFE_POINTS:
            token = caller_token(stack, users[name], age)
            before = stack.idp.requests[TOKEN_PATH]
            for i in range(CALLS):
                call(fn, token, i)
            requests_per_point[name] = stack.idp.requests[TOKEN_PATH] - before
    finally:
        fn.stop()
    assert all(count <= 1 for count in requests_per_point.values()), requests_per_point
    if mode == "jwt_bearer":  # one OIC token per user: each new user costs exactly one
        assert set(requests_per_point.values()) == {1}, requests_per_point
    else:  # one OIC token for the function: only the first caller costs one
        assert list(requests_per_point.values()) == [1, 0, 0, 0], requests_per_point
