"""docs/setup-oci.md's code-only commands (section C, and the provisioned-concurrency
updates), run as written with the real OCI CLI against a loopback stand-in for
the Functions and Object Storage control planes.

The commands are the page's own ```sh blocks, placeholders filled in, run by
bash; only ``oci`` is a shell function that adds the global options pointing
the real CLI (oci-cli 3.95.1, ``requirements-oci-cli.txt``, installed
hash-checked into ``<this venv>/oci-cli`` on first use, the pins this venv lacks only) at a throwaway API-key
configuration and at ``--endpoint http://127.0.0.1:PORT``, and ``make archive``
copies tiny stand-in archives into dist/ (the real build is
tests/function/test_archive.py's). Each request is checked against the oci SDK's
models (tests/sdk.py): path, API version, every member known and every
required one present, the archive's bytes, the handler, the runtime, memory,
timeout, and each function's settings, which must be path A's ``fn config
function`` lines for the same topology. What OCI itself does with these
requests is not tested here.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import oci.functions.models as functions_models
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from packaging.requirements import Requirement

from local.fnrun import ROOT
from local.loopback import QuietHandler, http_server
from ops.archive import lock_entries
from tests.sdk import sdk_problems
from tests.servers import record_request

pytestmark = pytest.mark.timeout(600)  # the first run installs the CLI (about a minute)

SETUP_PAGE = ROOT / "docs" / "setup-oci.md"
CLI_LOCK = ROOT / "requirements-oci-cli.txt"
CLI_VERSION = "3.95.1"
API = "/20260325"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"
USER = "ocid1.user.oc1..aaaaaaaatestuser"
RUNTIME_NAME = "fake-python-runtime"  # not ops/archive.py's guess: the page must take the name from the list
NAMESPACE = "testnamespace"
PLACEHOLDERS = {
    "<functions-compartment-ocid>": "ocid1.compartment.oc1..functions",
    "<subnet-ocid>": "ocid1.subnet.oc1..functions",
    "<runtime-name>": RUNTIME_NAME,
    "<domain>": "idcs-test.identity.oraclecloud.com",
    "<apigw-host>": "oic-gateway.example.com",
    "<oic-app-client-id>": "oic-client-id",
    "<vault-secret-ocid>": "ocid1.vaultsecret.oc1..oic",
    "<oic-primary-audience>": "0123abcd.integration.ocp.oraclecloud.com:443",
    "<oic-host>": "oic-test.integration.ocp.oraclecloud.com",
    "<bucket>": "oic-gateway-archives",
}
TOPOLOGIES = {"authorizer-context": "apigw-authorizer-context.json", "access-policy": "apigw-access-policy.json",
              "function-backend": "apigw-function-backend.json"}
FUNCTIONS = {"oic-authorizer": ROOT, "oic-token-exchange": ROOT / "token_exchange"}
TIMESTAMP = "2026-01-01T00:00:00.000Z"


# -- the page's blocks ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    lead_in: str  # the prose just before the block
    topology: str | None  # the last deployment file a lead-in of this section named
    code: str


def section(title: str) -> str:
    text = SETUP_PAGE.read_text()
    start = text.index(f"\n### {title}\n")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def sh_blocks(title: str) -> list[Block]:
    blocks, topology, last = [], None, 0
    text = section(title)
    for match in re.finditer(r"```sh\n(.*?)```", text, re.S):
        lead_in = text[last:match.start()].rsplit("```", 1)[-1]
        named = [name for name, spec in TOPOLOGIES.items() if f"deploy/{spec}" in lead_in]
        topology = named[-1] if named else topology
        blocks.append(Block(lead_in, topology, match.group(1)))
        last = match.end()
    return blocks


def one(blocks: list[Block], *needles: str) -> Block:
    found = [b for b in blocks if all(n in b.code for n in needles)]
    assert len(found) == 1, (needles, [b.code[:80] for b in found])
    return found[0]


CODE_ONLY = "C. Code-only functions (no Docker)"


def code_only_blocks() -> dict[str, Block]:
    blocks = sh_blocks(CODE_ONLY)
    configs = [b for b in blocks if "jq -n" in b.code]
    assert sorted(str(b.topology) for b in configs) == sorted(TOPOLOGIES), [b.topology for b in configs]
    return {
        "setup": one(blocks, "oci fn application create", "oci fn runtime list"),
        **{f"config:{b.topology}": b for b in configs},
        "authorizer": one(blocks, "direct-archive", "dist/oic-authorizer.zip"),
        "exchange": one(blocks, "direct-archive", "dist/oic-token-exchange.zip"),
        "object-storage": one(blocks, "archive-function object-storage"),
        "update": one(blocks, "oci fn function update archive-function"),
    }


def fill(code: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        code = code.replace(placeholder, value)
    left = set(re.findall(r"<[a-z0-9-]+>", code))
    assert not left, f"placeholders the test does not know: {left}"
    return code


# -- the CLI, its configuration, and the stand-in control plane -------------------------------


def pinned(lock: Path, name: str) -> str:
    line = lock_entries(lock).get(name)
    assert line, f"{name} is not pinned in {lock.name}"
    return line.split("==", 1)[1].split()[0]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def cli_lock_pins() -> dict[str, tuple[str, str]]:
    """Each pin of requirements-oci-cli.txt that applies here (its marker, if any, holds for this Python):
    normalised name -> (version, the requirement line with its hashes)."""
    found = {}
    for line in lock_entries(CLI_LOCK).values():  # the lock as pip reads it, continuations joined
        requirement = Requirement(line.split(" --hash")[0])
        if requirement.marker is None or requirement.marker.evaluate():
            found[_normal(requirement.name)] = (str(requirement.specifier).removeprefix("=="), line)
    return found


@pytest.fixture(scope="session")
def oci_cli() -> Path:
    """The oci executable of requirements-oci-cli.txt, in a venv of its own beside this one. That venv holds only
    the pins this venv does not already have at the very same version (oci-cli itself, its prompt and table
    libraries, the older certifi, pytz, click it caps); the rest (oci 2.189.0, cryptography, ...) it reads from this
    venv's site-packages through a .pth file, after its own. Every module the CLI imports is thus the version its
    lock pins, without a second copy of the 500 MB SDK."""
    if sys.prefix == sys.base_prefix:
        pytest.fail("run the tests with the project's venv (.venv/bin/pytest): the OCI CLI is installed beside it")
    here = {_normal(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    pins = cli_lock_pins()
    needed = {name: line for name, (version, line) in pins.items() if here.get(name) != version}
    venv = Path(sys.prefix) / "oci-cli"
    key = hashlib.sha256(CLI_LOCK.read_bytes() + json.dumps(sorted(here.items())).encode()).hexdigest()[:16]
    stamp = venv / f".installed-{key}"
    if not stamp.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        python = venv / "bin" / "python"
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        (Path(site) / "zz-project-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        requirements = venv / "requirements-needed.txt"
        requirements.write_text("".join(line + "\n" for line in needed.values()))
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--require-hashes", "-r", str(requirements)], capture_output=True, text=True, timeout=540)
        if install.returncode != 0:
            pytest.fail(f"could not install oci-cli from {CLI_LOCK.name} (needs PyPI the first time) into {venv}:\n"
                        f"{install.stderr[-3000:]}")
        stamp.touch()
    oci = venv / "bin" / "oci"
    assert oci.exists(), f"{oci} is missing: delete {venv} and run again"
    return oci


def test_the_cli_runs_every_pin_of_its_lock(oci_cli: Path) -> None:
    """What the CLI imports is its lock's version of each package, whichever venv holds it."""
    listed = subprocess.run(
        [str(oci_cli.parent / "python"), "-c",
         "import importlib.metadata as m, json; print(json.dumps([(d.metadata['Name'], d.version) "
         "for d in m.distributions()]))"], capture_output=True, text=True, check=True, timeout=60)
    first: dict[str, str] = {}
    for name, version in json.loads(listed.stdout):  # sys.path order: its own site-packages first
        first.setdefault(_normal(name), version)
    wrong = {name: (version, first.get(name)) for name, (version, _) in cli_lock_pins().items()
             if first.get(name) != version}
    assert not wrong, wrong


