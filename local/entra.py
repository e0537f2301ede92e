"""A second local issuer of a different shape: Microsoft Entra ID-like tokens
(v2.0: ``oid``, ``tid``, ``azp``, ``scp`` for delegated scopes, ``roles`` for
app roles, ``upn``), with OpenID discovery, on 127.0.0.1. It signs with its
own keys (RS256, and ES256 on request) so that tests can prove one issuer's
keys never verify another's tokens."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from local.loopback import QuietHandler, http_server

TENANT = "11111111-2222-3333-4444-555555555555"
API_AUDIENCE = "api://oic-gateway"


def _b64(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class EntraLikeIssuer:
    def __init__(self, rsa_kid: str = "entra-rsa-1", ec_kid: str = "entra-ec-1") -> None:
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.rsa_kid, self.ec_kid = rsa_kid, ec_kid
        self.requests = 0
        self.discovery_issuer: str | None = None  # set to lie about the issuer in discovery
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if self.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                    body: Any = {"issuer": outer.discovery_issuer or outer.issuer,
                                 "jwks_uri": f"{outer.base}/{TENANT}/discovery/v2.0/keys",
                                 "token_endpoint": f"{outer.base}/{TENANT}/oauth2/v2.0/token"}
                elif self.path == f"/{TENANT}/discovery/v2.0/keys":
                    body = outer.jwks()
                else:
                    self.send_body(404, b"")
                    return
                self.send_json(200, body)

        self._server = http_server(Handler)
        self.base = self._server.base_url
        self.issuer = f"{self.base}/{TENANT}/v2.0"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self._server.start("entra-like-issuer")

    def jwks(self) -> dict[str, Any]:
        numbers = self.rsa_key.public_key().public_numbers()
        point = self.ec_key.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "use": "sig", "kid": self.rsa_kid, "n": _b64(numbers.n), "e": _b64(numbers.e)},
            {"kty": "EC", "use": "sig", "kid": self.ec_kid, "crv": "P-256", "x": _b64(point.x, 32),
             "y": _b64(point.y, 32)},
        ]}

    def mint(self, *, app: bool = False, alg: str = "RS256", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": API_AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600,
            "tid": TENANT, "oid": "9f3c2b1a-0000-4000-8000-000000000001", "sub": "pairwise-subject-1",
            "azp": "vendor-entra-app", "ver": "2.0", "uti": uuid.uuid4().hex,
        }
        if app:
            claims.update(roles=["OIC.Invoke.All"], oid="9f3c2b1a-0000-4000-8000-00000000a99")
        else:
            claims.update(scp="OIC.Invoke User.Read", upn="alice@example.com", preferred_username="alice@example.com")
        claims.update(overrides)
        if alg == "ES256":
            return jwt.encode(claims, self.ec_key, algorithm="ES256", headers={"kid": self.ec_kid, "typ": "JWT"})
        return jwt.encode(claims, self.rsa_key, algorithm=alg, headers={"kid": self.rsa_kid, "typ": "JWT"})

    def stop(self) -> None:
        self._server.stop()
