"""client_secret_basic (RFC 6749 section 2.3.1), the one way every client in
both functions authenticates with a secret. Light on purpose: the authorizer
uses it without importing the OAuth client (and ``requests``)."""

from __future__ import annotations

import base64
from urllib.parse import quote


def basic_authorization(client_id: str, secret: str) -> str:
    """The Authorization header value. Both parts are form-encoded before
    Base64, as the RFC says (a secret may hold ':' or non-ASCII)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")
