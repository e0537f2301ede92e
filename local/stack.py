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
        self.seeded.stop()


def start_stack() -> Stack:
    seeded = seeded_stack()
    stack = Stack(seeded)
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
        sockets = {
            "<authorizer-context-function-ocid>": str(stack.functions["authorizer-context"].socket_path),
            "<authorizer-function-ocid>": str(stack.functions["authorizer"].socket_path),
            "<token-exchange-function-ocid>": str(stack.functions["token-exchange"].socket_path),
        }
        rewrites = {"https://<oic-host>": seeded.oic.url}
        stack.gateways["ctx"] = LocalGateway(load_spec(CONTEXT_SPEC), functions=sockets, path_prefix="/ctx",
                                             url_rewrites=rewrites).start()
        stack.gateways["fn"] = LocalGateway(load_spec(BACKEND_SPEC), functions=sockets, path_prefix="/fn",
                                            url_rewrites=rewrites).start()
    except BaseException:
        stack.stop()
        raise
    return stack


def load_spec(path: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec
