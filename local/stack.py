"""The whole chain on one machine, every part real and on 127.0.0.1:

* the identity provider (Authlib) seeded with docs/setup-oci.md's apps, and the OIC stub;
* four functions under the real fdk runtime: the authorizer in the
  authorizer-context topology, the same with an access policy, the
  validate-only authorizer, and the token-exchange backend;
* three local API Gateway deployments read from ``deploy/*.json``:
  ``/ctx`` (authorizer-context), ``/fn`` (function backend) and ``/acl``
  (authorizer-context with per-integration rules: HELLO_WORLD and the SALES
  project allowed, every other integration refused). ``/ctx`` and ``/acl`` have
  one route per integration of ``deploy/integrations.json``, which their
  authorizers read too (``GATEWAY_INTEGRATIONS``).
* the function backend again with usage plans (its own port, ``/fn`` too):
  vendor A on the gold plan, vendor B on bronze with a quota of 2 calls a day.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.fnrun import ROOT, FnProcess
from local.gateway import LocalGateway
from local.seed import APIGW_AUDIENCE, APIGW_OTHER_SCOPE, APIGW_SCOPE, VENDOR_ID, Seeded, seeded_stack
from local.usage_plans import UsagePlans

CONTEXT_SPEC = ROOT / "deploy" / "apigw-authorizer-context.json"
BACKEND_SPEC = ROOT / "deploy" / "apigw-function-backend.json"
POLICY_SPEC = ROOT / "deploy" / "apigw-access-policy.json"
INTEGRATIONS = ROOT / "deploy" / "integrations.json"
# The /acl deployment's rules: the vendor may call HELLO_WORLD and the OIC 3
# project SALES (a rule naming a whole project); nothing else (not the Gen2 ORDERS).
LOCAL_ACCESS_POLICY = json.dumps({"rules": [
    {"name": "hello-world", "path": "/HELLO_WORLD/*", "scopes": [APIGW_SCOPE]},
    {"name": "sales", "path": "/project/SALES/*", "scopes": [APIGW_SCOPE]},
]})
USAGE_PLANS_SPEC = ROOT / "deploy" / "apigw-usage-plans.json"
USAGE_PLANS_EXAMPLE = ROOT / "deploy" / "usage-plans.example.json"
VENDOR_B_ID = "vendor-b-app"


@dataclass
class Stack:
    seeded: Seeded
    functions: dict[str, FnProcess] = field(default_factory=dict)
    gateways: dict[str, LocalGateway] = field(default_factory=dict)
    owns_seeded: bool = True

    @property
    def context_url(self) -> str:
        return self.gateways["ctx"].url

    @property
    def backend_url(self) -> str:
        return self.gateways["fn"].url

    @property
    def policy_url(self) -> str:
        return self.gateways["acl"].url

    @property
    def plans_url(self) -> str:
        return self.gateways["plans"].url

    def stop(self) -> None:
        for gateway in self.gateways.values():
            gateway.stop()
        for fn in self.functions.values():
            fn.stop()
        if self.owns_seeded:
            self.seeded.stop()

    def add_gateways(self, path_decoding: str, url_normalisation: str = "normalised") -> None:
        """``/ctx``, ``/fn`` and ``/acl`` deployments, named ``ctx``/``fn``/``acl``
        plus a ``-raw`` suffix for the raw decoding and a ``-verbatim`` one for
        backend URLs sent unnormalised (see local.gateway)."""
        sockets = {
            "<authorizer-context-function-ocid>": str(self.functions["authorizer-context"].socket_path),
            "<authorizer-function-ocid>": str(self.functions["authorizer"].socket_path),
            "<token-exchange-function-ocid>": str(self.functions["token-exchange"].socket_path),
        }
        rewrites = {"https://<oic-host>": self.seeded.oic.url}
        suffix = gateway_suffix(path_decoding, url_normalisation)
        variant = functools.partial(LocalGateway, url_rewrites=rewrites, path_decoding=path_decoding,
                                    url_normalisation=url_normalisation)
        for name, spec in (("ctx", CONTEXT_SPEC), ("fn", BACKEND_SPEC)):
            self.gateways[name + suffix] = variant(load_spec(spec), functions=sockets, path_prefix=f"/{name}").start()
        policy_sockets = {"<authorizer-context-function-ocid>": str(self.functions["authorizer-policy"].socket_path)}
        self.gateways["acl" + suffix] = variant(load_spec(POLICY_SPEC), functions=policy_sockets,
                                                path_prefix="/acl").start()
        # The function backend again, with usage plans, on its own port (same /fn prefix the backend strips).
        self.gateways["plans" + suffix] = variant(load_spec(USAGE_PLANS_SPEC), functions=sockets, path_prefix="/fn",
                                                  usage_plans=demo_usage_plans()).start()


def gateway_suffix(path_decoding: str, url_normalisation: str = "normalised") -> str:
    """How ``Stack.gateways`` names a variant: ``ctx``, ``ctx-raw``, ``ctx-verbatim``, ``ctx-raw-verbatim``."""
    return ("" if path_decoding == "decoded" else f"-{path_decoding}") + (
        "" if url_normalisation == "normalised" else f"-{url_normalisation}")


def start_stack(seeded: Seeded | None = None, path_decodings: tuple[str, ...] = ("decoded",),
                url_normalisations: tuple[str, ...] = ("normalised",)) -> Stack:
    """``seeded``: an identity provider and OIC stub already running (kept
    running at ``stop``); by default the stack starts its own."""
    stack = Stack(seeded or seeded_stack(), owns_seeded=seeded is None)
    seeded = stack.seeded
    try:
        authorizer_env = seeded.authorizer_env()
        # One line: `make up` writes each function's settings to an env file, one key a line.
        routes = {"GATEWAY_INTEGRATIONS": json.dumps(json.loads(INTEGRATIONS.read_text()), separators=(",", ":"))}
        stack.functions["authorizer-context"] = FnProcess(
            ROOT, {**authorizer_env, **seeded.exchange_env(), **routes}).start()
        stack.functions["authorizer-policy"] = FnProcess(
            ROOT, {**authorizer_env, **seeded.exchange_env(), **routes, "ACCESS_POLICY": LOCAL_ACCESS_POLICY}).start()
        # The validate-only authorizer leaves scopes to the route (ANY_OF -> 403).
        stack.functions["authorizer"] = FnProcess(ROOT, {**authorizer_env, "REQUIRED_SCOPES": ""}).start()
        # The backend verifies its caller itself, with the authorizer's settings.
        stack.functions["token-exchange"] = FnProcess(
            ROOT / "token_exchange",
            {**authorizer_env, **seeded.exchange_env(), "OIC_BASE_URL": seeded.oic.url, "GATEWAY_PATH_PREFIX": "/fn"},
        ).start()
        for decoding in path_decodings:
            for url_normalisation in url_normalisations:
                stack.add_gateways(decoding, url_normalisation)
    except BaseException:
        stack.stop()
        raise
    return stack


def demo_usage_plans() -> UsagePlans:
    """The shipped example plans, vendor A (the seed's vendor app) on gold and
    vendor B on bronze, with bronze's quota cut to 2 calls a day so the demo reaches it."""
    text = (USAGE_PLANS_EXAMPLE.read_text().replace("<vendor-a-client-id>", VENDOR_ID)
            .replace("<vendor-b-client-id>", VENDOR_B_ID))
    example = json.loads(text)
    bronze = example["usagePlans"]["<bronze-usage-plan-ocid>"]["entitlements"][0]
    bronze["quota"]["value"] = 2
    bronze["rateLimit"]["value"] = 20  # so the quota, not the rate, is what the demo reaches
    return UsagePlans(example["usagePlans"], example["subscribers"])


def load_spec(path: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


# `make up` writes its run files here (LOCAL_RUN_DIR moves them, e.g. for tests).
RUN_DIR = Path(os.environ.get("LOCAL_RUN_DIR") or ROOT / ".run")


def write_run_files(stack: Stack, run_dir: Path = RUN_DIR) -> dict[str, Path]:
    """What `make up` leaves for the commands run beside it: each function's
    settings as an env file (for `make invoke`) and how to reach the identity
    provider (for `make mint`). Removed again when the stack stops."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    seeded = stack.seeded
    files = {
        "authorizer": run_dir / "authorizer.env",
        "token-exchange": run_dir / "token-exchange.env",
        "stack": run_dir / "stack.json",
    }
    authorizer = stack.functions["authorizer-context"].env
    # docs/setup-oci.md's deployment prefix, as in deploy/sample-token-exchange-input.json.
    exchange = {**seeded.authorizer_env(), **stack.functions["token-exchange"].env, "GATEWAY_PATH_PREFIX": "/oic"}
    for path, settings, what in ((files["authorizer"], authorizer, "the authorizer, authorizer-context topology"),
                                 (files["token-exchange"], exchange, "the token-exchange backend")):
        lines = [f"# {what}: written by `make up`, valid while it runs"]
        lines += [f"{key}={value}" for key, value in settings.items()]
        _write_private(path, "\n".join(lines) + "\n")
    _write_private(files["stack"], json.dumps({
        "idp": seeded.idp.url, "client_id": VENDOR_ID, "client_secret": seeded.vendor_secret,
        "audience": APIGW_AUDIENCE, "scope": APIGW_SCOPE, "other_scope": APIGW_OTHER_SCOPE,
        "gateways": {name: gateway.url for name, gateway in stack.gateways.items()},
    }, indent=2))
    return files


def remove_run_files(files: dict[str, Path]) -> None:
    for path in files.values():
        path.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)
