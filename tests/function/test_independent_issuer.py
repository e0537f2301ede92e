"""Tokens from an issuer this project did not write: the npm package
oauth2-mock-server (8.x), shaped like IDCS tokens by its beforeTokenSigning
hook. The authorizer must accept its valid tokens and refuse tampered ones."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.fnrun import ROOT
from tests.conftest import start_fn
from tests.tokens import AUDIENCE, SCOPE, SENSITIVE, single

NPM_DIR = ROOT / "tests" / "npm"


@pytest.fixture(scope="module")
def issuer() -> Iterator[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "Node.js is needed for this test (make test installs the npm package)"
    assert (NPM_DIR / "node_modules" / "oauth2-mock-server").is_dir(), "run make test (npm ci in tests/npm)"
    proc = subprocess.Popen([node, "issuer.mjs"], cwd=NPM_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "AUDIENCE": AUDIENCE, "SCOPE": f"{SCOPE} other"})
    assert proc.stdout is not None and proc.stdin is not None
    info = json.loads(proc.stdout.readline())
    yield info
    proc.stdin.close()
    proc.wait(timeout=10)


def mock_token(issuer: dict[str, Any]) -> str:
    response = requests.post(issuer["token_url"], data={"grant_type": "client_credentials", "scope": SCOPE},
                             auth=("vendor-app", "any-secret"), timeout=10)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    SENSITIVE.add(token)
    return token


def test_independent_issuer_tokens(issuer: dict[str, Any]) -> None:
    token = mock_token(issuer)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"]  # the library's own key id
    env = {"JWKS_URL": issuer["jwks_url"], "TOKEN_AUDIENCES": AUDIENCE, "REQUIRED_SCOPES": SCOPE}
    with start_fn(env) as fn:
        answer = fn.call(single(token)).json()
        assert answer["active"] is True and answer["principal"] == "vendor-app" and answer["clientId"] == "vendor-app"
        head, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "admin"}).encode()).rstrip(b"=").decode()
        for tampered in (f"{head}.{forged}.{signature}", f"{head}.{payload}.{signature[:-6]}AAAAAA",
                         f"{head}.{payload}."):
            refused = fn.call(single(tampered)).json()
            assert refused["active"] is False and 'error="invalid_token"' in refused["wwwAuthenticate"]