@pytest.fixture(scope="session")
def jq() -> str:
    found = shutil.which("jq")
    if not found:
        pytest.fail("docs/setup-oci.md's code-only settings files are written with jq: apt-get install jq "
                    "(make test installs it)")
    return found


@pytest.fixture(scope="session")
def api_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway ~/.oci/config: a new RSA key, fake tenancy and user OCIDs, the key's fingerprint."""
    folder = tmp_path_factory.mktemp("oci-config")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (folder / "key.pem").write_bytes(pem + b"OCI_API_KEY\n")  # the label `oci setup config` appends
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())  # noqa: S324 - OCI's key fingerprint
    (folder / "config").write_text(f"[DEFAULT]\nuser={USER}\nfingerprint={fingerprint}\ntenancy={TENANCY}\n"
                                   f"region=us-ashburn-1\nkey_file={folder / 'key.pem'}\n")
    for path in folder.iterdir():
        path.chmod(0o600)
    (folder / "fingerprint").write_text(fingerprint)
    return folder


@dataclass
class ControlPlane:
    """CreateApplication, ListFunctionsRuntimes, ListFunctionsRuntimeVersions, CreateFunction, UpdateFunction,
    GetNamespace, HeadObject and PutObject, answered with minimal bodies the SDK's models accept; every request
    recorded, anything else answered 404 (and recorded, so a test sees it)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        route = urlsplit(path).path
        details: dict[str, Any] = json.loads(body) if body and route.startswith(API) else {}
        if method == "POST" and route == f"{API}/applications":
            return 200, self.model("Application", {
                "id": "ocid1.fnapp.oc1..oicgateway", "compartmentId": details["compartmentId"],
                "displayName": details["displayName"], "lifecycleState": "ACTIVE",
                "subnetIds": details["subnetIds"], "shape": details.get("shape", "GENERIC_X86")}), {}
        if method == "GET" and route == f"{API}/functionsRuntimes":
            return 200, {"items": [self.model("FunctionsRuntimeSummary", {
                "id": "ocid1.fnruntime.oc1..python", "name": RUNTIME_NAME, "os": "linux", "language": "python",
                "timeDeprecated": TIMESTAMP, "timeDecommissioned": TIMESTAMP, "lifecycleState": "ACTIVE",
                "currentFunctionsRuntimeVersionId": "ocid1.fnruntimeversion.oc1..python311",
                "timeCreated": TIMESTAMP, "timeUpdated": TIMESTAMP})]}, {}
        if method == "GET" and route == f"{API}/functionsRuntimeVersions":
            return 200, {"items": [self.model("FunctionsRuntimeVersionSummary", {
                "id": "ocid1.fnruntimeversion.oc1..python311", "functionsRuntimeId": "ocid1.fnruntime.oc1..python",
                "displayName": "python 3.11 (test)", "osVersion": "9", "languageVersion": "3.11",
                "supportedArchitectures": ["GENERIC_X86"], "metadata": "{}", "lifecycleState": "ACTIVE",
                "timeCreated": TIMESTAMP, "timeUpdated": TIMESTAMP})]}, {}
        if method == "POST" and route == f"{API}/functions":
            return 200, self.function(f"ocid1.fnfunc.oc1..{details['displayName']}", details), {}
        if method == "PUT" and route.startswith(f"{API}/functions/"):
            return 200, self.function(route.rsplit("/", 1)[1], details), {}
        if method == "GET" and route in ("/n", "/n/"):
            return 200, NAMESPACE, {}
        if route.startswith(f"/n/{NAMESPACE}/b/") and "/o/" in route:
            if method == "HEAD":
                return (200, None, {"etag": "e"}) if route in self.objects else (404, None, {})
            if method == "PUT":
                self.objects[route] = body
                md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the API's checksum
                return 200, None, {"etag": "e", "opc-content-md5": md5}
        self.unknown.append(f"{method} {path}")
        return 404, {"code": "NotAuthorizedOrNotFound", "message": f"no stand-in for {method} {route}"}, {}

    def model(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.answers.append((name, body))
        return body

    def function(self, function_id: str, details: dict[str, Any]) -> dict[str, Any]:
        source = details.get("sourceDetails") or {"sourceType": "ARCHIVE"}
        shown: dict[str, Any] = {"sourceType": source["sourceType"]}
        if source["sourceType"] == "ARCHIVE":
            shown["handler"] = source.get("handler", "func.handler")
            sent = source.get("archiveSourceDetails") or {"archiveSourceType": "DIRECT_ARCHIVE"}
            shown["archiveSourceDetails"] = {k: v for k, v in sent.items() if k != "archiveFile"}
            shown["runtimeConfig"] = {"runtimeConfigType": "FUNCTION_UPDATE", "functionsRuntimeName": RUNTIME_NAME,
                                      "functionsRuntimeVersionId": "ocid1.fnruntimeversion.oc1..python311"}
        return self.model("Function", {
            "id": function_id, "displayName": details.get("displayName", function_id), "lifecycleState": "ACTIVE",
            "applicationId": details.get("applicationId", "ocid1.fnapp.oc1..oicgateway"),
            "compartmentId": PLACEHOLDERS["<functions-compartment-ocid>"], "sourceDetails": shown,
            "memoryInMBs": details.get("memoryInMBs", 256), "timeoutInSeconds": details.get("timeoutInSeconds", 30),
            "config": details.get("config", {})})

    def calls(self, method: str, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["method"] == method and urlsplit(r["path"]).path.startswith(prefix)]


@pytest.fixture
def control_plane() -> Iterator[tuple[ControlPlane, str]]:
    plane = ControlPlane()

    class Handler(QuietHandler):
        def _serve(self) -> None:
            request = record_request(self)
            plane.received.append(request)
            status, body, headers = plane.answer(self.command, self.path, request["body"])
            headers = {"opc-request-id": "test", **headers}
            if self.command == "HEAD" or body is None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_json(status, body, headers)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve  # noqa: N815

    server = http_server(Handler).start("functions-control-plane")
    yield plane, server.base_url
    server.stop()
    for name, body in plane.answers:  # the stand-in's own answers: what the real API's models would hold
        assert sdk_problems(body, name, functions_models, check_required=True) == [], name


def stand_in(function: str, build: int) -> bytes:
    """A tiny archive in the code-only layout (function/func.py, python/), different for each build."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("function/func.py", f"# {function}, build {build}\ndef handler(ctx, data=None):\n    pass\n")
        archive.writestr("python/README", "dependencies\n")
    return buffer.getvalue()


