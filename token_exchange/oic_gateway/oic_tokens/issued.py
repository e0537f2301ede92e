"""What the token endpoint issued, as the caches hold it. Pure: the caches
import this, not the HTTP client."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

MAX_RETRY_AFTER = 300.0  # a longer Retry-After is obeyed for this long, then asked again


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    token_type: str
    expires_at: float  # wall-clock seconds
    issued_at: float

    def __repr__(self) -> str:  # never print the token
        return f"IssuedToken(type={self.token_type}, expires_at={self.expires_at:.0f}, sha256={self.fingerprint})"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.access_token.encode()).hexdigest()[:12]


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims WITHOUT verifying it: only for display (doctor) or to
    shorten a cache lifetime, never to decide access. Empty if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
