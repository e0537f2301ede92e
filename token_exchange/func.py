"""fdk entry point of the token-exchange function (``oic-token-exchange``),
the route's ORACLE_FUNCTIONS_BACKEND: forwards the gateway's request to OIC
with an OIC-scoped token and returns OIC's answer.

Fn builds this function from this folder alone: the image's ``/function``
holds this file and the ``oic_gateway`` core beside it, on ``PYTHONPATH``.
"""

from __future__ import annotations

import io
import json
import os
import time
from datetime import datetime

from fdk import response

from oic_gateway import log
from oic_gateway.caller import CallerVerifier
from oic_gateway.errors import ConfigError
from oic_gateway.forwarding.forwarder import BackendConfig, BackendResponse, GatewayRequest, OicForwarder, json_error
from oic_gateway.log import defer_to_event_loop, elapsed_ms, emit, get_logger, quiet_other_loggers
from oic_gateway.oic_tokens.exchanger import TokenExchanger
from oic_gateway.settings import each

quiet_other_loggers()
_log = get_logger("token_exchange")
defer_to_event_loop(_log)
_forwarder: OicForwarder | None = None
_config_error: ConfigError | None = None
DEADLINE_MARGIN_SECONDS = 0.5


def _get_forwarder() -> OicForwarder:
    global _forwarder, _config_error
    if _forwarder is None:
        if _config_error is not None:
            raise _config_error  # configuration is per container: do not re-read it per call
        try:
            # All three read in full, so one log line names every wrong key.
            config, exchanger, verifier = each(lambda: BackendConfig.from_env(os.environ),
                                               lambda: TokenExchanger.from_env(os.environ),
                                               lambda: CallerVerifier.from_env(os.environ))
            _forwarder = OicForwarder(config, exchanger, verifier)
        except ConfigError as error:
            _config_error = error
            raise
    return _forwarder


def _deadline(ctx) -> float:  # type: ignore[no-untyped-def]
    """The agent's Fn-Deadline as a monotonic deadline, minus a margin."""
    try:
        at = datetime.fromisoformat(str(ctx.Deadline()).replace("Z", "+00:00")).timestamp()
        remaining = at - time.time()
    except ValueError:
        remaining = 30.0
    return time.monotonic() + max(min(remaining, 300.0) - DEADLINE_MARGIN_SECONDS, 0.0)


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    headers = {k.lower(): v for k, v in (ctx.HTTPHeaders() or {}).items()}
    # The agent passes Content-Type as itself, not as Fn-Http-H-Content-Type.
    content_type = (ctx.Headers() or {}).get("content-type")
    if content_type and "content-type" not in headers:
        headers["content-type"] = content_type
    request = GatewayRequest(
        method=ctx.Method() or "POST",
        url=ctx.RequestURL() or "/",
        headers=headers,
        body=data.getvalue() if data is not None else b"",
    )
    try:
        result = _get_forwarder().forward(request, _deadline(ctx))
    except ConfigError as error:
        result = json_error(502, "configuration_error", str(error))
    except Exception as bug:  # an answer the gateway can show, never the exception text
        result = json_error(502, "internal_error", type(bug).__name__)
    _log_call(ctx.CallID(), request.method, result, started)
    return _respond(ctx, result)


def _log_call(call_id: str | None, method: str, result: BackendResponse, started: float) -> None:
    """One line per call. Every non-2xx answer says why: our error code and its
    detail, or OIC's own status when OIC's answer is passed through."""
    if result.error is not None:
        reason, detail = result.error, result.detail
    elif result.status >= 400:
        reason, detail = "oic_status", f"OIC answered {result.status}"
    else:
        reason, detail = "forwarded", None
    level = log.INFO if result.status < 400 else log.WARNING if result.status < 500 else log.ERROR
    emit(_log, level, "call", call_id=call_id, method=method, status=result.status, reason=reason, detail=detail,
         **result.log, ms=elapsed_ms(started))


def _respond(ctx, result: BackendResponse):  # type: ignore[no-untyped-def]
    body = result.body
    if result.error is not None:
        # Callers get a code and the call id; the reason is in the log line.
        body = json.dumps({"error": result.error, "request_id": ctx.CallID()}, separators=(",", ":")).encode()
    status = result.status
    if not ctx.Method():
        # Invoked directly (no Fn-Intent: httprequest): fdk would send any
        # status other than 502/504 as 200. A refusal must never look like success.
        status = status if status < 300 else 502 if status != 504 else 504
        return response.Response(ctx, response_data=body, headers=dict(result.headers), status_code=status)
    # fdk sends 502 and 504 as the *transport* status, which the Fn agent
    # reads as "the function failed" and replaces our JSON with its own
    # error. Send the call as 200 and carry the HTTP status in Fn-Http-Status,
    # as fdk itself does for every other code.
    carried = status in (502, 504)
    answer = response.Response(ctx, response_data=body, headers=dict(result.headers),
                               status_code=200 if carried else status)
    if carried:
        ctx.GetResponseHeaders()["fn-http-status"] = str(status)
    return answer