@dataclass
class Run:
    workdir: Path
    plane: ControlPlane
    variables: dict[str, str]
    stdout: str

    def archive(self, function: str, build: int) -> bytes:
        return (self.workdir / "builds" / str(build) / f"{function}.zip").read_bytes()


def run_blocks(codes: list[str], *, oci_cli: Path, jq: str, api_key: Path, control_plane: tuple[ControlPlane, str],
               tmp_path: Path, env: dict[str, str] | None = None) -> Run:
    """The blocks, placeholders filled in, as one bash script in a folder holding deploy/integrations.json and
    the stand-in archives (each `make archive` copies the next build into dist/)."""
    plane, endpoint = control_plane
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "deploy" / "integrations.json", tmp_path / "deploy")
    for build in (1, 2):
        (tmp_path / "builds" / str(build)).mkdir(parents=True)
        for function in FUNCTIONS:
            (tmp_path / "builds" / str(build) / f"{function}.zip").write_bytes(stand_in(function, build))
    (tmp_path / "dist").mkdir()
    preamble = """set -euo pipefail
oci() { "$OCI_BIN" --config-file "$OCI_TEST_CONFIG" --endpoint "$OCI_TEST_ENDPOINT" --auth api_key "$@"; }
BUILDS=0
make() { [ "$*" = archive ] || { echo "unexpected: make $*" >&2; return 1; }
         BUILDS=$((BUILDS + 1)); cp "builds/$BUILDS/"*.zip dist/; }
"""
    epilogue = "\nfor v in APP_OCID RUNTIME AUTHORIZER_OCID EXCHANGE_OCID NAMESPACE; do echo \"@$v=${!v:-}\"; done\n"
    script = preamble + "\n".join(fill(code) for code in codes) + epilogue
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{Path(jq).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
             "OCI_BIN": str(oci_cli), "OCI_TEST_CONFIG": str(api_key / "config"), "OCI_TEST_ENDPOINT": endpoint,
             **(env or {})})
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n--- requests: " + \
        "\n".join(f"{r['method']} {r['path']}" for r in plane.received)
    assert "unexpected" not in result.stderr
    assert plane.unknown == []
    for request in plane.received:  # signed with the throwaway key, the body as sent
        key_id = f'keyId="{TENANCY}/{USER}/{(api_key / "fingerprint").read_text()}"'
        assert key_id in request["headers"]["authorization"]
        if request["method"] in ("POST", "PUT") and "x-content-sha256" in request["headers"]:
            digest = base64.b64encode(hashlib.sha256(request["body"]).digest()).decode()
            assert request["headers"]["x-content-sha256"] == digest
    variables = dict(line[1:].split("=", 1) for line in result.stdout.splitlines() if line.startswith("@"))
    return Run(tmp_path, plane, variables, result.stdout)


