"""`make soak`: 100,000 calls through the real fdk runtime, authorizer-context
topology, over a mix of valid (new and repeated) and bad tokens. Reports
errors, the function's memory over time, and identity-provider requests.

    python -m bench.soak [calls]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.fnrun import ROOT as REPO  # noqa: E402
from local.fnrun import FnProcess  # noqa: E402
from local.seed import APIGW_AUDIENCE, APIGW_SCOPE, seeded_stack  # noqa: E402


def _mint(args: tuple[bytes, int, int]) -> list[bytes]:
    import jwt
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem, count, seed = args
    key = load_pem_private_key(pem, None)
    now = int(time.time())
    out = []
    for i in range(count):
        claims = {"iss": "https://identity.oraclecloud.com/", "aud": [APIGW_AUDIENCE], "scope": APIGW_SCOPE,
                  "sub": f"vendor-{seed}-{i}", "client_id": "vendor-app", "iat": now, "exp": now + 7200,
                  "jti": f"{seed}-{i}"}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "SIGNING_KEY"})  # type: ignore[arg-type]
        out.append(json.dumps({"type": "USER_DEFINED", "data": {"token": "Bearer " + token}}).encode())
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    from cryptography.hazmat.primitives import serialization

    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    distinct = total * 3 // 10
    stack = seeded_stack()
    pem = stack.idp.signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
    print(f"minting {distinct} distinct valid tokens...", flush=True)
    started = time.time()
    with multiprocessing.Pool(os.cpu_count() or 2) as pool:
        chunks = pool.map(_mint, [(pem, 1000, seed) for seed in range(distinct // 1000)])
    fresh = [body for chunk in chunks for body in chunk]
    repeated = fresh[:100]
    rng = random.Random(7)
    bad_pool = [b"not json", b'{"type":"TOKEN"}', b'{"type":"TOKEN","token":"Bearer a.b.c"}']
    for body in fresh[:300]:
        text = body.decode()
        bad_pool.append(text[:-12].encode() + b'AAAAAAAAA"}}')  # signature bits changed
    print(f"minted in {time.time() - started:.0f} s; running {total} calls...", flush=True)
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    idp_before = sum(stack.idp.requests.values())
    counts = {"allow": 0, "deny": 0, "error": 0}
    rss: list[tuple[int, float]] = []
    latencies: list[float] = []
    fresh_iter = iter(fresh)
    with FnProcess(REPO, env) as fn:
        assert fn.proc is not None
        started = time.time()
        for i in range(total):
            roll = rng.random()
            if roll < 0.3:
                body = next(fresh_iter, None) or rng.choice(repeated)
            elif roll < 0.7:
                body = rng.choice(repeated)
            else:
                body = rng.choice(bad_pool)
            result = fn.call(body)
            latencies.append(result.seconds)
            if result.status != 200:
                counts["error"] += 1
            elif json.loads(result.body)["active"]:
                counts["allow"] += 1
            else:
                counts["deny"] += 1
            if i % 10_000 == 0 or i == total - 1:
                rss.append((i, rss_mb(fn.proc.pid)))
                print(f"  {i:>7} calls  RSS {rss[-1][1]:.1f} MB  {counts}", flush=True)
        elapsed = time.time() - started
    stack.stop()
    latencies.sort()
    idp_used = sum(stack.idp.requests.values()) - idp_before
    growth = rss[-1][1] - rss[1][1] if len(rss) > 1 else 0.0
    p50, p99 = latencies[len(latencies) // 2] * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3
    print(f"\n{total} calls in {elapsed:.0f} s ({total / elapsed:.0f}/s); p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"decisions: {counts}")
    print(f"function RSS: {rss[0][1]:.1f} MB at start, {rss[1][1] if len(rss) > 1 else 0:.1f} MB after 10,000, "
          f"{rss[-1][1]:.1f} MB at the end (growth after warm-up {growth:+.1f} MB)")
    print(f"identity-provider requests: {idp_used} (JWKS and OIC token; the cache policy allows 2)")
    ok = counts["error"] == 0 and idp_used <= 2 and growth <= 50
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
