"""fdk entry point of the authorizer function (``oic-authorizer``).

A thin adapter: everything is in ``authorizer/``. The authorizer is built on
the first call and kept for the container's life, so keys, verified tokens
and OIC tokens are reused by every warm call.
"""

from __future__ import annotations

import io
import os

from authorizer.app import Authorizer, build_authorizer
from oic_gateway import log
from oic_gateway.errors import ConfigError
from oic_gateway.fdk_adapter import PerContainer, answer, function_logger, monotonic_deadline
from oic_gateway.log import emit

_log = function_logger("authorizer")
_JSON = {"Content-Type": "application/json"}


def _build() -> Authorizer:
    from authorizer.context_token import backend_factory

    return build_authorizer(os.environ, backend_factory)


_authorizer = PerContainer(_build)


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    try:
        authorizer = _authorizer.get()
    except ConfigError as error:
        emit(_log, log.ERROR, "cannot decide", call_id=ctx.CallID(), verdict="error",
             reason=error.reason, detail=str(error))
        raise
    body = authorizer.handle(data.getvalue() if data is not None else b"", ctx.CallID(), monotonic_deadline(ctx))
    return answer(ctx, body, _JSON)
