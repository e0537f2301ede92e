"""The whole chain on one machine, every part real and on 127.0.0.1:

* the identity provider (Authlib) seeded with the README's apps, and the OIC stub;
* three functions under the real fdk runtime: the authorizer in the
  authorizer-context topology, the validate-only authorizer, and the
  token-exchange backend;
* two local API Gateway deployments read from ``deploy/*.json``:
  ``/ctx`` (authorizer-context) and ``/fn`` (function backend).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local.fnrun import ROOT, FnProcess
from local.gateway import LocalGateway
from local.seed import Seeded, seeded_stack

CONTEXT_SPEC = ROOT / "deploy" / "apigw-authorizer-context.json"
BACKEND_SPEC = ROOT / "deploy" / "apigw-function-backend.json"


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

    def stop(self) -> None:
        for gateway in self.gateways.values():
            gateway.stop()
        for fn in self.functions.values():
            fn.stop()
        if self.owns_seeded:
            self.seeded.stop()

    def add_gateways(self, path_decoding: str) -> None:
        """``/ctx`` and ``/fn`` deployments, named ``ctx``/``fn`` plus a
        ``-raw`` suffix for the raw decoding (see local.gateway)."""
        sockets = {
            "<authorizer-context-function-ocid>": str(self.functions["authorizer-context"].socket_path),
            "<authorizer-function-ocid>": str(self.functions["authorizer"].socket_path),
            "<token-exchange-function-ocid>": str(self.functions["token-exchange"].socket_path),
        }
        rewrites = {"https://<oic-host>": self.seeded.oic.url}
        suffix = "" if path_decoding == "decoded" else f"-{path_decoding}"
        for name, spec in (("ctx", CONTEXT_SPEC), ("fn", BACKEND_SPEC)):
            self.gateways[name + suffix] = LocalGateway(load_spec(spec), functions=sockets, path_prefix=f"/{name}",
                                                        url_rewrites=rewrites, path_decoding=path_decoding).start()


def start_stack(seeded: Seeded | None = None, path_decodings: tuple[str, ...] = ("decoded",)) -> Stack:
    """``seeded``: an identity provider and OIC stub already running (kept
    running at ``stop``); by default the stack starts its own."""
    stack = Stack(seeded or seeded_stack(), owns_seeded=seeded is None)
    seeded = stack.seeded
    try:
        authorizer_env = seeded.authorizer_env()
        stack.functions["authorizer-context"] = FnProcess(
            ROOT, {**authorizer_env, **seeded.exchange_env()}).start()
        # The validate-only authorizer leaves scopes to the route (ANY_OF -> 403).
        stack.functions["authorizer"] = FnProcess(ROOT, {**authorizer_env, "REQUIRED_SCOPES": ""}).start()
        # The backend verifies its caller itself, with the authorizer's settings.
        stack.functions["token-exchange"] = FnProcess(
            ROOT / "token_exchange",
            {**authorizer_env, **seeded.exchange_env(), "OIC_BASE_URL": seeded.oic.url, "GATEWAY_PATH_PREFIX": "/fn"},
        ).start()
        for decoding in path_decodings:
            stack.add_gateways(decoding)
    except BaseException:
        stack.stop()
        raise
    return stack


def load_spec(path: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec
