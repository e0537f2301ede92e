"""`make demo`: play the external vendor against the whole local chain.

Starts the stack, gets a client-credentials token (the blog's Postman step,
with requests), calls the HelloWorld integration through the gateway in both
topologies, shows the refusals, prints what happened, stops everything, and
exits 0 only if every step behaved as expected.

`make up` (``python -m local.demo --up``) starts the same stack and keeps it
running with ready-to-paste curl commands; Ctrl-C stops it.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from local.fnrun import ROOT
from local.idp import App
from local.logview import LogFollower
from local.seed import APIGW_AUDIENCE, APIGW_OTHER_SCOPE, APIGW_SCOPE, VENDOR_ID
from local.stack import VENDOR_B_ID, Stack, remove_run_files, start_stack, write_run_files

HELLO = "/HELLO_WORLD/1.0/hello"
PROJECT = "/project/SALES/QUOTE/1.0/hello"  # an OIC 3 integration inside the project SALES
FORBIDDEN = "/ORDERS/1.0/new"  # no rule of the local access policy grants it
TOKEN_PATH = "/oauth2/v1/token"
JWKS_PATH = "/admin/v1/SigningCert/jwk"


@dataclass
class Step:
    name: str
    expected: int
    status: int = 0
    ms: float = 0.0
    idp_calls: str = ""
    note: str = ""
    ok: bool = False


def vendor_token(stack: Stack, scope: str) -> str:
    """What the vendor's application (or Postman) does: client credentials."""
    response = requests.post(
        stack.seeded.idp.token_url,
        data={"grant_type": "client_credentials", "scope": APIGW_AUDIENCE + scope},
        auth=(VENDOR_ID, stack.seeded.vendor_secret),
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@dataclass
class Direct:
    """A direct call to the token-exchange function, as anything IAM lets invoke it could make."""

    status_code: int
    headers: dict[str, str]


def invoke_backend(stack: Stack, headers: dict[str, str]) -> Direct:
    """Invoke the backend over its fdk socket with the gateway's framing, but no gateway in front."""
    framed = {"Fn-Intent": "httprequest", "Fn-Http-Method": "GET", "Fn-Http-Request-Url": "/fn" + HELLO,
              **{f"Fn-Http-H-{k}": v for k, v in headers.items()}}
    result = stack.functions["token-exchange"].call(b"", headers=framed)
    returned = {k[len("fn-http-h-"):]: v for k, v in result.headers.items() if k.startswith("fn-http-h-")}
    return Direct(int(result.headers.get("fn-http-status", result.status)), returned)


def run_step(stack: Stack, steps: list[Step], name: str, expected: int, call: Callable[[], Any],
             check: Callable[[Any], str] | None = None) -> Any:
    idp = stack.seeded.idp
    before_token, before_jwks = idp.requests[TOKEN_PATH], idp.requests[JWKS_PATH]
    started = time.perf_counter()
    response = call()
    step = Step(name, expected, response.status_code, (time.perf_counter() - started) * 1000)
    calls = []
    if idp.requests[TOKEN_PATH] > before_token:
        calls.append(f"token x{idp.requests[TOKEN_PATH] - before_token}")
    if idp.requests[JWKS_PATH] > before_jwks:
        calls.append(f"JWKS x{idp.requests[JWKS_PATH] - before_jwks}")
    step.idp_calls = ", ".join(calls) or "none"
    step.note = check(response) if check else ""
    step.ok = response.status_code == expected and not step.note.startswith("UNEXPECTED")
    steps.append(step)
    return response


def tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    return f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"


def run_demo(stack: Stack) -> list[Step]:
    steps: list[Step] = []
    seeded = stack.seeded
    get = requests.get

    def oic_answer(expected_caller: str, integration: str = "HELLO_WORLD") -> Callable[[requests.Response], str]:
        def check(response: requests.Response) -> str:
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                return "UNEXPECTED: not JSON"
            if body.get("message") != f"Hello from {integration}" or body.get("caller") != expected_caller:
                return f"UNEXPECTED: {body}"
            return f"OIC: {body['message']} (OIC saw caller {body['caller']})"
        return check

    def project_answer(response: requests.Response) -> str:
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            return "UNEXPECTED: not JSON"
        if (body.get("project") != "SALES" or body.get("integration") != "QUOTE"
                or body.get("caller") != "oic-client"):
            return f"UNEXPECTED: {body}"
        return "OIC 3: project SALES, integration QUOTE (v2 project URL)"

    def challenge(response: Any) -> str:
        headers = {k.lower(): str(v) for k, v in response.headers.items()}
        return headers.get("www-authenticate", "")[:70]

    # 1. The vendor gets its token: the only identity-provider call it makes.
    before = seeded.idp.requests[TOKEN_PATH]
    started = time.perf_counter()
    token = vendor_token(stack, APIGW_SCOPE)
    steps.append(Step("vendor gets a client-credentials token", 200, 200, (time.perf_counter() - started) * 1000,
                      f"token x{seeded.idp.requests[TOKEN_PATH] - before}", "client id + secret + scope", True))
    bearer = {"Authorization": "Bearer " + token}

    # 2. HelloWorld through both topologies; repeated calls cost no IdP request.
    run_step(stack, steps, "authorizer-context: call HelloWorld", 200,
             lambda: get(stack.context_url + HELLO, headers=bearer, timeout=30), oic_answer("oic-client"))
    run_step(stack, steps, "authorizer-context: call again", 200,
             lambda: get(stack.context_url + HELLO, headers=bearer, timeout=30), oic_answer("oic-client"))
    run_step(stack, steps, "function backend: call HelloWorld", 200,
             lambda: get(stack.backend_url + HELLO, headers=bearer, timeout=30), oic_answer("oic-client"))
    run_step(stack, steps, "function backend: call again", 200,
             lambda: get(stack.backend_url + HELLO, headers=bearer, timeout=30), oic_answer("oic-client"))

    def calling(base: str, token: str | None, path: str = HELLO) -> Callable[[], requests.Response]:
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        return lambda: get(base + path, headers=headers, timeout=30)

    for label, base in (("authorizer-context", stack.context_url), ("function backend", stack.backend_url)):
        run_step(stack, steps, f"{label}: call QUOTE in OIC 3 project SALES", 200,
                 calling(base, token, PROJECT), project_answer)

    # 3. Refusals.
    for label, base in (("authorizer-context", stack.context_url), ("function backend", stack.backend_url)):
        run_step(stack, steps, f"{label}: no token", 401, calling(base, None), challenge)
        run_step(stack, steps, f"{label}: tampered token", 401, calling(base, tampered(token)), challenge)
    no_scope = vendor_token(stack, APIGW_OTHER_SCOPE)
    run_step(stack, steps, "authorizer-context: token without the scope", 401,
             lambda: get(stack.context_url + HELLO, headers={"Authorization": "Bearer " + no_scope}, timeout=30),
             challenge)
    run_step(stack, steps, "function backend: token without the scope", 403,
             lambda: get(stack.backend_url + HELLO, headers={"Authorization": "Bearer " + no_scope}, timeout=30),
             lambda r: "route ANY_OF allowedScope")
    # 4. The backend verifies its caller itself: invoked directly, a header claiming an identity proves nothing.
    run_step(stack, steps, "token-exchange invoked directly, X-Caller-Sub only", 401,
             lambda: invoke_backend(stack, {"X-Caller-Sub": "admin@example.com"}), challenge)
    run_step(stack, steps, "token-exchange invoked directly, tampered token", 401,
             lambda: invoke_backend(stack, {"Authorization": "Bearer " + tampered(token)}), challenge)
    run_step(stack, steps, "token-exchange invoked directly, valid token", 200,
             lambda: invoke_backend(stack, bearer), lambda r: "the backend verified the caller itself")
    now = int(time.time())
    expired = seeded.idp.mint(seeded.idp.apps[VENDOR_ID], None, APIGW_AUDIENCE + APIGW_SCOPE,
                              iat=now - 7200, exp=now - 3600)
    for label, base in (("authorizer-context", stack.context_url), ("function backend", stack.backend_url)):
        run_step(stack, steps, f"{label}: expired token", 401, calling(base, expired), challenge)

    # 5. Per-integration rules, one route each: the authorizer returns the scope of each
    # integration the rules grant; each route's ANY_OF asks for its own. The same token
    # reaches HELLO_WORLD and the SALES project, not ORDERS (the gateway refuses it itself).
    run_step(stack, steps, "access policy: HelloWorld (rule hello-world)", 200,
             lambda: get(stack.policy_url + HELLO, headers=bearer, timeout=30), oic_answer("oic-client"))
    run_step(stack, steps, "access policy: project SALES QUOTE (rule sales)", 200,
             lambda: get(stack.policy_url + PROJECT, headers=bearer, timeout=30), project_answer)
    run_step(stack, steps, "access policy: ORDERS (not granted)", 403,
             lambda: get(stack.policy_url + FORBIDDEN, headers=bearer, timeout=30),
             lambda r: "route ANY_OF oic:ORDERS/1.0: not in the granted scopes")

    # 6. Usage plans: the verified client id names the vendor. Vendor B (bronze,
    # 2 calls a day) is throttled while vendor A (gold) is still served.
    vendor_b = seeded.idp.mint(App(VENDOR_B_ID, name="Vendor B"), None, APIGW_AUDIENCE + APIGW_SCOPE)

    def retry_after(response: requests.Response) -> str:
        seconds = response.headers.get("Retry-After", "")
        if not seconds.isdigit() or int(seconds) <= 1:  # 1 s would be the rate limit, not the daily quota
            return f"UNEXPECTED: Retry-After {seconds!r}"
        return f"Retry-After: {seconds} s (bronze: 2 calls a day)"

    for n in (1, 2):
        run_step(stack, steps, f"usage plans: vendor B call {n} of its 2", 200, calling(stack.plans_url, vendor_b),
                 oic_answer("oic-client"))
    run_step(stack, steps, "usage plans: vendor B call 3", 429, calling(stack.plans_url, vendor_b), retry_after)
    run_step(stack, steps, "usage plans: vendor A meanwhile", 200, calling(stack.plans_url, token),
             oic_answer("oic-client"))
    return steps


def print_table(steps: list[Step]) -> None:
    width = max(len(s.name) for s in steps)
    print(f"\n{'step':<{width}}  HTTP  expect  {'ms':>7}  {'IdP calls':<16} note")
    print(f"{'-' * width}  ----  ------  -------  {'-' * 16} ----")
    for s in steps:
        mark = "ok" if s.ok else "FAIL"
        print(f"{s.name:<{width}}  {s.status:>4}  {s.expected:>6}  {s.ms:7.1f}  {s.idp_calls:<16} {mark}  {s.note}")


def up(stack: Stack) -> None:
    seeded = stack.seeded
    files = write_run_files(stack)

    def env_option(function: str) -> str:
        # make invoke reads .run/<function>.env unless told otherwise.
        return "" if files[function] == ROOT / ".run" / f"{function}.env" else f" ENV={files[function]}"
    print(f"""
The local chain is running. Paste these into another terminal:

  TOKEN=$(curl -s -u '{VENDOR_ID}:{seeded.vendor_secret}' \\
      -d grant_type=client_credentials -d 'scope={APIGW_AUDIENCE}{APIGW_SCOPE}' \\
      {seeded.idp.token_url} | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  curl -i -H "Authorization: Bearer $TOKEN" {stack.context_url}{HELLO}   # authorizer-context
  curl -i -H "Authorization: Bearer $TOKEN" {stack.backend_url}{HELLO}    # function backend
  curl -i {stack.context_url}{HELLO}                                        # no token: 401
  curl -i -H "Authorization: Bearer $TOKEN" {stack.plans_url}{HELLO}    # with usage plans (gold)
  curl -i -H "Authorization: Bearer $TOKEN" {stack.policy_url}{HELLO}   # access policy: allowed
  curl -i -H "Authorization: Bearer $TOKEN" {stack.policy_url}{FORBIDDEN}    # access policy: not granted, 403

Test tokens from the local identity provider (valid, expired, wrong-audience, no-scope):

  curl -i -H "Authorization: Bearer $(make -s mint KIND=expired)" {stack.context_url}{HELLO}          # 401
  curl -i -H "Authorization: Bearer $(make -s mint KIND=wrong-audience)" {stack.context_url}{HELLO}   # 401
  curl -i -H "Authorization: Bearer $(make -s mint KIND=no-scope)" {stack.backend_url}{HELLO}          # 403

One function alone, as the Fn agent calls it, with the settings written to {files["authorizer"].parent}:

  TOKEN=$(make -s mint KIND=valid) make invoke FN=authorizer{env_option("authorizer")} \\
      < deploy/sample-authorizer-input.json
  TOKEN=$(make -s mint KIND=valid) make invoke FN=token-exchange{env_option("token-exchange")} \\
      < deploy/sample-token-exchange-input.json

Identity provider: {seeded.idp.url}  (JWKS {seeded.idp.jwks_url})
OIC stub:          {seeded.oic.url}
The functions' logs follow, one line each, prefixed with the function's name.
Press Ctrl-C to stop.
""", flush=True)
    follower = LogFollower(stack.functions, sys.stdout).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        follower.stop()
        remove_run_files(files)


def main(argv: list[str]) -> int:
    print("starting the local chain: identity provider, OIC stub, 4 functions under fdk, 4 gateway deployments...",
          flush=True)
    started = time.perf_counter()
    stack = start_stack()
    print(f"ready in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        if "--up" in argv:
            up(stack)
            return 0
        steps = run_demo(stack)
        print_table(steps)
        failed = [s for s in steps if not s.ok]
        print(f"\n{len(steps) - len(failed)}/{len(steps)} steps behaved as expected.")
        return 1 if failed else 0
    finally:
        stack.stop()
        print("stopped everything.", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
