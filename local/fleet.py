"""``make fleet``: a scaled-out fleet on this machine, measured.

K containers of each function under the real fdk runtime, behind the local
API Gateway (round-robin, as a scaled-out function is called), in both
topologies, with ``OIC_GRANT_TYPE=jwt_bearer`` (one OIC token per user).
The identity provider (Authlib) enforces a "Token Mgmt" rate limit (429 +
``Retry-After``). Each topology runs twice on the same load, without and with
the fleet cache (a real redis-server over TLS, test CA), and the table says
how many token requests, 429s and what latency each cost.

The load: N users arrive in random order; each makes C calls (default K),
dispatched round-robin over the K containers, W calls in flight at once.
In the authorizer-context topology every call carries its own user token
(several sessions or devices per user): API Gateway caches the authorizer's
answer per token, so a user reaches the authorizer once per token.

Each run is made twice: with fresh user tokens, and with tokens past their
``exp`` by 30 s when they are sent, inside the 60 s clock-skew leeway the
verifier allows (minted as each call is sent; a user's shared token is minted
again after 20 s, so it never leaves the leeway). Near expiry must cost no more
token requests per subject than fresh (issue 18: the OIC token was once capped
at the caller's ``exp``, and each call then fetched a new one).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from local.fnrun import ROOT, FnProcess
from local.gateway import LocalGateway
from local.redis_server import RedisServer
from local.seed import Seeded, seeded_stack
from local.stack import BACKEND_SPEC, CONTEXT_SPEC, INTEGRATIONS, load_spec

TOKEN_PATH = "/oauth2/v1/token"
TIERS = {  # identity domain "Token Mgmt" limits: per second, per minute
    "free": (10, 150), "oracle-apps": (40, 1000), "oracle-apps-premium": (50, 1700),
    "premium": (65, 3400), "external-user": (60, 2300), "none": (10**9, 10**9),
}


PAST_EXP_SECONDS = 30  # a near-expiry token is sent this long after its exp (the leeway is 60 s)
REMINT_SECONDS = 20  # ...and a shared one is minted again after this long
TOKEN_LIVES = ("fresh", "near-expiry")


@dataclass
class RunResult:
    topology: str
    shared_cache: bool
    token_life: str  # "fresh" or "near-expiry"
    containers: int
    users: int
    calls: int
    token_requests: int
    throttled: int  # 429s the identity provider answered
    statuses: Counter[int]
    latencies_ms: list[float]
    seconds: float
    reasons: Counter[str]  # why calls failed: the backend's error code, or the authorizer's logged reason

    @property
    def per_subject(self) -> float:
        return self.token_requests / self.users

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else 0.0

    def row(self) -> str:
        failures = self.failed
        detail = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return (f"{self.topology:<20} {'yes' if self.shared_cache else 'no':<6} {self.token_life:<12} "
                f"{self.containers:>3} "
                f"{self.users:>6} {self.calls:>7} {self.token_requests:>9} {self.per_subject:>8.2f}x "
                f"{self.throttled:>6} {statistics.median(self.latencies_ms):>8.1f} {self.percentile(0.99):>8.1f} "
                f"{self.calls / self.seconds:>7.0f} {failures:>7}" + (f"  ({detail})" if detail else ""))


HEADER = (f"{'topology':<20} {'cache':<6} {'token life':<12} {'K':>3} {'users':>6} {'calls':>7} {'token req':>9} "
          f"{'/subject':>9} {'429s':>6} {'p50 ms':>8} {'p99 ms':>8} {'call/s':>7} {'non-200':>7}")


def model_line(result: RunResult, limit: tuple[int, int]) -> str:
    """What a run without the fleet cache measured, against the model D(K, C) = K(1-(1-1/K)^C).

    The model counts the token requests a fleet makes when every call succeeds: each container a user reaches asks
    once. Under the identity provider's limit that is not what happens: a request answered 429 fetches no token, the
    call fails, and the container backs off until Retry-After ends, so the calls it gets meanwhile fail without
    asking. The requests counted are then what the limit let through plus the 429s, not the fleet's demand, and the
    model does not apply (``--tier none`` checks it: 5.24 and 5.26 measured for 5.25, docs/scale.md)."""
    k, c = result.containers, result.calls // result.users
    expected = k * (1 - (1 - 1 / k) ** c)
    head = f"{result.topology} ({result.token_life}): without the fleet cache"
    model = f"K(1-(1-1/K)^C) = {expected:.2f} per subject (K={k}, C={c})"
    if result.throttled or result.failed:
        granted = result.token_requests - result.throttled
        why = ", ".join(f"{n} {reason}" for reason, n in result.reasons.most_common(2))
        limited = f"the limit: {limit[0]}/s, {limit[1]}/min" if limit[0] < 10**9 else "no limit"
        return (f"{head}: {result.token_requests} token requests sent, {result.per_subject:.2f} per subject: "
                f"{granted} granted ({limited}, over a {result.seconds:.0f} s run) and "
                f"{result.throttled} answered 429; {result.failed} of {result.calls} calls failed ({why}). "
                f"The model, {model}, assumes every call succeeds (a failed call fetches no token, a throttled "
                f"container backs off): it does not apply to this run"
                + (" (--tier none checks it)" if result.throttled else ""))
    return f"{head}: {result.per_subject:.2f} token requests per subject, no call failed; the model says {model}"


def _start_containers(seeded: Seeded, topology: str, k: int, fleet_env: dict[str, str],
                      logs: list[str]) -> dict[str, list[FnProcess]]:
    exchange = {**seeded.jwt_bearer_env(), **fleet_env,
                # One busy machine plays a whole fleet: give the store room to answer.
                "SHARED_CACHE_TIMEOUT_MS": os.environ.get("SHARED_CACHE_TIMEOUT_MS", "200"),
                "SHARED_CACHE_CONNECT_TIMEOUT_MS": "2000"}
    if not fleet_env:
        exchange = seeded.jwt_bearer_env()
    # And to the token endpoint, in both runs alike.
    exchange["OIC_TOKEN_TIMEOUT_SECONDS"] = os.environ.get("OIC_TOKEN_TIMEOUT_SECONDS", "5")
    authorizer = seeded.authorizer_env()
    if topology == "authorizer-context":
        # The per-integration routes' scopes come from the list the routes were generated from (as local.stack).
        routes = {"GATEWAY_INTEGRATIONS": json.dumps(json.loads(INTEGRATIONS.read_text()), separators=(",", ":"))}
        groups = {"<authorizer-context-function-ocid>": [FnProcess(ROOT, {**authorizer, **exchange, **routes}, logs)
                                                            for _ in range(k)]}
    else:
        backend = {**authorizer, **exchange, "OIC_BASE_URL": seeded.oic.url, "GATEWAY_PATH_PREFIX": "/fn"}
        groups = {
            # The validate-only authorizer is called once per token (the gateway caches its answer).
            "<authorizer-function-ocid>": [FnProcess(ROOT, {**authorizer, "REQUIRED_SCOPES": ""}, logs)
                                           for _ in range(max(1, k // 4))],
            "<token-exchange-function-ocid>": [FnProcess(ROOT / "token_exchange", backend, logs)
                                               for _ in range(k)],
        }
    FnProcess.start_all([fn for fns in groups.values() for fn in fns])
    return groups


async def _drive(url: str, plan: list[tuple[str, Token]],
                 in_flight: int) -> tuple[Counter[int], list[float], Counter[str]]:
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    queue = iter(plan)

    async def worker(session: aiohttp.ClientSession) -> None:
        for _user, token in queue:
            authorization = "Bearer " + token()
            started = time.perf_counter()
            try:
                async with session.get(url, headers={"Authorization": authorization},
                                       timeout=aiohttp.ClientTimeout(total=60)) as response:
                    body = await response.read()
                    statuses[response.status] += 1
                    if response.status != 200:
                        errors[f"{response.status} {_error_code(body)}"] += 1
            except (aiohttp.ClientError, TimeoutError) as failure:
                statuses[599] += 1
                errors[type(failure).__name__] += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(in_flight)))
    return statuses, latencies, errors


def _error_code(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return "(not JSON)"
    return str(answer.get("error") or answer.get("message") or "?") if isinstance(answer, dict) else "?"


def _logged_failures(logs: list[str]) -> Counter[str]:
    """The reasons the containers logged for what they could not do."""
    reasons: Counter[str] = Counter()
    for text in logs:
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("verdict") == "error":
                reasons["authorizer: " + str(entry.get("reason"))] += 1
    return reasons


Token = Callable[[], str]


def _past_exp(seeded: Seeded, user: str) -> str:
    now = int(time.time())
    return seeded.user_token(user, iat=now - 3600 - PAST_EXP_SECONDS, exp=now - PAST_EXP_SECONDS)


class _SharedPastExp:
    """One user's token past its exp, shared by the user's calls, minted again
    before it leaves the leeway."""

    def __init__(self, seeded: Seeded, user: str) -> None:
        self.seeded, self.user, self.token, self.minted = seeded, user, "", float("-inf")

    def __call__(self) -> str:
        if time.monotonic() - self.minted > REMINT_SECONDS:
            self.token, self.minted = _past_exp(self.seeded, self.user), time.monotonic()
        return self.token


def _plan(seeded: Seeded, topology: str, users: list[str], calls_per_user: int,
          rng: random.Random, life: str = "fresh") -> list[tuple[str, Token]]:
    """Rounds of calls, each round every user once, in a new random order."""
    shared = topology == "function-backend"
    tokens: dict[str, Token] = {}
    for user in users if shared else ():
        if life == "fresh":
            fresh = seeded.user_token(user)
            tokens[user] = lambda fresh=fresh: fresh  # type: ignore[misc]
        else:
            tokens[user] = _SharedPastExp(seeded, user)

    def own(user: str) -> Token:  # authorizer-context: a token per call
        if life == "fresh":
            fresh = seeded.user_token(user)
            return lambda: fresh
        return lambda: _past_exp(seeded, user)

    plan = []
    for _ in range(calls_per_user):
        order = users[:]
        rng.shuffle(order)
        plan += [(u, tokens[u] if shared else own(u)) for u in order]
    return plan


def run_one(seeded: Seeded, topology: str, shared: bool, args: argparse.Namespace, users: list[str],
            redis: RedisServer | None, life: str = "fresh") -> RunResult:
    fleet_env = redis.env(base64.b64encode(os.urandom(32)).decode()) if shared and redis else {}
    logs: list[str] = []
    groups = _start_containers(seeded, topology, args.containers, fleet_env, logs)
    spec, prefix = (CONTEXT_SPEC, "/ctx") if topology == "authorizer-context" else (BACKEND_SPEC, "/fn")
    sockets: dict[str, str | list[str]] = {fid: [str(fn.socket_path) for fn in fns] for fid, fns in groups.items()}
    gateway = LocalGateway(load_spec(spec), functions=sockets, path_prefix=prefix,
                           url_rewrites={"https://<oic-host>": seeded.oic.url}).start()
    try:
        plan = _plan(seeded, topology, users, args.calls_per_user, random.Random(args.seed), life)  # noqa: S311 - a repeatable load, not a secret
        _warm([fn for fns in groups.values() for fn in fns])
        seeded.idp.limit_token_rate(args.limit)
        before_tokens, before_429 = seeded.idp.token_requests(), seeded.idp.throttled
        started = time.perf_counter()
        statuses, latencies, errors = asyncio.run(_drive(gateway.url + "/HELLO_WORLD/1.0/hello", plan,
                                                         args.in_flight))
        seconds = time.perf_counter() - started
        token_requests, throttled = seeded.idp.token_requests() - before_tokens, seeded.idp.throttled - before_429
    finally:
        seeded.idp.limit_token_rate(None)
        gateway.stop()
        for fns in groups.values():
            for fn in fns:
                fn.stop()
    return RunResult(topology, shared, life, args.containers, len(users), len(plan), token_requests, throttled,
                     statuses, latencies, seconds, errors + _logged_failures(logs))


def _warm(containers: list[FnProcess]) -> None:
    """fdk imports the function on its first call: make that call, one that
    needs no token (a malformed token; a refused path), in every container at once."""
    import threading

    def first_call(fn: FnProcess) -> None:
        if fn.func_dir == ROOT:
            fn.call({"type": "TOKEN", "token": "x.y.z"})
        else:
            fn.call(b"", headers={"Fn-Intent": "httprequest", "Fn-Http-Method": "GET",
                                  "Fn-Http-Request-Url": "/fn/%2e%2e/x"})

    threads = [threading.Thread(target=first_call, args=(fn,)) for fn in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _rate(text: str) -> tuple[int, int]:
    per_second, _, per_minute = text.partition("/")
    return int(per_second), int(per_minute)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", "-k", type=int, default=8, help="containers per function (K)")
    parser.add_argument("--users", "-n", type=int, default=300, help="distinct users (N)")
    parser.add_argument("--calls-per-user", "-c", type=int, default=None, help="calls per user (default K)")
    parser.add_argument("--in-flight", "-w", type=int, default=None, help="calls in flight (default K)")
    parser.add_argument("--tier", choices=sorted(TIERS), default=None,
                        help="enforce this identity domain tier's Token Mgmt limit instead of --rate")
    parser.add_argument("--rate", default="100/600",
                        help="the IdP's token limit, <per second>/<per minute> (default 100/600: scaled to this "
                             "machine's throughput, see docs/scale.md)")
    parser.add_argument("--topology", choices=["both", "function-backend", "authorizer-context"], default="both")
    parser.add_argument("--token-life", choices=["both", *TOKEN_LIVES], default="both",
                        help="caller tokens fresh, near their expiry (crossing it during the run), or both")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    args.calls_per_user = args.calls_per_user or args.containers
    args.in_flight = args.in_flight or args.containers

    seeded = seeded_stack()
    redis = RedisServer().start()
    users = [f"user{i:05d}@example.com" for i in range(args.users)]
    seeded.idp.users.update(users)
    seeded.idp.users.update(u.replace("user", "near", 1) for u in users)
    topologies = ["function-backend", "authorizer-context"] if args.topology == "both" else [args.topology]
    limit = args.limit = TIERS[args.tier] if args.tier else _rate(args.rate)
    print(f"{args.containers} containers per function, {args.users} users x {args.calls_per_user} calls, "
          f"{args.in_flight} in flight, OIC_GRANT_TYPE=jwt_bearer; identity provider limit {limit[0]}/s and "
          f"{limit[1]}/min ({args.tier or 'scaled'}); redis-server {redis.url} over TLS",
          flush=True)
    print(HEADER, flush=True)
    results = []
    try:
        lives = TOKEN_LIVES if args.token_life == "both" else (args.token_life,)
        for topology in topologies:
            for shared in (False, True):
                for life in lives:
                    # Another set of users per token life: each starts with empty caches everywhere.
                    run_users = users if life == "fresh" else [u.replace("user", "near", 1) for u in users]
                    result = run_one(seeded, topology, shared, args, run_users, redis, life)
                    results.append(result)
                    print(result.row(), flush=True)
    finally:
        redis.stop()
        seeded.stop()
    verdicts = []
    for result in results:
        if result.shared_cache:
            ok = result.token_requests <= 1.05 * result.users
            verdicts.append(ok)
            print(f"{result.topology} ({result.token_life}): with the fleet cache {result.per_subject:.3f} "
                  f"token requests per subject "
                  f"(goal <= 1.05): {'met' if ok else 'NOT met'}")
        else:
            print(model_line(result, limit), flush=True)
    fresh = {(r.topology, r.shared_cache): r for r in results if r.token_life == "fresh"}
    for result in results:
        baseline = fresh.get((result.topology, result.shared_cache))
        if result.token_life != "near-expiry" or baseline is None:
            continue
        ok = result.per_subject <= baseline.per_subject * 1.05 + 0.05
        verdicts.append(ok)
        print(f"{result.topology}, {'with' if result.shared_cache else 'without'} the fleet cache: tokens near "
              f"expiry cost {result.per_subject:.2f} token requests per subject, fresh ones "
              f"{baseline.per_subject:.2f} (goal: no more): {'met' if ok else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([{**{k: v for k, v in r.__dict__.items() if k not in ("latencies_ms", "statuses")},
                        "statuses": dict(r.statuses), "p50_ms": statistics.median(r.latencies_ms),
                        "p99_ms": r.percentile(0.99), "per_subject": r.per_subject} for r in results], out, indent=1)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
