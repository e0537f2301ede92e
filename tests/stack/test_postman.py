"""The Postman collection docs/setup-oci.md hands to testers (deploy/postman), run by newman, Postman's own
runner, against the local stack: its four calls answer as the guide says, and newman prints no token or secret."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.seed import APIGW_AUDIENCE, APIGW_SCOPE, VENDOR_ID
from local.stack import Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "deploy" / "postman" / "oic-gateway.postman_collection.json"
NEWMAN = ROOT / "tests" / "npm" / "node_modules" / ".bin" / "newman"
EXPECTED_TESTS = [
    "the identity domain answers 200", "a bearer JWT", "OIC answers through the gateway: 200", "refused: 401",
    "with a Bearer challenge", "refused: 403",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    stack = start_stack()
    try:
        yield stack
    finally:
        stack.stop()


def newman(stack: Stack, tmp_path: Path, **overrides: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    assert NEWMAN.exists(), "newman is missing: make test installs tests/npm (npm ci --prefix tests/npm)"
    variables = {"token_url": stack.seeded.idp.token_url, "client_id": VENDOR_ID,
                 "client_secret": stack.seeded.vendor_secret, "scope": APIGW_AUDIENCE + APIGW_SCOPE,
                 # The access-policy deployment: this vendor may call HELLO_WORLD, not ORDERS.
                 "endpoint": stack.policy_url, **overrides}
    report = tmp_path / "report.json"
    args = [str(NEWMAN), "run", str(COLLECTION), "--reporters", "cli,json", "--reporter-json-export", str(report),
            "--timeout-request", "10000", "--color", "off"]
    for key, value in variables.items():
        args += ["--env-var", f"{key}={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return result, json.loads(report.read_text())


def assertions(report: Any) -> dict[str, bool]:
    return {a["assertion"]: "error" not in a for e in report["run"]["executions"] for a in e.get("assertions", [])}


def guide_sample() -> list[str]:
    """The expected newman output docs/setup-oci.md shows (its text block after the newman command)."""
    guide = (ROOT / "docs" / "setup-oci.md").read_text()
    block = guide.split("newman run deploy/postman/", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def test_the_collection_answers_as_the_guide_says(stack: Stack, tmp_path: Path) -> None:
    result, report = newman(stack, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # The guide's sample, line by line: names and assertions exactly; requests by method, path and status.
    printed = [line.rstrip() for line in result.stdout.splitlines() if line.strip()]
    sample = guide_sample()
    assert len(sample) == 14
    for expected in sample:
        if expected.lstrip().startswith(("POST ", "GET ")):
            method, url, status = expected.split(maxsplit=2)
            path = url.split("<gateway-host>/oic", 1)[-1] if "<gateway-host>" in url else "/oauth2/v1/token"
            assert any(line.split()[:1] == [method] and line.split()[1].endswith(path)
                       and status.removesuffix("...]") in line for line in printed), expected
        else:
            assert expected in printed, expected
    assert assertions(report) == dict.fromkeys(EXPECTED_TESTS, True)
    assert [e["response"]["code"] for e in report["run"]["executions"]] == [200, 200, 401, 403]
    # newman's console output carries no token and no secret (the token lives in a collection variable).
    token = json.loads(bytes(report["run"]["executions"][0]["response"]["stream"]["data"]))["access_token"]
    output = result.stdout + result.stderr
    assert token.count(".") == 2 and token not in output and token.split(".")[2] not in output
    assert stack.seeded.vendor_secret not in output


def test_the_collection_fails_where_the_chain_refuses(stack: Stack, tmp_path: Path) -> None:
    """A wrong secret: newman exits 1, and the token test says why (the collection's tests can fail)."""
    result, report = newman(stack, tmp_path, client_secret="not-the-secret")
    assert result.returncode == 1
    outcome = assertions(report)
    assert outcome["the identity domain answers 200"] is False
    assert outcome["refused: 401"] is True  # the unauthenticated call is refused either way


def test_the_collection_is_the_guides(tmp_path: Path) -> None:
    """Every variable the guide names is a collection variable, with a placeholder, never a real value."""
    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert set(variables) == {"token_url", "client_id", "client_secret", "scope", "endpoint", "integration",
                              "forbidden_integration", "access_token"}
    assert variables["access_token"] == "" and variables["client_secret"] == "<vendor-secret>"
    guide = (ROOT / "docs" / "setup-oci.md").read_text()
    assert "deploy/postman/oic-gateway.postman_collection.json" in guide
    for key in variables:
        if key != "access_token":
            assert f"{key}=" in guide, key
