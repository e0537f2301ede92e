"""fdk entry point of the authorizer function (``oic-authorizer``).

A thin adapter: everything is in ``authorizer/``. The authorizer is built on
the first call and kept for the container's life, so keys, verified tokens
and OIC tokens are reused by every warm call.
"""

from __future__ import annotations

import io
import os

from fdk import response

from authorizer.app import Authorizer, build_authorizer
from oic_gateway import log
from oic_gateway.errors import ConfigError
from oic_gateway.log import defer_to_event_loop, emit, get_logger, quiet_other_loggers

quiet_other_loggers()
_log = get_logger("authorizer")
defer_to_event_loop(_log)
_authorizer: Authorizer | None = None
_config_error: ConfigError | None = None
_JSON = {"Content-Type": "application/json"}


def _get_authorizer() -> Authorizer:
    global _authorizer, _config_error
    if _authorizer is None:
        if _config_error is not None:
            raise _config_error
        try:
            from authorizer.context_token import backend_factory

            _authorizer = build_authorizer(os.environ, backend_factory)
        except ConfigError as error:
            _config_error = error
            raise
    return _authorizer


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    try:
        authorizer = _get_authorizer()
    except ConfigError as error:
        emit(_log, log.ERROR, "cannot decide", call_id=ctx.CallID(), verdict="error",
             reason=error.reason, detail=str(error))
        raise
    body = authorizer.handle(data.getvalue() if data is not None else b"", ctx.CallID())
    return response.Response(ctx, response_data=body, headers=dict(_JSON))