# -- what path A configures, for the comparison -----------------------------------------------


def path_a_settings(topology: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Path A's `fn config function oic-gateway <function> KEY VALUE` lines of one topology, run by bash with an
    `fn` that records its arguments."""
    codes = [b.code for b in sh_blocks("A. The fn CLI") if b.topology == topology and "fn config function" in b.code]
    assert codes, topology
    folder = tmp_path / "path-a"
    (folder / "deploy").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "integrations.json", folder / "deploy")
    script = "set -eu\nfn() { printf '%s\\0' \"$@\" >> calls; printf '\\n' >> calls; }\n" + \
        "\n".join(fill(code) for code in codes)
    subprocess.run(["bash", "-c", script], cwd=folder, check=True, timeout=30)
    settings: dict[str, dict[str, str]] = {}
    for line in (folder / "calls").read_bytes().split(b"\0\n"):
        if line:
            verb, kind, app, function, key, value = line.decode().split("\0")
            assert (verb, kind, app) == ("config", "function", "oic-gateway")
            settings.setdefault(function, {})[key] = value
    return settings


def func_yaml(function: str, key: str) -> int:
    found = re.search(rf"^{key}: (\d+)$", (FUNCTIONS[function] / "func.yaml").read_text(), re.M)
    assert found, (function, key)
    return int(found.group(1))


# -- the tests -------------------------------------------------------------------------------


def test_the_cli_is_the_one_the_page_asks_for(oci_cli: Path) -> None:
    version = subprocess.run([str(oci_cli), "--version"], capture_output=True, text=True, check=True, timeout=60)
    assert version.stdout.strip() == CLI_VERSION == pinned(CLI_LOCK, "oci-cli")
    sdk = subprocess.run([str(oci_cli.parent / "python"), "-c", "import oci; print(oci.__version__)"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert sdk.stdout.strip() == pinned(ROOT / "requirements.txt", "oci")  # the functions' SDK, the same API
    assert f"oci-cli {CLI_VERSION} or later" in section(CODE_ONLY)
    assert f"oci-cli {CLI_VERSION} or later" in section("Provisioned concurrency (warm containers, any path)")


def test_the_sdk_walk_finds_a_wrong_function_body() -> None:
    body = {"displayName": "f", "applicationId": "a", "memoryInMBs": 256, "sourceDetails": {
        "sourceType": "ARCHIVE", "handler": "func.handler",
        "archiveSourceDetails": {"archiveSourceType": "DIRECT"},  # not a value the API knows
        "runtimeConfig": {"runtimeConfigType": "FUNCTION_UPDATE", "runtime": "python"}}}  # the old page's guess
    problems = sdk_problems(body, "CreateFunctionDetails", functions_models, check_required=True)
    assert len(problems) == 3, problems
    assert "no subtype of CreateArchiveSourceDetails" in problems[0]
    assert "runtime: unknown to CreateFunctionUpdateRuntimeConfig" in problems[1]
    assert "functionsRuntimeName: required" in problems[2]


def check_create(request: dict[str, Any], function: str, archive: bytes, app_ocid: str,
                 settings: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request["body"])
    assert sdk_problems(body, "CreateFunctionDetails", functions_models, check_required=True) == []
    assert body["displayName"] == function and body["applicationId"] == app_ocid
    assert body["memoryInMBs"] == func_yaml(function, "memory")
    assert body["timeoutInSeconds"] == func_yaml(function, "timeout")
    assert body["config"] == settings
    source = body["sourceDetails"]
    assert source["sourceType"] == "ARCHIVE" and source["handler"] == "func.handler"
    assert source["runtimeConfig"] == {"runtimeConfigType": "FUNCTION_UPDATE", "functionsRuntimeName": RUNTIME_NAME}
    if source["archiveSourceDetails"]["archiveSourceType"] == "DIRECT_ARCHIVE":
        assert base64.b64decode(source["archiveSourceDetails"]["archiveFile"], validate=True) == archive
    return body


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_code_only_deployment_per_topology(topology: str, oci_cli: Path, jq: str, api_key: Path,
                                           control_plane: tuple[ControlPlane, str], tmp_path: Path) -> None:
    """Setup, one topology's settings files, the direct-upload creates (the token exchange in the function
    backend only), then in the function backend the update after a code change and a settings change."""
    blocks = code_only_blocks()
    backend = topology == "function-backend"
    codes = [blocks["setup"].code, blocks[f"config:{topology}"].code, blocks["authorizer"].code]
    codes += [blocks["exchange"].code, blocks["update"].code] if backend else []
    run = run_blocks(codes, oci_cli=oci_cli, jq=jq, api_key=api_key, control_plane=control_plane, tmp_path=tmp_path)
    plane = run.plane
    expected = path_a_settings(topology, tmp_path)
    assert set(expected) == ({"oic-authorizer", "oic-token-exchange"} if backend else {"oic-authorizer"})

    (application,) = plane.calls("POST", f"{API}/applications")
    details = json.loads(application["body"])
    assert sdk_problems(details, "CreateApplicationDetails", functions_models, check_required=True) == []
    assert details == {"compartmentId": PLACEHOLDERS["<functions-compartment-ocid>"], "displayName": "oic-gateway",
                       "subnetIds": [PLACEHOLDERS["<subnet-ocid>"]], "shape": "GENERIC_X86"}
    assert run.variables["APP_OCID"] == "ocid1.fnapp.oc1..oicgateway"

    (runtimes,) = plane.calls("GET", f"{API}/functionsRuntimes")
    assert parse_qs(urlsplit(runtimes["path"]).query) == {"lifecycleState": ["ACTIVE"]}
    (versions,) = plane.calls("GET", f"{API}/functionsRuntimeVersions")
    assert parse_qs(urlsplit(versions["path"]).query) == {"functionsRuntimeName": [RUNTIME_NAME],
                                                          "lifecycleState": ["ACTIVE"]}
    assert RUNTIME_NAME in run.stdout and "3.11" in run.stdout  # the tables the reader chooses from
    assert run.variables["RUNTIME"] == RUNTIME_NAME

    creates = plane.calls("POST", f"{API}/functions")
    assert [json.loads(r["body"])["displayName"] for r in creates] == sorted(expected)
    for request in creates:
        function = json.loads(request["body"])["displayName"]
        check_create(request, function, run.archive(function, 1), run.variables["APP_OCID"], expected[function])
    assert run.variables["AUTHORIZER_OCID"] == "ocid1.fnfunc.oc1..oic-authorizer"
    assert run.variables["EXCHANGE_OCID"] == ("ocid1.fnfunc.oc1..oic-token-exchange" if backend else "")
    if not backend:
        assert plane.calls("PUT", API) == []
        return

    updates = [(urlsplit(r["path"]).path.rsplit("/", 1)[1], json.loads(r["body"])) for r in plane.calls("PUT", API)]
    for _, body in updates:
        assert sdk_problems(body, "UpdateFunctionDetails", functions_models, check_required=True) == []
    assert [function_id for function_id, _ in updates] == [
        "ocid1.fnfunc.oc1..oic-authorizer", "ocid1.fnfunc.oc1..oic-token-exchange", "ocid1.fnfunc.oc1..oic-authorizer"]
    for (_, body), function in zip(updates[:2], ("oic-authorizer", "oic-token-exchange"), strict=True):
        assert set(body) == {"sourceDetails"} and set(body["sourceDetails"]) == {"sourceType", "archiveSourceDetails"}
        archive = body["sourceDetails"]["archiveSourceDetails"]
        assert archive["archiveSourceType"] == "DIRECT_ARCHIVE"
        assert base64.b64decode(archive["archiveFile"], validate=True) == run.archive(function, 2)  # the new build
        assert run.archive(function, 2) != run.archive(function, 1)
    assert updates[2][1] == {"config": expected["oic-authorizer"], "sourceDetails": {"sourceType": "ARCHIVE"}}


def test_code_only_deployment_from_object_storage(oci_cli: Path, jq: str, api_key: Path,
                                                  control_plane: tuple[ControlPlane, str], tmp_path: Path) -> None:
    blocks = code_only_blocks()
    codes = [blocks["setup"].code, blocks["config:function-backend"].code, blocks["object-storage"].code]
    run = run_blocks(codes, oci_cli=oci_cli, jq=jq, api_key=api_key, control_plane=control_plane, tmp_path=tmp_path)
    plane = run.plane
    assert run.variables["NAMESPACE"] == NAMESPACE
    route = f"/n/{NAMESPACE}/b/{PLACEHOLDERS['<bucket>']}/o/oic-authorizer.zip"
    assert plane.objects == {route: run.archive("oic-authorizer", 1)}  # the archive's bytes, as uploaded
    (create,) = plane.calls("POST", f"{API}/functions")
    body = check_create(create, "oic-authorizer", run.archive("oic-authorizer", 1), run.variables["APP_OCID"],
                        path_a_settings("function-backend", tmp_path)["oic-authorizer"])
    assert body["sourceDetails"]["archiveSourceDetails"] == {
        "archiveSourceType": "OBJECT_STORAGE_ARCHIVE", "namespace": NAMESPACE,
        "bucketName": PLACEHOLDERS["<bucket>"], "objectName": "oic-authorizer.zip"}
    assert run.variables["AUTHORIZER_OCID"] == "ocid1.fnfunc.oc1..oic-authorizer"


def test_provisioned_concurrency_commands(oci_cli: Path, jq: str, api_key: Path,
                                          control_plane: tuple[ControlPlane, str], tmp_path: Path) -> None:
    block = one(sh_blocks("Provisioned concurrency (warm containers, any path)"), "--provisioned-concurrency")
    run = run_blocks([block.code], oci_cli=oci_cli, jq=jq, api_key=api_key, control_plane=control_plane,
                     tmp_path=tmp_path, env={"AUTHORIZER_OCID": "ocid1.fnfunc.oc1..oic-authorizer"})
    updates = run.plane.calls("PUT", f"{API}/functions/ocid1.fnfunc.oc1..oic-authorizer")
    bodies = [json.loads(r["body"]) for r in updates]
    for body in bodies:
        assert sdk_problems(body, "UpdateFunctionDetails", functions_models, check_required=True) == []
    assert bodies == [
        {"provisionedConcurrencyConfig": {"strategy": "CONSTANT", "count": 20},
         "sourceDetails": {"sourceType": "CONTAINER_IMAGE"}},
        {"provisionedConcurrencyConfig": {"strategy": "NONE"}, "sourceDetails": {"sourceType": "CONTAINER_IMAGE"}},
        {"provisionedConcurrencyConfig": {"strategy": "CONSTANT", "count": 20},
         "sourceDetails": {"sourceType": "ARCHIVE"}},
    ]


def test_the_page_names_no_runtime_and_keeps_terraform_honest() -> None:
    text = section(CODE_ONLY)
    assert "python311" not in text  # ops/archive.py's unconfirmed guess stays out of the commands
    assert "8de3c480b4bf" in text and "PRE_BUILT_FUNCTIONS" in text and "32b7fe0" not in text
