"""`make demo` and `make up`, as a newcomer runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import requests

from local.fnrun import FDK, ROOT


def fdk_processes() -> set[int]:
    """This checkout's fdk processes (its own .venv/bin/fdk), so another
    checkout's tests running on the same machine are not counted."""
    fdk = str(FDK)
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return {int(line.split()[0]) for line in out.splitlines()[1:] if fdk in line}


def test_demo_runs_the_whole_chain_and_cleans_up() -> None:
    before = fdk_processes()
    result = subprocess.run([sys.executable, "-m", "local.demo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "25/25 steps behaved as expected" in result.stdout
    assert "function backend: call HelloWorld" in result.stdout and "authorizer-context: call again" in result.stdout
    assert "token-exchange invoked directly, X-Caller-Sub only" in result.stdout
    for step in ("authorizer-context: call QUOTE in OIC 3 project SALES",
                 "function backend: call QUOTE in OIC 3 project SALES",
                 "access policy: project SALES QUOTE (rule sales)"):
        assert re.search(re.escape(step) + r"\s+200\s+200 .* ok  OIC 3: project SALES", result.stdout), step
    assert re.search(r"usage plans: vendor B call 3\s+429\s+429 .* ok  Retry-After: \d+ s", result.stdout)
    assert re.search(r"usage plans: vendor A meanwhile\s+200\s+200 .* ok", result.stdout)
    assert fdk_processes() <= before  # nothing left running


def test_up_serves_until_interrupted(tmp_path) -> None:
    before = fdk_processes()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOCAL_RUN_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "local.demo", "--up"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    text = "".join(lines)
    token_url = re.search(r"(http://127\.0\.0\.1:\d+/oauth2/v1/token)", text)
    creds = re.search(r"-u '([^:]+):([^']+)'", text)
    scope = re.search(r"-d 'scope=([^']+)'", text)
    call = re.search(r'(http://127\.0\.0\.1:\d+/ctx/HELLO_WORLD/1\.0/hello)', text)
    backend = re.search(r'(http://127\.0\.0\.1:\d+/fn/HELLO_WORLD/1\.0/hello)', text)
    forbidden = re.search(r'(http://127\.0\.0\.1:\d+/acl/ORDERS/1\.0/new)', text)
    assert token_url and creds and scope and call and backend and forbidden, text
    assert f"make invoke FN=token-exchange ENV={tmp_path}/token-exchange.env" in text
    token = requests.post(token_url.group(1), data={"grant_type": "client_credentials", "scope": scope.group(1)},
                          auth=(creds.group(1), creds.group(2)), timeout=10).json()["access_token"]
    reply = requests.get(call.group(1), headers={"Authorization": "Bearer " + token}, timeout=30)
    assert reply.status_code == 200 and reply.json()["message"] == "Hello from HELLO_WORLD"
    refused = requests.get(forbidden.group(1), headers={"Authorization": "Bearer " + token}, timeout=30)
    # Not granted by the access rules: the route's ANY_OF refuses it, no challenge naming a scope.
    assert refused.status_code == 403 and "WWW-Authenticate" not in refused.headers

    # The test tokens an operator mints beside it, and what each gets.
    def minted(kind: str) -> str:
        result = subprocess.run([sys.executable, "-m", "local.mint", kind, "--run-dir", str(tmp_path)], cwd=ROOT,
                                capture_output=True, text=True, timeout=30, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    for kind, url, status, says in (("valid", call, 200, ""), ("expired", call, 401, "token expired"),
                                    ("wrong-audience", call, 401, "audience not accepted"),
                                    ("no-scope", call, 401, "insufficient_scope"), ("no-scope", backend, 403, "")):
        answer = requests.get(url.group(1), headers={"Authorization": "Bearer " + minted(kind)}, timeout=30)
        assert answer.status_code == status and says in answer.headers.get("WWW-Authenticate", ""), (kind, answer)
    assert (tmp_path / "authorizer.env").read_text().startswith("# the authorizer")

    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert fdk_processes() <= before
    # The functions' logs were shown, one readable line each, named.
    decisions = [line for line in rest.splitlines() if "  decision  " in line]
    assert any(re.match(r"\d\d:\d\d:\d\d  authorizer-context +INFO +decision  .*verdict=allow", line)
               for line in decisions), rest
    assert any("authorizer-policy" in line and "verdict=allow" in line for line in decisions), rest
    assert not (tmp_path / "stack.json").exists()  # removed on stop
