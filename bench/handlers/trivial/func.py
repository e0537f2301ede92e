"""Baseline: the cheapest fdk handler there is, returning a constant answer."""

import io

from fdk import response

_BODY = b'{"active":true,"principal":"x","scope":[],"expiresAt":"2099-01-01T00:00:00Z","context":{}}'


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    return response.Response(ctx, response_data=_BODY, headers={"Content-Type": "application/json"})
