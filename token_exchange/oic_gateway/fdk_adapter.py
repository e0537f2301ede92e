"""What both fdk entry points share: the part built once per container, the
agent's deadline, logging set-up, and the answer fdk sends.

The only core module that imports fdk (the entry points' contract says so).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fdk import response

from oic_gateway import log
from oic_gateway.errors import ConfigError, GatewayError
from oic_gateway.log import StructuredLogger, defer_to_event_loop, elapsed_ms, emit, get_logger, quiet_other_loggers

if TYPE_CHECKING:  # the authorizer imports this module too: requests is imported only by the backend's calls
    from oic_gateway.forwarding.forwarder import BackendResponse, GatewayRequest, OicForwarder

T = TypeVar("T")
DEADLINE_MARGIN_SECONDS = 0.5


def function_logger(name: str) -> StructuredLogger:
    """The function's logger, with other libraries quieted and writes deferred to fdk's loop."""
    quiet_other_loggers()
    logger = get_logger(name)
    defer_to_event_loop(logger)
    return logger


class PerContainer(Generic[T]):
    """Built on the first call and kept for the container's life. A
    ``ConfigError`` is remembered: configuration is per container, so it is
    not re-read per call, and every call raises the same error."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: T | None = None
        self._config_error: ConfigError | None = None

    def get(self) -> T:
        if self._built is None:
            if self._config_error is not None:
                raise self._config_error
            try:
                self._built = self._build()
            except ConfigError as error:
                self._config_error = error
                raise
        return self._built


def monotonic_deadline(ctx: Any, margin: float = DEADLINE_MARGIN_SECONDS) -> float:
    """The agent's Fn-Deadline as a monotonic deadline, minus a margin."""
    try:
        at = datetime.fromisoformat(str(ctx.Deadline()).replace("Z", "+00:00")).timestamp()
        remaining = at - time.time()
    except ValueError:
        remaining = 30.0
    return time.monotonic() + max(min(remaining, 300.0) - margin, 0.0)


def answer(ctx: Any, body: bytes, headers: Mapping[str, str], status: int = 200) -> Any:
    """fdk's response for an HTTP status.

    Invoked directly (no Fn-Intent: httprequest, so no method), fdk would send
    any status other than 502/504 as 200: a refusal must never look like
    success, so it is sent as 502 (504 stays). Through the gateway, fdk sends
    502 and 504 as the *transport* status, which the Fn agent reads as "the
    function failed" and replaces our JSON with its own error: those are sent
    as 200 with the HTTP status in Fn-Http-Status, as fdk itself does for
    every other code."""
    if not ctx.Method():
        status = status if status < 300 else 502 if status != 504 else 504
        return response.Response(ctx, response_data=body, headers=dict(headers), status_code=status)
    carried = status in (502, 504)
    sent = response.Response(ctx, response_data=body, headers=dict(headers), status_code=200 if carried else status)
    if carried:
        ctx.GetResponseHeaders()["fn-http-status"] = str(status)
    return sent


def gateway_request(ctx: Any, data: Any) -> GatewayRequest:
    """The gateway's request as the backend function receives it."""
    from oic_gateway.forwarding.forwarder import GatewayRequest

    headers: dict[str, str | list[str]] = {k.lower(): v for k, v in (ctx.HTTPHeaders() or {}).items()}
    # The agent passes Content-Type as itself, not as Fn-Http-H-Content-Type.
    content_type = (ctx.Headers() or {}).get("content-type")
    if content_type and "content-type" not in headers:
        headers["content-type"] = content_type
    return GatewayRequest(
        method=ctx.Method() or "POST",
        url=ctx.RequestURL() or "/",
        headers=headers,
        body=data.getvalue() if data is not None else b"",
    )


def forward_call(ctx: Any, data: Any, forwarder: PerContainer[OicForwarder], logger: StructuredLogger) -> Any:
    """One backend call: forward, log one line, answer. Never raises."""
    from oic_gateway.forwarding.forwarder import error_answer

    started = time.perf_counter()
    request = gateway_request(ctx, data)
    try:
        result = forwarder.get().forward(request, monotonic_deadline(ctx))
    except Exception as error:  # the table decides; a defect's log names its type, never its text
        result = error_answer(error, str(error) if isinstance(error, GatewayError) else type(error).__name__)
    _log_call(logger, ctx.CallID(), request.method, result, started)
    body = result.body
    if result.error is not None:
        # Callers get a code and the call id; the reason is in the log line.
        body = json.dumps({"error": result.error, "request_id": ctx.CallID()}, separators=(",", ":")).encode()
    return answer(ctx, body, result.headers, result.status)


def _log_call(logger: StructuredLogger, call_id: str | None, method: str, result: BackendResponse,
              started: float) -> None:
    """One line per call. Every non-2xx answer says why: our error code and its
    detail, or OIC's own status when OIC's answer is passed through."""
    if result.error is not None:
        reason, detail = result.error, result.detail
    elif result.status >= 400:
        reason, detail = "oic_status", f"OIC answered {result.status}"
    else:
        reason, detail = "forwarded", None
    level = log.INFO if result.status < 400 else log.WARNING if result.status < 500 else log.ERROR
    emit(logger, level, "call", call_id=call_id, method=method, status=result.status, reason=reason, detail=detail,
         **result.log, ms=elapsed_ms(started))
