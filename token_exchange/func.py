"""fdk entry point of the token-exchange function (``oic-token-exchange``),
the route's ORACLE_FUNCTIONS_BACKEND: forwards the gateway's request to OIC
with an OIC-scoped token and returns OIC's answer.

Fn builds this function from this folder alone: the image's ``/function``
holds this file and the ``oic_gateway`` core beside it, on ``PYTHONPATH``.
"""

from __future__ import annotations

import io
import os

from oic_gateway.caller import CallerVerifier
from oic_gateway.fdk_adapter import PerContainer, forward_call, function_logger
from oic_gateway.forwarding.forwarder import BackendConfig, OicForwarder
from oic_gateway.oic_tokens.exchanger import TokenExchanger
from oic_gateway.settings import each

_log = function_logger("token_exchange")


def _build() -> OicForwarder:
    # All three read in full, so one log line names every wrong key.
    config, exchanger, verifier = each(lambda: BackendConfig.from_env(os.environ),
                                       lambda: TokenExchanger.from_env(os.environ),
                                       lambda: CallerVerifier.from_env(os.environ))
    return OicForwarder(config, exchanger, verifier)


_forwarder = PerContainer(_build)


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    return forward_call(ctx, data, _forwarder, _log)
