"""Wiring of the authorizer-context topology: when ``OIC_CLIENT_ID`` is set,
the authorizer obtains the OIC token itself (``token_exchange`` package) and
returns it as ``context.back_end_token``."""

from __future__ import annotations

from collections.abc import Mapping

from .app import BackendTokenProvider


def backend_factory(env: Mapping[str, str]) -> BackendTokenProvider | None:
    if not env.get("OIC_CLIENT_ID", "").strip():
        return None
    # Imported only when configured: requests and the OAuth client are not
    # needed by a validate-only authorizer, and their import costs cold start.
    from .context_exchange import build_backend_provider

    return build_backend_provider(env)
